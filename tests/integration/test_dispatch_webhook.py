"""Webhook delivery against a real local HTTP server: signed, retried on 500, dead after 400."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from tracebridge.bootstrap import Container
from tracebridge.dispatch.dispatcher import Dispatcher, RetryPolicy
from tracebridge.dispatch.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookOutbound,
    verify_signature,
)
from tracebridge.domain.events import CanonicalEvent, EventKind, LotRef, Source
from tracebridge.store.tables import outbox

GTIN = "09506000134352"
SECRET = b"test-only-shared-secret"


class Receiver(ThreadingHTTPServer):
    """An ERP endpoint: checks each signature, answers from a script of status codes."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[int] = []
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/usage-decision"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        signed = verify_signature(SECRET, self.headers[TIMESTAMP_HEADER], body,
                                  self.headers[SIGNATURE_HEADER])
        with self.server.lock:
            status = self.server.script.pop(0) if self.server.script else 200
            if not signed:
                status = 401
            self.server.received.append({
                "status": status, "signed": signed, "body": json.loads(body),
                "key": self.headers["Idempotency-Key"],
                "sequence": self.headers["X-TraceBridge-Sequence"]})
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"ok" if status < 300 else b"nope")

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def app(sqlite_container: Container) -> Container:
    sqlite_container.ingest.append_events([CanonicalEvent(
        kind=EventKind.RECEIVED, event_time=datetime(2026, 3, 1, tzinfo=UTC),
        event_time_zone_offset="+08:00", lots=(LotRef(gtin=GTIN, lot="L1", quantity=5),),
        source=Source(system="wms", record_id="RCV-1"))])
    return sqlite_container


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


def dispatcher(app: Container, url: str, clock: Clock, secret: bytes = SECRET) -> Dispatcher:
    return Dispatcher(app.engine, {"erp": WebhookOutbound(url, secret=secret, timeout=5)},
                      clock=clock, retry=RetryPolicy(base_seconds=1, max_attempts=5))


def erp_rows(app: Container) -> list[Any]:
    with app.engine.connect() as conn:
        return list(conn.execute(select(outbox).where(outbox.c.target == "erp")
                                 .order_by(outbox.c.sequence)))


def test_signed_payload_in_erp_terms_retried_after_500_then_done(
    app: Container, receiver: Receiver
) -> None:
    app.quality.hold(GTIN, "L1", reason="NC-3", actor="u.li")
    app.quality.release_hold(GTIN, "L1", reason="NC-3 closed", actor="u.wang")
    receiver.script = [500]
    clock = Clock()
    sender = dispatcher(app, receiver.url, clock)
    first = sender.run_once()
    assert (first.sent, first.retried) == (0, 1)
    assert "HTTP 500" in first.errors[0]
    clock.now += timedelta(seconds=2)  # past the first backoff (0.5-1 s)
    assert sender.run_once().sent == 2
    sender.close()
    assert [r["status"] for r in receiver.received] == [500, 200, 200]
    assert all(r["signed"] for r in receiver.received)
    assert [(r["body"]["VCODE"], r["sequence"]) for r in receiver.received] == [
        ("H1", "1"), ("H1", "1"), ("F1", "2")]
    assert receiver.received[0]["key"] == receiver.received[1]["key"]  # same key on retry
    assert [(r.status, r.attempts) for r in erp_rows(app)] == [("done", 2), ("done", 1)]


def test_400_is_dead_and_the_lot_waits(app: Container, receiver: Receiver) -> None:
    app.quality.hold(GTIN, "L1", reason="NC-3", actor="u.li")
    app.quality.release_hold(GTIN, "L1", reason="NC-3 closed", actor="u.wang")
    receiver.script = [400]
    sender = dispatcher(app, receiver.url, Clock())
    report = sender.run_once()
    sender.close()
    assert (report.sent, report.dead) == (0, 1)
    assert [r.status for r in erp_rows(app)] == ["dead", "pending"]
    assert "HTTP 400" in (erp_rows(app)[0].last_error or "")
    assert len(receiver.received) == 1


@pytest.mark.parametrize("status", [408, 429, 503])
def test_transient_statuses_are_retried(app: Container, receiver: Receiver, status: int) -> None:
    app.quality.hold(GTIN, "L1", reason="NC-3", actor="u.li")
    receiver.script = [status]
    sender = dispatcher(app, receiver.url, Clock())
    report = sender.run_once()
    sender.close()
    assert (report.retried, report.dead) == (1, 0)


def test_a_wrong_secret_is_refused_by_the_receiver_and_never_retried(
    app: Container, receiver: Receiver
) -> None:
    app.quality.hold(GTIN, "L1", reason="NC-3", actor="u.li")
    sender = dispatcher(app, receiver.url, Clock(), secret=b"not-the-shared-secret")
    report = sender.run_once()
    sender.close()
    assert report.dead == 1 and receiver.received[0]["signed"] is False


def test_unreachable_endpoint_is_retried(app: Container) -> None:
    app.quality.hold(GTIN, "L1", reason="NC-3", actor="u.li")
    sender = dispatcher(app, "http://127.0.0.1:9/closed", Clock())
    report = sender.run_once()
    sender.close()
    assert report.retried == 1 and "ConnectError" in report.errors[0]


def test_endpoints_pick_the_connector_by_scheme_and_refuse_unsigned_webhooks(
    tmp_path: Any,
) -> None:
    from tracebridge.dispatch.amqp import AmqpOutbound
    from tracebridge.dispatch.endpoints import DispatchSettings, build_outbound, build_outbounds
    from tracebridge.dispatch.files import FileOutbound

    amqp = build_outbound("wms", "amqp://guest:guest@127.0.0.1:5672/?exchange=wms.q", secret=None)
    assert isinstance(amqp, AmqpOutbound) and amqp.exchange == "wms.q"
    with pytest.raises(ValueError, match="has no signing secret"):
        build_outbound("erp", "https://erp.example/hook", secret=None)
    with pytest.raises(ValueError, match=r"expected '\?exchange=NAME'"):
        build_outbound("wms", "amqp://127.0.0.1/", secret=None)
    with pytest.raises(ValueError, match="expected an amqp://, http"):
        build_outbound("wms", "ftp://x/", secret=None)
    settings = DispatchSettings(endpoints={"erp": "https://erp.example/hook"},
                                secrets={"erp": "k"})
    connectors = build_outbounds(settings, ["wms", "erp"], data_dir=tmp_path)
    assert isinstance(connectors["wms"], FileOutbound)
    assert isinstance(connectors["erp"], WebhookOutbound)
    for connector in connectors.values():
        connector.close()
