"""``EmailOutbound``: send each alert message as a plain-text e-mail over SMTP.

The subject carries the severity and both titles so a phone's notification already says
what happened; the body names the lot, the rule and the detail. ``Message-ID`` is derived
from the outbox idempotency key, so a mail sent twice (at-least-once delivery) is
recognisably the same mail.

>>> subject_of({"severity": "critical", "title_zh": "未放行批次发货",
...             "title_en": "Unreleased lot shipped"})
'[TraceBridge CRITICAL] 未放行批次发货 / Unreleased lot shipped'

Outcomes: the server accepting the mail is done; network errors, timeouts and 4xx replies
(the server's "try again later") are retried by the dispatcher; a 5xx reply means the
server refused the mail itself, which no retry can fix, so the message is dead.
"""

from __future__ import annotations

import json
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from tracebridge.dispatch.outbound import Delivery, OutboundMessage


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to hand mail over; ``username`` empty means no login."""

    host: str
    port: int = 587
    starttls: bool = True
    username: str = ""
    password: str = ""
    timeout: float = 10.0


def subject_of(payload: dict[str, Any]) -> str:
    severity = str(payload.get("severity", "")).upper()
    return f"[TraceBridge {severity}] {payload.get('title_zh', '')} / {payload.get('title_en', '')}"


def body_of(payload: dict[str, Any]) -> str:
    gtin, lot = payload.get("gtin"), payload.get("lot")
    rule = payload.get("rule_id")
    if rule is not None and payload.get("rule_version") is not None:
        rule = f"{rule} v{payload['rule_version']}"
    lines = [
        f"{payload.get('title_zh', '')}",
        f"{payload.get('title_en', '')}",
        "",
        f"Alert:    #{payload.get('alert_id')} ({payload.get('code')})",
        f"Severity: {payload.get('severity')}",
        f"Lot:      {f'{gtin}/{lot}' if lot else '-'}",
        f"Rule:     {rule or '-'}",
        f"Event:    {payload.get('event_seq') if payload.get('event_seq') is not None else '-'}",
        f"Raised:   {payload.get('created_at')}",
        "",
        "Detail:",
        json.dumps(payload.get("detail") or {}, ensure_ascii=False, indent=2, sort_keys=True),
    ]
    return "\n".join(lines) + "\n"


class EmailOutbound:
    def __init__(self, server: SmtpServer, *, sender: str, recipients: Sequence[str]) -> None:
        if not sender or not recipients:
            raise ValueError(f"e-mail via {server.host}:{server.port}: sender {sender!r} and "
                             f"recipients {list(recipients)!r}; expected both to be set")
        self.server = server
        self.sender = sender
        self.recipients = list(recipients)

    def compose(self, message: OutboundMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = subject_of(message.payload)
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.recipients)
        mail["Message-ID"] = f"<{message.idempotency_key}@tracebridge>"
        for name, value in message.headers().items():
            mail[f"X-TraceBridge-{name.removeprefix('X-TraceBridge-')}"] = value
        mail.set_content(body_of(message.payload))
        return mail

    def send(self, message: OutboundMessage) -> Delivery:
        where = f"SMTP {self.server.host}:{self.server.port}"
        try:
            with smtplib.SMTP(self.server.host, self.server.port,
                              timeout=self.server.timeout) as smtp:
                if self.server.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.server.username:
                    smtp.login(self.server.username, self.server.password)
                refused = smtp.send_message(self.compose(message), self.sender, self.recipients)
        except smtplib.SMTPRecipientsRefused as error:
            return Delivery.dead(f"{where}: every recipient refused: {error.recipients}")
        except smtplib.SMTPResponseException as error:
            detail = f"{where}: {error.smtp_code} {error.smtp_error!r}"
            return Delivery.dead(detail) if error.smtp_code >= 500 else Delivery.retry(detail)
        except (OSError, smtplib.SMTPException) as error:
            return Delivery.retry(f"{where}: {type(error).__name__}: {error}")
        if refused:
            return Delivery.done(f"{where}: sent; refused by some recipients: {refused}")
        return Delivery.done(f"{where}: sent to {', '.join(self.recipients)}")

    def close(self) -> None:
        """Each send opens its own connection: alerts are rare, idle SMTP sessions time out."""
