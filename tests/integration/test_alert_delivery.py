"""Alert delivery end to end: a real local SMTP server (aiosmtpd) and a real HTTP server.

An alert raised in a transaction is queued in that transaction for every configured
channel; the dispatcher e-mails it and posts it, signed; a failed SMTP send is retried.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from tracebridge.alerts.delivery import (
    EMAIL_TARGET,
    WEBHOOK_TARGET,
    AlertSettings,
    build_alert_outbounds,
)
from tracebridge.alerts.inbox import NewAlert, raise_alert
from tracebridge.bootstrap import Container, bootstrap
from tracebridge.dispatch.dispatcher import Dispatcher, RetryPolicy
from tracebridge.dispatch.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from tracebridge.domain.events import CanonicalEvent, EventKind, LotRef, Source
from tracebridge.settings import Settings
from tracebridge.store.tables import outbox

SECRET = "test-only-alert-secret"
GTIN = "09506000134352"


def shipment_alert(lot: str | None = "L7") -> NewAlert:
    return NewAlert(
        code="unreleased-shipment", severity="critical",
        title_en="Pick or shipment of a lot that is not released",
        title_zh="未放行批次拣货或发货", gtin=GTIN if lot else None, lot=lot,
        rule_id="unreleased-shipment", rule_version=2, event_seq=None,
        detail={"source": "wms:SHP-42", "event_kind": "shipped"},
    )


class Mailbox:
    """aiosmtpd handler: refuses the first ``refuse`` mails with ``reply``, keeps the rest."""

    def __init__(self) -> None:
        self.refuse = 0
        self.reply = "451 4.3.0 mailbox busy, try again later"
        self.attempts = 0
        self.mails: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.refuse > 0:
            self.refuse -= 1
            return self.reply
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.mails.append(mail)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    handler = Mailbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


class Hooks(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HookHandler)
        self.received: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/alerts"


class _HookHandler(BaseHTTPRequestHandler):
    server: Hooks

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append({
            "signed": verify_signature(SECRET.encode(), self.headers[TIMESTAMP_HEADER], body,
                                       self.headers[SIGNATURE_HEADER]),
            "body": json.loads(body), "kind": self.headers["X-TraceBridge-Kind"]})
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    server = Hooks()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def app(database_url: str, mailbox: tuple[Mailbox, int], hooks: Hooks,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    """Bootstrapped exactly as in production, channels from TRACEBRIDGE_ALERT_* variables."""
    _, port = mailbox
    for name, value in {"WEBHOOK_URL": hooks.url, "WEBHOOK_SECRET": SECRET,
                        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port),
                        "SMTP_STARTTLS": "false", "SMTP_FROM": "tracebridge@plant.example",
                        "SMTP_TO": '["qa-lead@plant.example", "qa-night@plant.example"]'
                        }.items():
        monkeypatch.setenv(f"TRACEBRIDGE_ALERT_{name}", value)
    container = bootstrap(Settings(database_url=database_url, rules_enabled=False))
    try:
        yield container
    finally:
        container.close()


def alert_rows(app: Container) -> list[Any]:
    with app.engine.connect() as conn:
        return list(conn.execute(select(outbox).where(outbox.c.kind == "alert")
                                 .order_by(outbox.c.target)))


def test_raised_alert_arrives_by_email_and_signed_webhook(
    app: Container, mailbox: tuple[Mailbox, int], hooks: Hooks
) -> None:
    with app.engine.begin() as conn:
        alert_id = raise_alert(conn, shipment_alert(), now=datetime.now(UTC), actor="rule")
    assert [(r.target, r.gtin, r.lot, r.status) for r in alert_rows(app)] == [
        (EMAIL_TARGET, GTIN, "L7", "pending"), (WEBHOOK_TARGET, GTIN, "L7", "pending")]

    sender = app.new_dispatcher()
    report = sender.run_once()
    sender.close()

    assert report.by_target == {EMAIL_TARGET: 1, WEBHOOK_TARGET: 1}, report.errors
    box, _ = mailbox
    [mail] = box.mails
    assert mail["Subject"] == ("[TraceBridge CRITICAL] 未放行批次拣货或发货 / "
                               "Pick or shipment of a lot that is not released")
    assert box.envelopes == [("tracebridge@plant.example",
                              ["qa-lead@plant.example", "qa-night@plant.example"])]
    body = mail.get_content()
    assert f"Lot:      {GTIN}/L7" in body
    assert "Rule:     unreleased-shipment v2" in body
    assert '"source": "wms:SHP-42"' in body
    assert f"#{alert_id} (unreleased-shipment)" in body

    [hook] = hooks.received
    assert hook["signed"] and hook["kind"] == "alert"
    assert (hook["body"]["alert_id"], hook["body"]["severity"], hook["body"]["lot"]) == (
        alert_id, "critical", "L7")
    assert hook["body"]["title_zh"] == "未放行批次拣货或发货"
    assert {r.status for r in alert_rows(app)} == {"done"}


def test_alert_rolled_back_with_its_transaction_is_never_sent(app: Container) -> None:
    class Abort(Exception):
        pass

    with pytest.raises(Abort), app.engine.begin() as conn:
        raise_alert(conn, shipment_alert(), now=datetime.now(UTC))
        raise Abort
    assert alert_rows(app) == []


def test_failed_smtp_send_is_retried_then_delivered(
    app: Container, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    box.refuse = 1
    with app.engine.begin() as conn:
        raise_alert(conn, shipment_alert(lot=None), now=datetime.now(UTC))
    settings = AlertSettings(webhook_url="", smtp_host="127.0.0.1", smtp_port=port,
                             smtp_starttls=False, smtp_from="tracebridge@plant.example",
                             smtp_to=["qa-lead@plant.example"], smtp_timeout=5)
    now = [datetime.now(UTC) + timedelta(seconds=1)]
    sender = Dispatcher(app.engine, build_alert_outbounds(settings), clock=lambda: now[0],
                        retry=RetryPolicy(base_seconds=1, max_attempts=5))

    first = sender.run_once()
    assert (first.sent, first.retried) == (0, 1)
    assert "451" in first.errors[0]
    [email_row] = [r for r in alert_rows(app) if r.target == EMAIL_TARGET]
    assert (email_row.status, email_row.attempts, email_row.lot) == ("pending", 1, "alerts")

    now[0] += timedelta(seconds=2)  # past the first backoff (0.5-1 s)
    second = sender.run_once()
    sender.close()
    assert second.by_target == {EMAIL_TARGET: 1}
    assert box.attempts == 2 and len(box.mails) == 1
    assert "Lot:      -" in box.mails[0].get_content()


def test_mail_refused_with_5xx_is_dead_not_retried(
    app: Container, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    box.refuse, box.reply = 1, "550 5.7.1 message content rejected"
    with app.engine.begin() as conn:
        raise_alert(conn, shipment_alert(), now=datetime.now(UTC))
    settings = AlertSettings(webhook_url="", smtp_host="127.0.0.1", smtp_port=port,
                             smtp_starttls=False, smtp_from="tracebridge@plant.example",
                             smtp_to=["qa-lead@plant.example"], smtp_timeout=5)
    sender = Dispatcher(app.engine, build_alert_outbounds(settings))
    report = sender.run_once()
    sender.close()
    assert (report.sent, report.dead) == (0, 1)
    [email_row] = [r for r in alert_rows(app) if r.target == EMAIL_TARGET]
    assert email_row.status == "dead" and "550" in (email_row.last_error or "")


def test_alert_a_rule_raises_during_ingest_is_queued_and_emailed(
    app: Container, mailbox: tuple[Mailbox, int]
) -> None:
    rules = bootstrap(Settings(database_url=str(app.engine.url.render_as_string(False)),
                               rules_enabled=True), migrate=False)
    try:
        at = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
        produced = LotRef(gtin=GTIN, lot="F1", quantity=100, uom="EA", expiry="2029-01-01")
        rules.ingest.append_events([
            CanonicalEvent(kind=EventKind.PRODUCED, event_time=at, lots=(produced,),
                           event_time_zone_offset="+08:00", work_order="WO-F1",
                           source=Source(system="erp", record_id="prod-F1")),
            CanonicalEvent(kind=EventKind.SHIPPED, event_time=at + timedelta(hours=1),
                           event_time_zone_offset="+08:00", destination_party="C1",
                           lots=(LotRef(gtin=GTIN, lot="F1", quantity=10, uom="EA"),),
                           source=Source(system="wms", record_id="ship-F1")),
        ])
        queued = [r for r in alert_rows(rules) if r.payload["code"] == "unreleased-shipment"]
        assert [(r.target, r.lot, r.payload["severity"]) for r in queued] == [
            (EMAIL_TARGET, "F1", "critical"), (WEBHOOK_TARGET, "F1", "critical")]
        raised = len(alert_rows(rules)) // 2
        sender = rules.new_dispatcher()
        sender.run_once()
        sender.close()
    finally:
        rules.close()
    box, _ = mailbox
    assert len(box.mails) == raised  # every alert the rules raised, each mailed once
    assert ("[TraceBridge CRITICAL] 未放行批次拣货或发货 / Pick or shipment of a lot that is "
            "not released") in [m["Subject"] for m in box.mails]


def test_no_channel_configured_enqueues_nothing(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("WEBHOOK_URL", "SMTP_HOST"):
        monkeypatch.delenv(f"TRACEBRIDGE_ALERT_{name}", raising=False)
    container = bootstrap(Settings(database_url=sqlite_url, rules_enabled=False))
    try:
        with container.engine.begin() as conn:
            raise_alert(conn, shipment_alert(), now=datetime.now(UTC))
        assert alert_rows(container) == []
        assert container.alerts.counts() == {"open": 1}
    finally:
        container.close()
