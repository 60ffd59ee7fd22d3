"""The recall workflow through ``RecallService`` on a small plant, on SQLite and PostgreSQL.

Component lot C-1 went into finished lot F-1 (shipped to HOSP-1 and DIST-1, rest in
stock) and serialised lot S-1 (two units shipped to DIST-1); component C-2 went into
F-9, shipped to OTHER-1, which no recall of C-1 may name.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy import func, select

from tracebridge.bootstrap import Container
from tracebridge.domain.events import (
    BizTransaction,
    CanonicalEvent,
    EventKind,
    Inspection,
    LotRef,
    Source,
)
from tracebridge.domain.identifiers import gs1_check_digit
from tracebridge.domain.master import MasterRecord
from tracebridge.domain.recall import (
    EquipmentWindow,
    InspectionCriterion,
    LotScope,
    OperationCriterion,
    RecallPlan,
    SerialRange,
    SerialScope,
    SupplierLotCriterion,
)
from tracebridge.errors import IllegalRecallTransition, InvalidRecallInput, NotFound
from tracebridge.recall.scope import resolve_scope
from tracebridge.recall.service import RecallService
from tracebridge.store import master_data
from tracebridge.store import tables as t


def _gtin(base: str) -> str:
    return base + str(gs1_check_digit(base))


COMP, FG, SER = _gtin("0950600000010"), _gtin("0950600000020"), _gtin("0950600000030")
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # a Wednesday
SERIALS = tuple(f"S{n:03d}" for n in range(1, 6))


def _ev(kind: EventKind, hours: float, record: str, **fields: Any) -> CanonicalEvent:
    return CanonicalEvent(kind=kind, event_time=T0 + timedelta(hours=hours),
                          event_time_zone_offset="+08:00",
                          source=Source(system="wms", record_id=record), **fields)


def _ship(hours: float, record: str, ref: LotRef, party: str, document: str) -> CanonicalEvent:
    return _ev(EventKind.SHIPPED, hours, record, lots=(ref,), biz_location="WH",
               destination_party=party,
               biz_transactions=(BizTransaction(type="desadv", id=document),))


def plant_events() -> list[CanonicalEvent]:
    return [
        _ev(EventKind.RECEIVED, 0, "r1", lots=(LotRef(gtin=COMP, lot="C-1", quantity=100,
                                                      uom="EA"),),
            biz_location="WH", source_party="SUP-1", details={"supplier_lot": "RESIN-77"}),
        _ev(EventKind.RECEIVED, 0.5, "r2", lots=(LotRef(gtin=COMP, lot="C-2", quantity=50,
                                                        uom="EA"),),
            biz_location="WH", source_party="SUP-1", details={"supplier_lot": "RESIN-78"}),
        _ev(EventKind.INSPECTED, 0.7, "i1", lots=(LotRef(gtin=COMP, lot="C-1"),),
            inspection=Inspection(stage="incoming", characteristic="bubble test",
                                  result="fail")),
        _ev(EventKind.PRODUCED, 1, "p1", lots=(LotRef(gtin=FG, lot="F-1", quantity=20,
                                                      uom="EA"),),
            inputs=(LotRef(gtin=COMP, lot="C-1", quantity=10, uom="EA"),), biz_location="WH",
            work_order="WO-1", operation="assembly", equipment="PRESS-1"),
        _ev(EventKind.PRODUCED, 2, "p2", lots=(LotRef(gtin=SER, lot="S-1", quantity=5, uom="EA",
                                                      serials=SERIALS),),
            inputs=(LotRef(gtin=COMP, lot="C-1", quantity=5, uom="EA"),), biz_location="WH",
            work_order="WO-2", operation="assembly", equipment="PRESS-2"),
        _ev(EventKind.PRODUCED, 3, "p3", lots=(LotRef(gtin=FG, lot="F-9", quantity=10,
                                                      uom="EA"),),
            inputs=(LotRef(gtin=COMP, lot="C-2", quantity=10, uom="EA"),), biz_location="WH",
            work_order="WO-9", operation="moulding", equipment="PRESS-1"),
        *[_ev(EventKind.RELEASED, 4, f"rel-{lot}", lots=(LotRef(gtin=gtin, lot=lot),))
          for gtin, lot in ((FG, "F-1"), (SER, "S-1"), (FG, "F-9"))],
        _ship(10, "s1", LotRef(gtin=FG, lot="F-1", quantity=8, uom="EA"), "HOSP-1", "DN-1"),
        _ship(11, "s2", LotRef(gtin=FG, lot="F-1", quantity=4, uom="EA"), "DIST-1", "DN-2"),
        _ship(12, "s3", LotRef(gtin=SER, lot="S-1", quantity=2, uom="EA",
                               serials=SERIALS[:2]), "DIST-1", "DN-3"),
        _ship(13, "s4", LotRef(gtin=FG, lot="F-9", quantity=6, uom="EA"), "OTHER-1", "DN-9"),
        _ev(EventKind.DELIVERED, 30, "d1", lots=(LotRef(gtin=FG, lot="F-1", quantity=8,
                                                        uom="EA"),),
            destination_party="HOSP-1", biz_transactions=(BizTransaction(type="desadv",
                                                                         id="DN-1"),)),
    ]


def masters() -> list[tuple[MasterRecord, int | None]]:
    src = Source(system="erp", record_id="md")
    rows = [("party", "HOSP-1", {"name": "City Hospital", "street": "1 Main St",
                                 "city": "Suzhou", "phone": "+86 512 1111",
                                 "party_type": "hospital"}),
            ("party", "DIST-1", {"name": "MedDist Ltd", "street": "9 Harbour Rd",
                                 "city": "Shanghai", "phone": "+86 21 2222",
                                 "party_type": "distributor"}),
            ("product", FG, {"name": "IV infusion set 20 drops/ml"}),
            ("product", SER, {"name": "Infusion pump P5"})]
    return [(MasterRecord(entity=e, key=k, attributes=a, source=src), None) for e, k, a in rows]


@pytest.fixture
def plant(container: Container) -> Iterator[Container]:
    container.ingest.append_events(plant_events())
    with container.engine.begin() as conn:
        master_data.append_versions(conn, masters(), record_time=NOW)
    yield container


@pytest.fixture
def service(plant: Container) -> RecallService:
    return RecallService(plant.engine, plant.quality, clock=lambda: NOW)


def plan(level: str = "A") -> RecallPlan:
    return RecallPlan.parse(recall_class="II", depth="consumer", public_warning=False,
                            effectiveness_level=level, reason="bubbles in tubing",
                            product="IV infusion set")


def test_req32_req39_recall_record_keeps_class_depth_warning_level_and_806_due(
        service: RecallService) -> None:
    """REQ-32 and REQ-39: classification stored; initiation time-stamped, report due in 10
    working days."""
    recall = service.start(plan("C"), [LotScope(COMP, "C-1")], actor="qa.lead",
                           expected_completion=date(2027, 1, 31))
    again = service.get(recall.id)
    assert (again.recall_class, again.depth, again.public_warning,
            again.effectiveness_level) == ("II", "consumer", False, "C")
    assert again.initiated_at == NOW and again.reportable_806
    assert again.report_due == date(2026, 12, 9)
    assert again.history[0].action == "start" and again.history[0].actor == "qa.lead"
    assert again.scope == [f"lot:{COMP}/C-1"]


def test_req34_req35_impact_lists_consignees_shipments_and_quantities(
        service: RecallService) -> None:
    """REQ-34: every direct consignee with quantity and date; REQ-35: produced and in
    distribution per lot."""
    found = service.impact(service.start(plan(), [LotScope(COMP, "C-1")], actor="qa").id)
    assert set(found.finished_lots) == {f"{FG}/F-1", f"{SER}/S-1"}
    assert {c.consignee.code for c in found.customers} == {"HOSP-1", "DIST-1"}  # not OTHER-1
    by_code = {c.consignee.code: c for c in found.customers}
    hosp, dist = by_code["HOSP-1"], by_code["DIST-1"]
    assert hosp.shipped == 8 and hosp.in_transit == 0
    assert hosp.consignee.name == "City Hospital" and "Suzhou" in (hosp.consignee.address or "")
    assert [(s.shipment, s.shipped_at) for s in hosp.shipments] == [
        ("DN-1", T0 + timedelta(hours=10))]
    assert dist.shipped == 6 and dist.in_transit == 6
    assert dist.serials == [f"{SER}/S001", f"{SER}/S002"]
    lots = {(lot.gtin, lot.lot): lot for lot in found.lots}
    f1 = lots[(FG, "F-1")]
    assert (f1.quantity_produced, f1.shipped, f1.in_distribution, f1.in_stock) == (20, 12, 12, 8)
    assert lots[(SER, "S-1")].serials == list(SERIALS)
    assert {(s.lot, s.location, s.quantity) for s in found.stock if s.gtin != COMP} == {
        ("F-1", "WH", 8.0), ("S-1", "WH", 3.0)}


def test_serial_scope_names_only_those_units(service: RecallService) -> None:
    found = service.impact(service.start(plan(), [SerialScope(SER, "S002")], actor="qa").id)
    assert found.serials == [f"{SER}/S002"]
    assert [(c.consignee.code, c.serials) for c in found.customers] == [
        ("DIST-1", [f"{SER}/S002"])]
    ranged = service.impact(service.start(plan(), [SerialRange(SER, "S003", "S005")],
                                          actor="qa").id)
    assert ranged.customers == [] and ranged.serials == [f"{SER}/S00{n}" for n in (3, 4, 5)]
    assert sum(s.quantity for s in ranged.stock) == 3


def test_criteria_resolve_through_the_projections(plant: Container) -> None:
    with plant.engine.connect() as conn:
        def lots(*items: Any) -> set[tuple[str, str]]:
            return set(resolve_scope(conn, list(items)).lots)

        assert lots(SupplierLotCriterion("RESIN-77")) == {(COMP, "C-1")}
        window = EquipmentWindow("PRESS-1", T0, T0 + timedelta(hours=2))
        assert lots(window) == {(FG, "F-1")}  # F-9 was pressed later
        assert lots(OperationCriterion("assembly")) == {(FG, "F-1"), (SER, "S-1")}
        assert lots(InspectionCriterion("bubble test")) == {(COMP, "C-1")}
        nothing = resolve_scope(conn, [SupplierLotCriterion("NO-SUCH")])
        assert nothing.lots == frozenset() and "matched no lot" in nothing.notes[0]


def test_unknown_lot_in_scope_is_refused(service: RecallService) -> None:
    with pytest.raises(NotFound, match="no such lot"):
        service.start(plan(), [LotScope(COMP, "C-404")], actor="qa")


def test_containment_blocks_every_affected_lot_through_the_outbox(
        service: RecallService, plant: Container) -> None:
    recall = service.start(plan(), [LotScope(COMP, "C-1")], actor="qa")
    results = {r.lot: r for r in service.contain(recall.id, actor="qa")}
    assert results[f"{FG}/F-1"].outcome == "blocked"
    assert results[f"{FG}/F-1"].status_after == "recalled"
    component = results[f"{COMP}/C-1"]  # never released: held first, then blocked
    assert (component.outcome, component.status_before, component.status_after) == (
        "blocked", "quarantine", "recalled")
    with plant.engine.connect() as conn:
        status = dict(((r.gtin, r.lot), r.status) for r in conn.execute(
            select(t.lot.c.gtin, t.lot.c.lot, t.lot.c.status)))
        queued = conn.execute(select(t.outbox.c.lot, t.outbox.c.kind)).all()
        reasons = set(conn.execute(select(t.lot_event.c.kind, t.lot_event.c.reason).where(
            t.lot_event.c.lot == "C-1", t.lot_event.c.actor == "qa")).all())
    assert reasons == {("held", f"recall {recall.id}"), ("recalled", f"recall {recall.id}")}
    assert status[(FG, "F-1")] == status[(SER, "S-1")] == status[(COMP, "C-1")] == "recalled"
    assert status[(FG, "F-9")] == "released"
    if plant.forwarding.targets:
        assert ("F-1", "recalled") in {(lot, kind) for lot, kind in queued}
    again = service.contain(recall.id, actor="qa")  # retried: nothing decided twice
    assert {r.outcome for r in again if r.lot == f"{FG}/F-1"} == {"already-blocked"}
    assert service.get(recall.id).status == "contained"


def test_req37_notify_respond_status_and_close(service: RecallService, tmp_path: Path) -> None:
    """REQ-37: notified (date, method), responders with on-hand, non-responders, returned,
    effectiveness checks, expected completion; REQ-36 lists and notice are written."""
    recall = service.start(plan("B"), [LotScope(COMP, "C-1")], actor="qa",
                           expected_completion=date(2027, 1, 31))
    with pytest.raises(IllegalRecallTransition):
        service.respond(recall.id, "HOSP-1", actor="qa", quantity_on_hand=1,
                        quantity_returned=0)
    sent = service.notify(recall.id, actor="qa", method="e-mail", out_dir=tmp_path)
    assert sorted(sent.customers) == ["DIST-1", "HOSP-1"]
    assert (tmp_path / f"{recall.id}-DIST-1.csv").read_text().count("\n") == 1 + 3
    sheet = load_workbook(tmp_path / f"{recall.id}-HOSP-1.xlsx").active
    assert sheet.cell(row=3, column=1).value == "DN-1"
    assert "LOT F-1" in sent.notice and "S001, S002, S003" in sent.notice
    with pytest.raises(InvalidRecallInput, match="not a consignee"):
        service.respond(recall.id, "OTHER-1", actor="qa", quantity_on_hand=0,
                        quantity_returned=0)
    report = service.respond(recall.id, "HOSP-1", actor="qa", quantity_on_hand=2,
                             quantity_returned=6, method="phone")
    assert report.consignees_notified == 2 and report.consignees_responded == 1
    assert report.non_responders == ["DIST-1"] and report.open_customers == ["DIST-1"]
    hosp = next(c for c in report.consignees if c.consignee.code == "HOSP-1")
    assert (hosp.method, hosp.notified_at, hosp.accounted_percent) == ("e-mail", NOW, 100.0)
    assert (report.units_shipped, report.units_accounted) == (14, 8)
    assert report.quantity_returned == 6 and report.quantity_on_hand == 2
    assert report.effectiveness_checks_required == 1  # level B of 2 consignees
    assert report.expected_completion == date(2027, 1, 31)
    closed = service.close(recall.id, reason="all units accounted for", actor="qa.lead")
    assert closed.status == "closed" and closed.close_reason == "all units accounted for"
    assert [h.action for h in closed.history] == ["start", "notify", "respond", "close"]
    with pytest.raises(IllegalRecallTransition, match="closed"):
        service.contain(recall.id, actor="qa")


def _row_counts(container: Container) -> dict[str, int]:
    with container.engine.connect() as conn:
        return {table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (t.event, t.outbox, t.lot, *t.RECALL_TABLES)}


def test_drill_writes_nothing_and_times_each_stage(service: RecallService,
                                                   plant: Container) -> None:
    before = _row_counts(plant)
    drill = service.drill(f"/01/{COMP}/10/C-1")
    assert _row_counts(plant) == before
    assert drill.recall_id is None and drill.scope == [f"lot:{COMP}/C-1"]
    assert set(drill.seconds) == {"scope", "impact", "lists", "total"}
    assert drill.customer_lists == 2 and drill.list_bytes > 0
    assert {c.consignee.code for c in drill.impact.customers} == {"HOSP-1", "DIST-1"}


def test_req40_req41_tracking_answers_holder_or_location(service: RecallService) -> None:
    """REQ-40: unit not with a patient → distributor name, address, phone and location;
    REQ-41: shipped unit → lot/serial, ship date and consignee."""
    at_distributor = service.track(SER, "S001")
    assert at_distributor.state == "at-distributor"
    assert at_distributor.holder is not None and at_distributor.holder.phone == "+86 21 2222"
    assert at_distributor.holder.name == "MedDist Ltd" and at_distributor.lot == "S-1"
    assert at_distributor.shipped_at == T0 + timedelta(hours=12)
    assert at_distributor.answer_due_working_days == 3
    in_stock = service.track(SER, "S004")
    assert (in_stock.state, in_stock.location, in_stock.holder) == ("in-stock", "WH", None)
    with pytest.raises(NotFound):
        service.track(SER, "S999")
