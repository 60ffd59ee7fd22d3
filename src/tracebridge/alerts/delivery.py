"""Alert delivery: every raised alert becomes an outbox message per configured channel.

``raise_alert`` calls :func:`enqueue_delivery` in the transaction that stores the alert,
so the alert and the messages announcing it are committed together: a process that dies
right after the commit loses nothing, the dispatcher sends them when it next runs (with
the webhook's HMAC signature, or as an e-mail over SMTP) and retries failures with backoff.

The channels are configuration (:class:`AlertSettings`, ``TRACEBRIDGE_ALERT_*``), but
alerts are raised deep inside other services' transactions — the rules reaction raises
them in the ingest transaction. So the composition root attaches the channel names to
the engine as an execution option (:func:`with_alert_channels`) and every connection
drawn from it carries them to :func:`channels_of`. An engine without the option has no
channels: nothing is enqueued.

>>> settings = AlertSettings(smtp_host="mail.example", smtp_from="qa@example",
...                         smtp_to=["qa-lead@example"])
>>> configured_channels(settings)
('alert-email',)
>>> delivery_lot(gtin=None, lot=None)
('', 'alerts')
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Connection, Engine

from tracebridge.dispatch import outbox
from tracebridge.dispatch.email import EmailOutbound, SmtpServer
from tracebridge.dispatch.outbound import Outbound
from tracebridge.dispatch.webhook import WebhookOutbound

if TYPE_CHECKING:
    from tracebridge.alerts.inbox import NewAlert

WEBHOOK_TARGET = "alert-webhook"
EMAIL_TARGET = "alert-email"
MESSAGE_KIND = "alert"
UNLOTTED = "alerts"  # ordering key of alerts that name no lot
_OPTION = "tracebridge_alert_channels"


class AlertSettings(BaseSettings):
    """Alert channels. A webhook needs a URL and a secret; e-mail a host, sender and recipients.

    ``TRACEBRIDGE_ALERT_WEBHOOK_URL``, ``…_WEBHOOK_SECRET``, ``…_SMTP_HOST``, ``…_SMTP_PORT``
    (587), ``…_SMTP_STARTTLS`` (true), ``…_SMTP_USERNAME``/``…_SMTP_PASSWORD`` (no login when
    empty), ``…_SMTP_FROM``, ``…_SMTP_TO`` (a JSON list), ``…_SMTP_TIMEOUT`` (seconds).
    """

    model_config = SettingsConfigDict(env_prefix="TRACEBRIDGE_ALERT_", extra="ignore")

    webhook_url: str = ""
    webhook_secret: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = ""
    smtp_to: list[str] = []
    smtp_timeout: float = 10.0


def configured_channels(settings: AlertSettings) -> tuple[str, ...]:
    """The dispatch targets alerts go to: a channel counts once its address is given."""
    channels: list[str] = []
    if settings.webhook_url:
        channels.append(WEBHOOK_TARGET)
    if settings.smtp_host:
        channels.append(EMAIL_TARGET)
    return tuple(channels)


def build_alert_outbounds(settings: AlertSettings) -> dict[str, Outbound]:
    """One connector per configured channel; a half-configured channel is an error here."""
    outbounds: dict[str, Outbound] = {}
    if settings.webhook_url:
        if not settings.webhook_secret:
            raise ValueError(f"alert webhook {settings.webhook_url} has no signing secret; "
                             "expected TRACEBRIDGE_ALERT_WEBHOOK_SECRET")
        outbounds[WEBHOOK_TARGET] = WebhookOutbound(
            settings.webhook_url, secret=settings.webhook_secret.encode("utf-8"))
    if settings.smtp_host:
        server = SmtpServer(host=settings.smtp_host, port=settings.smtp_port,
                            starttls=settings.smtp_starttls, username=settings.smtp_username,
                            password=settings.smtp_password, timeout=settings.smtp_timeout)
        outbounds[EMAIL_TARGET] = EmailOutbound(server, sender=settings.smtp_from,
                                                recipients=settings.smtp_to)
    return outbounds


def with_alert_channels(engine: Engine, channels: Sequence[str]) -> Engine:
    """The same engine (same pool), whose connections raise alerts to ``channels``."""
    return engine.execution_options(**{_OPTION: tuple(channels)})


def channels_of(conn: Connection) -> tuple[str, ...]:
    return tuple(conn.get_execution_options().get(_OPTION, ()))


def delivery_lot(*, gtin: str | None, lot: str | None) -> tuple[str, str]:
    """The outbox ordering key: the alert's lot, or one shared queue for lot-less alerts."""
    return (gtin or "", lot) if lot else ("", UNLOTTED)


def alert_payload(alert_id: int, new: NewAlert, *, now: datetime) -> dict[str, Any]:
    return {
        "alert_id": alert_id, "code": new.code, "severity": new.severity,
        "title_en": new.title_en, "title_zh": new.title_zh, "gtin": new.gtin, "lot": new.lot,
        "rule_id": new.rule_id, "rule_version": new.rule_version, "event_seq": new.event_seq,
        "detail": new.detail, "created_at": now.isoformat(),
    }


def enqueue_delivery(conn: Connection, alert_id: int, new: NewAlert, *, now: datetime) -> int:
    """Queue the alert for each channel of ``conn``'s engine; returns how many were queued."""
    gtin, lot = delivery_lot(gtin=new.gtin, lot=new.lot)
    payload = alert_payload(alert_id, new, now=now)
    messages = [
        outbox.NewMessage(target=channel, kind=MESSAGE_KIND, gtin=gtin, lot=lot,
                          event_id=f"alert:{alert_id}", event_seq=new.event_seq,
                          payload=payload)
        for channel in channels_of(conn)
    ]
    return outbox.enqueue(conn, messages, now=now)
