"""Dead letters: retry after a mapping fix stores the events; discard needs who and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tracebridge.bootstrap import Container
from tracebridge.domain.identifiers import gs1_check_digit
from tracebridge.errors import DeadLetterClosed, ReasonRequired, UnsupportedSource
from tracebridge.ingest.dead_letters import DeadLetterService
from tracebridge.mapping import load_mapping
from tracebridge.mapping.engine import BUILTIN_DIR
from tracebridge.store.tables import dead_letter_action, event

GTIN = "0950600000001" + str(gs1_check_digit("0950600000001"))


def receipt(txn: str, *, uom: str = "EA", qty: int = 10) -> dict[str, object]:
    return {"txn_id": txn, "type": "RCV", "ts": 1767571200000, "gtin": GTIN, "lot_no": "L-1",
            "qty": qty, "uom": uom, "loc": "WH-01", "user": "u1",
            "ref": {"po": "PO-1", "supplier": "SUP-1"}}


@pytest.fixture
def app(container: Container) -> Container:
    return container


def _ingest(app: Container, tmp_path: Path, *records: dict[str, object]) -> None:
    path = tmp_path / "transactions_2026-01-05.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    app.ingest.ingest_paths(load_mapping("wms"), [path])


def fixed_wms_mapping(tmp_path: Path) -> Path:
    """The built-in WMS mapping, fixed to know the unit code BOX (= EA)."""
    text = (BUILTIN_DIR / "wms.yaml").read_text(encoding="utf-8")
    assert "values: {EA: EA}" in text
    fixed = tmp_path / "wms-fixed.yaml"
    fixed.write_text(text.replace("values: {EA: EA}", "values: {EA: EA, BOX: EA}"),
                     encoding="utf-8")
    return fixed


def _events(app: Container) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(event)).scalar_one())


def test_unknown_unit_is_a_dead_letter_with_its_raw_bytes(app: Container, tmp_path: Path) -> None:
    _ingest(app, tmp_path, receipt("T1"), receipt("T2", uom="BOX"))
    service = DeadLetterService(app.engine)
    [letter] = service.find(status="open")
    detail = service.show(letter.id)
    assert (letter.source_system, letter.reason, letter.attempts) == ("wms", "unknown-code", 1)
    assert json.loads(detail.payload)["txn_id"] == "T2"
    assert detail.errors[0]["field"] == "uom"
    assert service.find(source="erp") == [] and service.find(reason="missing-field") == []


def test_req1_retry_after_mapping_fix_stores_events_and_closes_the_letter(
        app: Container, tmp_path: Path) -> None:
    """REQ-1: the retry is recorded (who, when, which mapping) and the letter stays kept."""
    _ingest(app, tmp_path, receipt("T1"), receipt("T2", uom="BOX"))
    service = DeadLetterService(app.engine)
    [letter] = service.find(status="open")
    before = _events(app)

    still = service.retry(letter.id, load_mapping("wms"), actor="qa")
    assert not still.succeeded and still.reason == "unknown-code"
    assert service.show(letter.id).summary.attempts == 2

    fixed = service.retry(letter.id, load_mapping(fixed_wms_mapping(tmp_path)), actor="qa")
    assert fixed.succeeded and fixed.events_stored == 1
    assert _events(app) == before + 1
    detail = service.show(letter.id)
    assert (detail.summary.status, detail.summary.attempts) == ("retried", 3)
    assert [a.action for a in detail.actions] == ["retry-failed", "retried"]
    assert detail.actions[1].detail and detail.actions[1].detail["events_stored"] == 1
    with app.engine.connect() as conn:
        raw_id = conn.execute(select(event.c.raw_record_id).order_by(event.c.seq.desc())
                              .limit(1)).scalar_one()
    assert raw_id == detail.raw_record_id  # linked to the original bytes, not a copy
    with pytest.raises(DeadLetterClosed):
        service.retry(letter.id, load_mapping("wms"))


def test_retry_all_only_takes_open_letters_of_the_mapping_source(
        app: Container, tmp_path: Path) -> None:
    _ingest(app, tmp_path, receipt("T1", uom="BOX"), receipt("T2", uom="BOX"),
            receipt("T3", uom="CAR"))
    service = DeadLetterService(app.engine)
    outcomes = service.retry_all(load_mapping(fixed_wms_mapping(tmp_path)))
    assert sorted(o.succeeded for o in outcomes) == [False, True, True]
    [still_open] = service.find(status="open")
    assert still_open.reason == "unknown-code"
    with pytest.raises(UnsupportedSource):
        service.retry(still_open.id, load_mapping("erp"))


def test_discard_needs_a_reason_and_is_recorded(app: Container, tmp_path: Path) -> None:
    _ingest(app, tmp_path, receipt("T2", uom="BOX"))
    service = DeadLetterService(app.engine)
    [letter] = service.find()
    with pytest.raises(ReasonRequired):
        service.discard(letter.id, reason="  ", actor="qa")
    with pytest.raises(ReasonRequired):
        service.discard(letter.id, reason="test shipment", actor="")
    assert service.show(letter.id).summary.status == "open"

    detail = service.discard(letter.id, reason="test shipment, not real", actor="alice")
    assert detail.summary.status == "discarded"
    [action] = detail.actions
    assert (action.action, action.actor, action.reason) == ("discarded", "alice",
                                                            "test shipment, not real")
    assert detail.payload  # discarded, never deleted
    with pytest.raises(DeadLetterClosed):
        service.discard(letter.id, reason="again", actor="bob")
    with app.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(dead_letter_action)).scalar_one() == 1
