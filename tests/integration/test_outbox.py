"""The transactional outbox: decisions and their messages commit together, leave in order.

Runs on SQLite and PostgreSQL (``container`` fixture).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from tracebridge.bootstrap import Container
from tracebridge.dispatch import outbox as outbox_store
from tracebridge.dispatch.dispatcher import Dispatcher, RetryPolicy
from tracebridge.dispatch.outbound import Delivery, OutboundMessage
from tracebridge.domain.events import CanonicalEvent, EventKind, LotRef, Source
from tracebridge.errors import IllegalTransition, NotFound
from tracebridge.quality.service import QualityService
from tracebridge.store import projections
from tracebridge.store.event_log import StoredEvent
from tracebridge.store.tables import event, lot, outbox

GTIN = "09506000134352"
START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def app(container: Container) -> Container:
    return container


def receive(app: Container, *lots: str, system: str = "erp") -> None:
    app.ingest.append_events(
        CanonicalEvent(
            kind=EventKind.RECEIVED, event_time=START, event_time_zone_offset="+08:00",
            lots=(LotRef(gtin=GTIN, lot=name, quantity=10, uom="EA"),),
            source=Source(system=system, record_id=f"MIGO-{name}"),
        )
        for name in lots
    )


def rows(app: Container, **where: str) -> list[Any]:
    query = select(outbox).order_by(outbox.c.target, outbox.c.gtin, outbox.c.lot,
                                    outbox.c.sequence)
    for name, value in where.items():
        query = query.where(outbox.c[name] == value)
    with app.engine.connect() as conn:
        return list(conn.execute(query))


def count_events(app: Container, kind: str) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(event.c.kind == kind)).scalar_one())


def status_of(app: Container, name: str) -> str:
    with app.engine.connect() as conn:
        return str(conn.execute(select(lot.c.status).where(lot.c.lot == name)).scalar_one())


class ScriptedOutbound:
    """A connector we own: answers with scripted outcomes, records what it was sent."""

    def __init__(self, *script: str) -> None:
        self.script = list(script)
        self.sent: list[OutboundMessage] = []

    def send(self, message: OutboundMessage) -> Delivery:
        outcome = self.script.pop(0) if self.script else "done"
        if outcome == "done":
            self.sent.append(message)
        return Delivery(outcome, f"scripted {outcome}")  # type: ignore[arg-type]

    def close(self) -> None:
        self.script.clear()


def test_hold_stores_event_and_one_message_per_target_in_target_terms(app: Container) -> None:
    receive(app, "L1")
    decision = app.quality.hold(GTIN, "L1", reason="NC-12 open", actor="u.li")
    assert (decision.status_before, decision.status_after) == ("quarantine", "hold")
    assert decision.messages == ["wms", "erp"]
    by_target = {row.target: row for row in rows(app)}
    assert by_target["wms"].payload["QA_STATUS"] == "QH"
    assert by_target["wms"].payload["LOT_NO"] == "L1"
    assert by_target["erp"].payload["VCODE"] == "H1"
    assert {row.event_seq for row in by_target.values()} == {decision.event_seq}
    assert {row.status for row in by_target.values()} == {"pending"}


def test_refused_command_writes_neither_event_nor_message(app: Container) -> None:
    receive(app, "L1")
    with pytest.raises(IllegalTransition, match="from 'quarantine' on 'hold_released'"):
        app.quality.release_hold(GTIN, "L1", reason="ok", actor="u.li")
    with pytest.raises(NotFound, match="no such lot"):
        app.quality.hold(GTIN, "NOPE", reason="x", actor="u.li")
    assert rows(app) == []
    assert count_events(app, "hold_released") == 0


def test_failing_outbox_write_rolls_back_the_decision(app: Container) -> None:
    """Same transaction: if writing the messages fails, the event is not stored either."""
    receive(app, "L1")

    def broken_after_writing(conn: Connection, stored: Sequence[StoredEvent]) -> None:
        app.forwarding(conn, stored)
        raise RuntimeError("disk full while writing the outbox")

    service = QualityService(app.engine, reactions=(broken_after_writing,))
    with pytest.raises(RuntimeError, match="disk full"):
        service.hold(GTIN, "L1", reason="r", actor="u.li")
    assert rows(app) == []
    assert count_events(app, "held") == 0
    assert status_of(app, "L1") == "quarantine"


def test_failing_event_store_writes_no_message(
    app: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same transaction, the other way: the projection update fails after the append."""
    receive(app, "L1")
    original = projections.apply

    def apply_then_fail(conn: Connection, stored: Sequence[StoredEvent]) -> None:
        original(conn, stored)
        raise RuntimeError("projection update failed")

    monkeypatch.setattr(projections, "apply", apply_then_fail)
    with pytest.raises(RuntimeError, match="projection update failed"):
        app.quality.hold(GTIN, "L1", reason="r", actor="u.li")
    monkeypatch.undo()
    assert rows(app) == [] and count_events(app, "held") == 0


def test_messages_of_a_lot_are_numbered_in_decision_order(app: Container) -> None:
    receive(app, "L1", "L2")
    app.quality.hold(GTIN, "L1", reason="r1", actor="u")
    app.quality.hold(GTIN, "L2", reason="r2", actor="u")
    app.quality.release_hold(GTIN, "L1", reason="r3", actor="u")
    app.quality.hold(GTIN, "L1", reason="r4", actor="u")
    wms_l1 = rows(app, target="wms", lot="L1")
    assert [(r.sequence, r.kind) for r in wms_l1] == [
        (1, "held"), (2, "hold_released"), (3, "held")]
    assert [r.sequence for r in rows(app, target="wms", lot="L2")] == [1]


def test_idempotency_key_is_stable_and_a_retried_request_decides_once(app: Container) -> None:
    receive(app, "L1")
    first = app.quality.hold(GTIN, "L1", reason="r", actor="u", command_id="req-42")
    again = app.quality.hold(GTIN, "L1", reason="r", actor="u", command_id="req-42")
    assert again.event_id == first.event_id and again.event_seq is None
    assert count_events(app, "held") == 1
    keys = {row.target: row.idempotency_key for row in rows(app)}
    assert keys["wms"] == outbox_store.idempotency_key("wms", first.event_id, GTIN, "L1")
    # the reaction run again over the same stored event adds nothing
    with app.engine.begin() as conn:
        stored = StoredEvent(first.event_seq or 0, _stored_event(conn, first.event_id),
                             START, 1, None)
        app.forwarding(conn, [stored])
    assert {row.target: row.idempotency_key for row in rows(app)} == keys


def _stored_event(conn: Connection, event_id: str) -> CanonicalEvent:
    body = conn.execute(select(event.c.body).where(event.c.event_id == event_id)).scalar_one()
    return CanonicalEvent.model_validate_json(body)


def test_status_change_from_erp_goes_to_the_wms_only(app: Container) -> None:
    receive(app, "L1")
    app.ingest.append_events([CanonicalEvent(
        kind=EventKind.HELD, event_time=START + timedelta(hours=1),
        event_time_zone_offset="+08:00", lots=(LotRef(gtin=GTIN, lot="L1"),),
        operator="QA01", details={"reason": "UD H1"},
        source=Source(system="erp", record_id="UD-1"))])
    assert [(r.target, r.kind, r.payload["ORIGIN_SYS"]) for r in rows(app)] == [
        ("wms", "held", "ERP")]


class Clock:
    """Dispatch time under the test's control, starting after the messages were written."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


def test_dispatch_never_sends_a_lots_next_message_before_the_previous_is_acked(
    app: Container,
) -> None:
    receive(app, "L1", "L2")
    app.quality.hold(GTIN, "L1", reason="r1", actor="u")
    app.quality.release_hold(GTIN, "L1", reason="r2", actor="u")
    app.quality.hold(GTIN, "L2", reason="r3", actor="u")
    wms = ScriptedOutbound("retry")  # the first message (L1 #1) fails once
    clock = Clock()
    dispatcher = Dispatcher(app.engine, {"wms": wms}, clock=clock,
                            retry=RetryPolicy(base_seconds=10, max_attempts=5))
    report = dispatcher.run_once()
    assert (report.sent, report.retried) == (1, 1)
    assert [(m.lot, m.sequence) for m in wms.sent] == [("L2", 1)]  # L1 #2 waits for L1 #1
    clock.now += timedelta(seconds=4)  # backoff with jitter: between 5 and 10 s
    assert dispatcher.run_once().sent == 0
    clock.now += timedelta(seconds=7)
    assert dispatcher.run_once().sent == 2
    assert [(m.lot, m.sequence) for m in wms.sent] == [("L2", 1), ("L1", 1), ("L1", 2)]
    l1 = rows(app, target="wms", lot="L1")
    assert [(r.status, r.attempts) for r in l1] == [("done", 2), ("done", 1)]
    assert "scripted retry" not in (l1[0].last_error or "")
    assert all(r.status == "pending" for r in rows(app, target="erp"))  # no ERP connector here


def test_a_dead_message_stops_its_lot_until_requeued(app: Container) -> None:
    receive(app, "L1")
    app.quality.hold(GTIN, "L1", reason="r1", actor="u")
    app.quality.release_hold(GTIN, "L1", reason="r2", actor="u")
    wms = ScriptedOutbound("dead")
    dispatcher = Dispatcher(app.engine, {"wms": wms}, clock=Clock())
    report = dispatcher.run_once()
    assert (report.sent, report.dead) == (0, 1)
    assert "scripted dead" in report.errors[0]
    with app.engine.connect() as conn:
        assert outbox_store.backlog(conn)["wms"] == {"pending": 1, "dead": 1}
    with app.engine.begin() as conn:
        assert outbox_store.requeue_dead(conn, target="wms", now=datetime.now(UTC)) == 1
    assert dispatcher.run_once().sent == 2
    assert [m.sequence for m in wms.sent] == [1, 2]


def test_gives_up_after_max_attempts(app: Container) -> None:
    receive(app, "L1")
    app.quality.hold(GTIN, "L1", reason="r1", actor="u")
    clock = Clock()
    wms = ScriptedOutbound("retry", "retry", "retry")
    dispatcher = Dispatcher(app.engine, {"wms": wms}, clock=clock,
                            retry=RetryPolicy(base_seconds=1, max_attempts=3))
    outcomes = []
    for _ in range(3):
        report = dispatcher.run_once()
        outcomes.append((report.retried, report.dead))
        clock.now += timedelta(minutes=1)
    assert outcomes == [(1, 0), (1, 0), (0, 1)]
    (row,) = rows(app, target="wms")
    assert (row.status, row.attempts) == ("dead", 3)


def test_api_hold_then_illegal_release_is_409(app: Container) -> None:
    from fastapi.testclient import TestClient

    from tracebridge.api.app import create_app

    receive(app, "L1")
    api = create_app(app)
    client = TestClient(api)
    body = {"reason": "NC-12", "actor": "u.li"}
    held = client.post(f"/lots/{GTIN}/L1/hold", json=body, headers={"Idempotency-Key": "k-1"})
    assert held.status_code == 200, held.text
    assert held.json()["status_after"] == "hold" and held.json()["messages"] == ["wms", "erp"]
    again = client.post(f"/lots/{GTIN}/L1/hold", json=body, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 200 and again.json()["event_seq"] is None
    refused = client.post(f"/lots/{GTIN}/L1/release", json=body)
    assert refused.status_code == 409
    assert refused.json()["code"] == "illegal-transition"
    assert client.post(f"/lots/{GTIN}/NOPE/hold", json=body).status_code == 404
    assert client.post(f"/lots/{GTIN}/L1/hold", json={"reason": ""}).status_code == 422
    assert len(rows(app)) == 2


def test_cli_hold_and_dispatch_once_to_files(
    sqlite_container: Container, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """The CLI path is the same on both databases: it runs once, on SQLite."""
    app = sqlite_container
    import json

    import typer
    from typer.testing import CliRunner

    from tracebridge.cli import quality as quality_cli

    receive(app, "L1")
    monkeypatch.setenv("TRACEBRIDGE_DATABASE_URL", app.settings.database_url)
    monkeypatch.setenv("TRACEBRIDGE_DATA_DIR", str(tmp_path))
    cli = typer.Typer()
    quality_cli.register(cli)
    runner = CliRunner()
    result = runner.invoke(cli, ["hold", GTIN, "L1", "--reason", "NC-12", "--actor", "u.li"])
    assert result.exit_code == 0, result.output
    assert "quarantine → hold" in result.output
    refused = runner.invoke(cli, ["release", GTIN, "L1", "--reason", "x", "--actor", "u"])
    assert refused.exit_code == 1
    sent = runner.invoke(cli, ["dispatch", "--once"])
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.output)["sent"] == 2
    (wms_file,) = (tmp_path / "outbox" / "wms").glob("*.json")
    document = json.loads(wms_file.read_text(encoding="utf-8"))
    assert document["message"]["QA_STATUS"] == "QH"
    assert document["headers"]["Idempotency-Key"] == rows(app, target="wms")[0].idempotency_key
    assert not list((tmp_path / "outbox" / "wms").glob(".*.tmp"))


def test_run_forever_delivers_new_decisions_until_stopped(app: Container, tmp_path: Any) -> None:
    import threading
    import time

    from tracebridge.dispatch.files import FileOutbound

    receive(app, "L1")
    folder = tmp_path / "wms"
    dispatcher = Dispatcher(app.engine, {"wms": FileOutbound(folder)})
    stop = threading.Event()
    worker = threading.Thread(target=dispatcher.run_forever,
                              kwargs={"idle_seconds": 0.05, "stop": stop})
    worker.start()
    try:
        app.quality.hold(GTIN, "L1", reason="r1", actor="u")  # decided while it runs
        app.quality.release_hold(GTIN, "L1", reason="r2", actor="u")
        deadline = time.monotonic() + 20
        while len(list(folder.glob("*.json"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=20)
    assert not worker.is_alive()
    names = sorted(p.name for p in folder.glob("*.json"))
    assert [name.split("_")[2] for name in names] == ["000001", "000002"]
    assert [r.status for r in rows(app, target="wms")] == ["done", "done"]
