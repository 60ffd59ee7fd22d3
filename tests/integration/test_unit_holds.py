"""Holding single units (serials) of a lot: the units are blocked, the lot's status is not.

Runs on SQLite and PostgreSQL (``container``), through the quality service, the CLI and the
API, like a hold of a whole lot.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from tracebridge.api.app import create_app
from tracebridge.bootstrap import Container
from tracebridge.cli.main import app as cli
from tracebridge.domain.commands import HoldLot, ReleaseLot
from tracebridge.domain.events import CanonicalEvent, EventKind, LotRef, Source
from tracebridge.errors import IllegalTransition
from tracebridge.store import tables as t
from tracebridge.store.rebuild import rebuild

GTIN = "06901234010015"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def app(container: Container) -> Container:
    """A released lot F1 of four serialised units."""
    unit = LotRef(gtin=GTIN, lot="F1", quantity=4, uom="EA", expiry="2029-01-01",
                  serials=("S1", "S2", "S3", "S4"))
    container.ingest.append_events([
        CanonicalEvent(kind=EventKind.PRODUCED, event_time=T0, event_time_zone_offset="+08:00",
                       lots=(unit,), work_order="WO-1", biz_location="FG-01",
                       source=Source(system="erp", record_id="P-1")),
        CanonicalEvent(kind=EventKind.RELEASED, event_time=T0.replace(hour=2),
                       event_time_zone_offset="+08:00", lots=(LotRef(gtin=GTIN, lot="F1"),),
                       source=Source(system="erp", record_id="R-1")),
    ])
    return container


def units(app: Container) -> dict[str, tuple[str, bool]]:
    with app.engine.connect() as conn:
        rows = conn.execute(select(t.serial.c.serial, t.serial.c.status, t.serial.c.on_hold)
                            .where(t.serial.c.gtin == GTIN))
        return {serial: (status, bool(on_hold)) for serial, status, on_hold in rows}


def lot_status(app: Container) -> str:
    with app.engine.connect() as conn:
        return str(conn.execute(select(t.lot.c.status).where(t.lot.c.lot == "F1")).scalar_one())


def test_holding_units_blocks_them_and_leaves_the_lot_released(app: Container) -> None:
    decision = app.quality.hold(GTIN, "F1", reason="complaint CMP-7", actor="qa.li",
                                serials=["S1", "S2"])
    assert (decision.status_before, decision.status_after) == ("released", "released")
    assert decision.serials == ["S1", "S2"] and decision.event_kind == "held"
    assert lot_status(app) == "released"
    assert units(app) == {"S1": ("produced", True), "S2": ("produced", True),
                          "S3": ("produced", False), "S4": ("produced", False)}
    with app.engine.connect() as conn:
        payloads = dict(conn.execute(select(t.outbox.c.target, t.outbox.c.payload)
                                     .where(t.outbox.c.event_seq == decision.event_seq)).all())
    wms = payloads["wms"] if isinstance(payloads["wms"], dict) else json.loads(payloads["wms"])
    assert (wms["MSG_TYPE"], wms["LOT_NO"], wms["SERIAL_NOS"]) == ("HOLD", "F1", "S1,S2")


def test_a_unit_hold_is_refused_twice_for_strangers_and_lifted_unit_by_unit(
    app: Container,
) -> None:
    app.quality.hold(GTIN, "F1", reason="r", actor="qa.li", serials=["S1", "S2"])
    with pytest.raises(IllegalTransition, match="S1 already on hold"):
        app.quality.hold(GTIN, "F1", reason="r", actor="qa.li", serials=["S1"])
    with pytest.raises(IllegalTransition, match="S9 not produced or received in this lot"):
        app.quality.hold(GTIN, "F1", reason="r", actor="qa.li", serials=["S9"])
    with pytest.raises(IllegalTransition, match="S3 not on hold"):
        app.quality.release_hold(GTIN, "F1", reason="ok", actor="qa.wu", serials=["S3"])
    app.quality.release_hold(GTIN, "F1", reason="assessed", actor="qa.wu", serials=["S1"])
    assert {s for s, (_, held) in units(app).items() if held} == {"S2"}
    assert lot_status(app) == "released"


def test_unit_holds_survive_a_rebuild_and_a_lot_hold_still_holds_the_lot(app: Container) -> None:
    app.quality.hold(GTIN, "F1", reason="r", actor="qa.li", serials=["S3"])
    before = units(app)
    rebuild(app.engine)
    assert units(app) == before
    app.quality.hold(GTIN, "F1", reason="NC-9 open", actor="qa.li")
    assert lot_status(app) == "hold"


def test_only_a_hold_or_its_release_names_units() -> None:
    with pytest.raises(IllegalTransition, match="only a hold and its release apply"):
        ReleaseLot(gtin=GTIN, lot="F1", reason="r", actor="qa.li", serials=("S1",))


def test_cli_hold_of_units(app: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEBRIDGE_DATABASE_URL", app.settings.database_url)
    result = CliRunner().invoke(cli, ["hold", GTIN, "F1", "--serial", "S4", "--serial", "S2",
                                      "--reason", "CMP-8", "--actor", "qa.li"])
    assert result.exit_code == 0, result.output
    assert "released → released (held of 2 unit(s): S4, S2)" in result.stdout
    again = CliRunner().invoke(cli, ["hold", GTIN, "F1", "--serial", "S4", "--reason", "x",
                                     "--actor", "qa.li"])
    assert again.exit_code == 1 and "S4 already on hold" in again.stderr


def test_api_hold_of_units(app: Container) -> None:
    client = TestClient(create_app(app))
    answer = client.post(f"/lots/{GTIN}/F1/hold",
                         json={"reason": "CMP-9", "actor": "qa.li", "serials": ["S3"]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["serials"] == ["S3"] and answer.json()["status_after"] == "released"
    refused = client.post(f"/lots/{GTIN}/F1/release",
                          json={"reason": "x", "actor": "qa.li", "serials": ["S3"]})
    assert refused.status_code == 409
    assert units(app)["S3"] == ("produced", True)


def test_a_batch_of_unit_holds_sees_each_unit_once_and_its_own_earlier_holds(
    app: Container,
) -> None:
    """What a rule pack does in one ingest transaction (``DecisionBatch``)."""
    now = datetime(2026, 3, 3, tzinfo=UTC)
    with app.engine.begin() as conn:
        batch = app.quality.batch_in(conn, now=now)
        batch.decide(HoldLot(gtin=GTIN, lot="F1", reason="r", actor="rule:x",
                             serials=("S1",)), details={})
        batch.decide(HoldLot(gtin=GTIN, lot="F1", reason="r", actor="rule:x",
                             serials=("S3", "S4")), details={})
        with pytest.raises(IllegalTransition, match="S3 already on hold"):
            batch.decide(HoldLot(gtin=GTIN, lot="F1", reason="r", actor="rule:x",
                                 serials=("S3",)), details={})
        stored = batch.store()
    assert [p.decision.serials for p in stored if p.decision] == [["S1"], ["S3", "S4"]]
    assert {s for s, (_, held) in units(app).items() if held} == {"S1", "S3", "S4"}
    assert lot_status(app) == "released"


def test_trace_of_a_held_unit_says_so_and_an_as_of_before_the_hold_does_not(
    app: Container,
) -> None:
    before = datetime.now(UTC)
    app.quality.hold(GTIN, "F1", reason="complaint", actor="qa.li", serials=["S2"])
    notes = {n.code: n.message for n in app.trace.trace(f"(01){GTIN}(21)S2").notes}
    assert "Unit S2 is on hold on its own" in notes["serial-on-hold"]
    assert "'produced'" in notes["serial-last-seen"]  # the hold is not a movement
    earlier = app.trace.trace(f"(01){GTIN}(21)S2", as_of=before).notes
    assert "serial-on-hold" not in {n.code for n in earlier}
    assert "serial-on-hold" not in {n.code for n in app.trace.trace(f"(01){GTIN}(21)S3").notes}


def test_a_unit_of_the_earlier_lot_of_a_repeated_serial_can_be_held(app: Container) -> None:
    """A serial repeated in a later lot is one row naming that lot; the earlier lot still
    produced it, so holding it there is a hold of a unit of that lot."""
    app.ingest.append_events([CanonicalEvent(
        kind=EventKind.PRODUCED, event_time=T0.replace(hour=5), event_time_zone_offset="+08:00",
        lots=(LotRef(gtin=GTIN, lot="F9", quantity=1, uom="EA", serials=("S2",)),),
        work_order="WO-9", source=Source(system="erp", record_id="P-9"))])
    decision = app.quality.hold(GTIN, "F1", reason="duplicate serial", actor="qa.li",
                                serials=["S2"])
    assert decision.serials == ["S2"] and units(app)["S2"][1] is True
