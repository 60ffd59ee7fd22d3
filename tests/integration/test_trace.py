"""Tracing a small hand-built plant backward and forward, on SQLite and PostgreSQL.

The plant: resin and tubing lots come from a supplier, are inspected and released,
go into work order WO-1 making infusion-set lot FG-100 in clean room CR-1; FG-100 is
released, put away, shipped to a hospital and a distributor (part of it on pallet
SSCC-P), partly returned, and also goes into kit lot KIT-9. An implant lot carries
serials, some shipped on a pallet, one alone. Around it: a rework loop, an opening
balance, a lot number used under two GTINs, a lot with conflicting status events.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event

from tracebridge.bootstrap import Container
from tracebridge.domain.events import (
    BizTransaction,
    CanonicalEvent,
    EventKind,
    Inspection,
    LotRef,
    SensorReading,
    Source,
)
from tracebridge.domain.identifiers import gs1_check_digit
from tracebridge.domain.master import MasterRecord
from tracebridge.errors import Ambiguous, InvalidIdentifier, NotFound
from tracebridge.store import master_data
from tracebridge.trace.model import TraceResult
from tracebridge.trace.reference import lot_link, parse_reference, serial_link
from tracebridge.trace.service import TraceService


def gtin(n: int) -> str:
    body = f"0950600{n:06d}"
    return body + str(gs1_check_digit(body))


RESIN, TUBING, FG, KIT, IMPLANT, OTHER, LOOP, CHAIN = (gtin(i) for i in range(1, 9))
SSCC_P = "106141412345678908"
SSCC_Q = "106141412345678915"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
_counter = iter(range(1, 1_000_000))


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def ev(kind: EventKind, hours: float, *, system: str = "erp", record: str | None = None,
       **fields: Any) -> CanonicalEvent:
    return CanonicalEvent(kind=kind, event_time=at(hours), event_time_zone_offset="+08:00",
                          source=Source(system=system, record_id=record or f"R{next(_counter)}"),
                          **fields)


def lot(g: str, number: str, quantity: float | None = None, **fields: Any) -> LotRef:
    return LotRef(gtin=g, lot=number, quantity=quantity, uom="EA", **fields)


def shipped(hours: float, ref: LotRef, number: str, party: str, *, system: str = "wms",
            parent: str | None = None, record: str | None = None) -> CanonicalEvent:
    return ev(EventKind.SHIPPED, hours, system=system, record=record, lots=(ref,),
              biz_location="WH-FG", destination_party=party, parent=parent,
              biz_transactions=(BizTransaction(type="desadv", id=number),))


def plant_events() -> list[CanonicalEvent]:
    resin, tubing = lot(RESIN, "RES-001", 500), lot(TUBING, "TUB-002", 300)
    fg = lot(FG, "FG-100", 100, expiry="2028-03-31", manufactured="2026-03-02")
    step_sensor = (SensorReading(type="temperature", value=180.0, uom="CEL"),)
    return [
        ev(EventKind.RECEIVED, 0, lots=(resin,), biz_location="WH-RM", source_party="SUP-1",
           details={"supplier_lot": "S-778"}),
        ev(EventKind.RECEIVED, 0.5, lots=(tubing,), biz_location="WH-RM", source_party="SUP-1",
           details={"supplier_lot": "T-12"}),
        ev(EventKind.INSPECTED, 1, lots=(lot(RESIN, "RES-001"),), operator="QC-2",
           inspection=Inspection(stage="incoming", characteristic="melt index", result="pass",
                                 measured=12.1, lower=10, upper=14, unit="g/10min")),
        ev(EventKind.RELEASED, 1.5, lots=(lot(RESIN, "RES-001"),), operator="QA-1"),
        ev(EventKind.RELEASED, 1.5, lots=(lot(TUBING, "TUB-002"),), operator="QA-1"),
        ev(EventKind.CONSUMED, 2, work_order="WO-1", biz_location="CR-1",
           inputs=(lot(RESIN, "RES-001", 10), lot(TUBING, "TUB-002", 100))),
        ev(EventKind.PROCESSED, 3, lots=(lot(FG, "FG-100"),), work_order="WO-1",
           operation="10-moulding", equipment="EQ-7", operator="OP-3", biz_location="CR-1",
           sensor=step_sensor),
        ev(EventKind.ENVIRONMENT_OBSERVED, 2.9, biz_location="CR-1",
           sensor=(SensorReading(type="temperature", value=21.0, uom="CEL"),)),
        ev(EventKind.ENVIRONMENT_OBSERVED, 3.1, biz_location="CR-1",
           sensor=(SensorReading(type="temperature", value=26.5, uom="CEL"),)),
        ev(EventKind.ENVIRONMENT_OBSERVED, 30, biz_location="CR-1",  # long after: not ours
           sensor=(SensorReading(type="temperature", value=40.0, uom="CEL"),)),
        ev(EventKind.PRODUCED, 4, lots=(fg,), work_order="WO-1", biz_location="CR-1",
           operator="OP-3"),
        ev(EventKind.INSPECTED, 4.5, lots=(lot(FG, "FG-100"),), operator="QC-2",
           inspection=Inspection(stage="final", characteristic="leak test", result="pass")),
        ev(EventKind.RELEASED, 5, lots=(lot(FG, "FG-100"),), operator="QA-1"),
        ev(EventKind.RECEIVED, 5.5, system="wms", lots=(lot(FG, "FG-100", 100),),
           biz_location="WH-FG"),
        ev(EventKind.MOVED, 6, system="wms", lots=(lot(FG, "FG-100", 30),),
           biz_location="WH-FG-B", details={"from_location": "WH-FG"}),
        ev(EventKind.PACKED, 6.5, system="wms", parent=SSCC_P, lots=(lot(FG, "FG-100", 40),)),
        shipped(7, lot(FG, "FG-100", 30), "DN-1", "HOSP-1"),
        shipped(7, lot(FG, "FG-100", 30), "DN-1", "HOSP-1", system="erp"),  # ERP's own view
        shipped(8, lot(FG, "FG-100", 40), "DN-2", "DIST-2", parent=SSCC_P),
        ev(EventKind.RETURNED, 20, system="wms", lots=(lot(FG, "FG-100", 5),),
           biz_location="WH-RET", source_party="HOSP-1",
           biz_transactions=(BizTransaction(type="rma", id="RMA-1"),)),
        ev(EventKind.PRODUCED, 9, lots=(lot(KIT, "KIT-9", 20),), work_order="WO-2",
           inputs=(lot(FG, "FG-100", 20),), biz_location="WH-FG-B"),
        shipped(10, lot(KIT, "KIT-9", 20), "DN-3", "DIST-2", system="erp"),
        # serialised implants
        ev(EventKind.PRODUCED, 11, work_order="WO-3", biz_location="CR-1",
           lots=(lot(IMPLANT, "IMP-1", serials=("S1", "S2", "S3")),),
           inputs=(lot(TUBING, "TUB-002", 3),)),
        ev(EventKind.PACKED, 12, system="wms", parent=SSCC_Q,
           lots=(lot(IMPLANT, "IMP-1", serials=("S1", "S2")),)),
        shipped(13, lot(IMPLANT, "IMP-1", 2), "DN-4", "HOSP-1", parent=SSCC_Q),
        shipped(14, lot(IMPLANT, "IMP-1", serials=("S3",)), "DN-5", "DIST-2"),
        # a lot number used by two products, a HIBCC-labelled lot, an opening balance
        ev(EventKind.RECEIVED, 15, lots=(lot(RESIN, "AMB-1", 5),), biz_location="WH-RM"),
        ev(EventKind.RECEIVED, 15, lots=(lot(TUBING, "AMB-1", 5),), biz_location="WH-RM"),
        ev(EventKind.RECEIVED, 15, lots=(lot(OTHER, "10X3", 5),), biz_location="WH-RM"),
        ev(EventKind.OPENING_BALANCE, 0, system="wms", lots=(lot(FG, "OB-1", 40),),
           biz_location="WH-FG"),
        # status events that do not fit the state machine: released, then rejected
        ev(EventKind.PRODUCED, 16, lots=(lot(FG, "CF-1", 10),), work_order="WO-9"),
        ev(EventKind.RELEASED, 17, lots=(lot(FG, "CF-1"),), operator="QA-1"),
        ev(EventKind.REJECTED, 18, lots=(lot(FG, "CF-1"),), operator="QA-2"),
        # rework loop: RW-1 is reworked into RW-2, which is reworked back into RW-1
        ev(EventKind.PRODUCED, 19, lots=(lot(LOOP, "RW-2", 1),), work_order="WO-R1",
           inputs=(lot(LOOP, "RW-1", 1),)),
        ev(EventKind.PRODUCED, 19.5, lots=(lot(LOOP, "RW-1", 1),), work_order="WO-R2",
           inputs=(lot(LOOP, "RW-2", 1),)),
    ]


def masters() -> list[tuple[MasterRecord, int | None]]:
    src = Source(system="erp", record_id="md")
    rows = [("party", "HOSP-1", {"name": "City Hospital", "address": "1 Main St, Suzhou"}),
            ("party", "DIST-2", {"name": "MedDist Ltd", "address": "9 Harbour Rd, Shanghai"}),
            ("product", FG, {"name": "IV infusion set"}),
            ("product", KIT, {"name": "Infusion kit"}),
            ("supplier", "SUP-1", {"name": "Resin Works", "address": "Ningbo"})]
    return [(MasterRecord(entity=e, key=k, attributes=a, source=src), None) for e, k, a in rows]


@pytest.fixture
def plant(container: Container) -> Container:
    container.ingest.append_events(plant_events())
    with container.engine.begin() as conn:
        master_data.append_versions(conn, masters(), record_time=datetime.now(UTC))
    return container


def keys(nodes: Any) -> dict[tuple[str, str], int]:
    return {(n.gtin, n.lot): n.depth for n in nodes}


# ------------------------------------------------------------------------ backward


def test_req22_backward_links_lot_to_component_lots_and_environment(plant: Container) -> None:
    """REQ-22: a finished lot leads back to its component lots and work environment."""
    service = TraceService(plant.engine, environment_limits={"temperature": (18.0, 25.0)})
    result = service.trace(lot_link(FG, "FG-100"), direction="backward")
    assert result.forward is None and result.backward is not None
    back = result.backward
    assert keys(back.lots) == {(RESIN, "RES-001"): 1, (TUBING, "TUB-002"): 1}
    resin = next(n for n in back.lots if n.lot == "RES-001")
    assert resin.supplier is not None and resin.supplier.name == "Resin Works"
    assert resin.supplier_lot == "S-778" and resin.origin == "received"
    assert resin.received_at == [at(0)] and resin.status == "released"
    assert [i.characteristic for i in back.inspections] == ["melt index"]
    [order] = back.work_orders
    assert order.work_order == "WO-1"
    assert set(order.inputs) == {lot_link(RESIN, "RES-001"), lot_link(TUBING, "TUB-002")}
    step = next(s for s in order.steps if s.operation == "10-moulding")
    assert (step.equipment, step.operator, step.location) == ("EQ-7", "OP-3", "CR-1")
    assert [(r.type, r.value) for r in step.sensor] == [("temperature", 180.0)]
    [clean_room] = [w for w in back.environment if w.location == "CR-1" and w.lot == "FG-100"]
    [temperature] = clean_room.statistics
    assert (temperature.readings, temperature.minimum, temperature.maximum) == (2, 21.0, 26.5)
    assert temperature.excursions == 1 and temperature.first_excursion_at == at(3.1)
    assert result.release is not None and result.release.by == "QA-1"
    assert result.release.at == at(5)
    assert [i.characteristic for i in result.inspections] == ["leak test"]
    assert result.lot.product_name == "IV infusion set" and result.lot.expiry == "2028-03-31"


def test_environment_without_limits_lists_min_and_max_only(plant: Container) -> None:
    result = plant.trace.trace(f"{FG}:FG-100", direction="backward")
    assert result.backward is not None
    stats = [s for w in result.backward.environment if w.location == "CR-1" for s in w.statistics]
    assert stats and all(s.excursions is None and s.upper_limit is None for s in stats)
    assert max(s.maximum for s in stats) == 26.5


# ------------------------------------------------------------------------ forward


def test_req26_forward_shipments_name_consignee_quantity_date_and_lot(plant: Container) -> None:
    """REQ-26 / REQ-23: each distribution line has consignee name + address, qty, date, lot."""
    result = plant.trace.trace(f"(01){FG}(10)FG-100", direction="forward")
    assert result.backward is None and result.forward is not None
    fwd = result.forward
    assert keys(fwd.lots) == {(KIT, "KIT-9"): 1}
    lines = {(s.shipment, s.lot): s for s in fwd.shipments}
    assert set(lines) == {("DN-1", "FG-100"), ("DN-2", "FG-100"), ("RMA-1", "FG-100"),
                          ("DN-3", "KIT-9")}
    dn1 = lines[("DN-1", "FG-100")]
    assert dn1.quantity == 30 and dn1.source_system == "wms"  # ERP's copy not added on top
    assert dn1.shipped_at == at(7)
    assert dn1.consignee is not None and dn1.consignee.name == "City Hospital"
    assert dn1.consignee.address == "1 Main St, Suzhou"
    assert lines[("DN-2", "FG-100")].ssccs == [SSCC_P]
    assert lines[("DN-3", "KIT-9")].source_system == "erp" and lines[("DN-3", "KIT-9")].depth == 1
    assert any(n.code == "shipments-from-other-system" for n in result.notes)
    totals = {c.party.code: c for c in fwd.customers}
    assert totals["DIST-2"].lots == 2 and totals["DIST-2"].shipments == 2
    assert [(u.uom, u.shipped, u.returned) for u in totals["HOSP-1"].totals] == [("EA", 30, 5)]


def test_req21_returned_goods_are_identified_as_returns(plant: Container) -> None:
    """REQ-21: a return shows as its own line of kind 'returned', flagged in the notes."""
    result = plant.trace.trace(lot_link(FG, "FG-100"), direction="forward")
    assert result.forward is not None
    [rma] = [s for s in result.forward.shipments if s.shipment == "RMA-1"]
    assert rma.kind == "returned" and rma.quantity == 5
    assert any(n.code == "returned" for n in result.notes)
    stock = {(p.location, p.source_system): p.quantity for p in result.forward.stock
             if p.lot == "FG-100"}
    assert stock[("WH-RET", "wms")] == 5


def test_req38_every_shipment_line_carries_its_control_number(plant: Container) -> None:
    """REQ-38 / REQ-24: no shipment line without a lot; serialised lines also name the serial."""
    for ref in (lot_link(FG, "FG-100"), lot_link(IMPLANT, "IMP-1")):
        result = plant.trace.trace(ref, direction="forward")
        assert result.forward is not None and result.forward.shipments
        assert all(line.lot for line in result.forward.shipments)
    s3 = plant.trace.trace(serial_link(IMPLANT, "S3")).forward
    assert s3 is not None and [(x.shipment, x.serial) for x in s3.shipments] == [("DN-5", "S3")]


def test_stock_is_reported_by_location_from_the_system_of_record(plant: Container) -> None:
    result = plant.trace.trace(lot_link(FG, "FG-100"), direction="forward")
    assert result.forward is not None
    own = {p.location: p.quantity for p in result.forward.stock
           if p.lot == "FG-100" and p.source_system == "wms"}
    assert own == {"WH-FG-B": 30.0, "WH-RET": 5.0}  # WH-FG: 100 in, 30 moved, 70 shipped


# ------------------------------------------------------------------------ serials, UDIs


def test_req16_serial_trace_via_sscc_and_its_udi(plant: Container) -> None:
    """REQ-16: a serialised unit is traced by its UDI; shipped inside SSCC-Q to HOSP-1."""
    result = plant.trace.trace(f"]d201{IMPLANT}21S1")
    assert result.subject.kind == "serial" and result.subject.lot == "IMP-1"
    assert result.subject.udi == f"(01){IMPLANT}(21)S1"
    assert result.forward is not None
    [line] = result.forward.shipments
    assert (line.shipment, line.ssccs, line.quantity) == ("DN-4", [SSCC_Q], 2)
    assert line.consignee is not None and line.consignee.code == "HOSP-1"
    assert result.backward is not None
    assert keys(result.backward.lots) == {(TUBING, "TUB-002"): 1}


@pytest.mark.parametrize("ref", [
    f"https://id.example.org/01/{FG}/10/FG-100?17=280331",
    f"/01/{FG}/10/FG-100", f"01/{FG}/10/FG-100", f"(01){FG}(17)280331(10)FG-100",
    f"01{FG}10FG-100", f"{FG[1:]}:FG-100", "FG-100",
])
def test_req24_every_reference_form_finds_the_lot_by_its_control_number(
        plant: Container, ref: str) -> None:
    """REQ-24: the control number (lot) is what every form of reference resolves to."""
    result = plant.trace.trace(ref, direction="backward")
    assert (result.subject.gtin, result.subject.lot) == (FG, "FG-100")
    assert result.lot.udi == f"(01){FG}(17)280331(10)FG-100"


def test_hibcc_udi_resolves_by_its_lot_number(plant: Container) -> None:
    result = plant.trace.trace("+A123BJC5D6E71G+$$710X3G7", direction="backward")
    assert (result.subject.gtin, result.subject.lot) == (OTHER, "10X3")
    assert result.subject.interpreted_as == "HIBCC UDI"


def test_ambiguous_lot_number_lists_candidates(plant: Container) -> None:
    with pytest.raises(Ambiguous) as raised:
        plant.trace.trace("AMB-1")
    assert raised.value.candidates == sorted([lot_link(RESIN, "AMB-1"), lot_link(TUBING, "AMB-1")])
    chosen = plant.trace.trace(raised.value.candidates[0])
    assert chosen.subject.lot == "AMB-1"


def test_unknown_reference_suggests_nearest_lots(plant: Container) -> None:
    with pytest.raises(NotFound) as raised:
        plant.trace.trace("FG-10O")
    assert lot_link(FG, "FG-100") in raised.value.suggestions
    with pytest.raises(NotFound) as keyed:
        plant.trace.trace(f"{FG}:FG-1000")
    assert keyed.value.suggestions[0] == lot_link(FG, "FG-100")


def test_bad_check_digit_is_an_invalid_identifier(plant: Container) -> None:
    wrong = str((int(FG[-1]) + 1) % 10)
    with pytest.raises(InvalidIdentifier, match="check digit"):
        plant.trace.trace(f"/01/{FG[:-1]}{wrong}/10/FG-100")


# ------------------------------------------------------------------------ notes, cycles, depth


def test_opening_balance_and_status_conflict_are_explained(plant: Container) -> None:
    opening = plant.trace.trace("OB-1")
    assert opening.lot.origin == "opening_balance" and opening.lot.status == "released"
    assert [n.code for n in opening.notes] == ["opening-balance"]
    conflict = plant.trace.trace("CF-1")
    assert conflict.lot.status == "released" and conflict.lot.status_conflicts == 1
    assert "status-conflict" in [n.code for n in conflict.notes]
    assert [c.kind for c in conflict.status_history] == ["released", "rejected"]


def test_rework_cycle_terminates_with_shortest_depths(plant: Container) -> None:
    result = plant.trace.trace(lot_link(LOOP, "RW-1"))
    assert result.backward is not None and result.forward is not None
    assert keys(result.backward.lots) == {(LOOP, "RW-2"): 1}
    assert keys(result.forward.lots) == {(LOOP, "RW-2"): 1}
    assert len(result.backward.links) == 2


def test_two_thousand_deep_chain_is_walked_completely(container: Container) -> None:
    events = [ev(EventKind.RECEIVED, 0, lots=(lot(CHAIN, "CH-0", 1),), biz_location="WH")]
    events += [ev(EventKind.PRODUCED, i / 100, lots=(lot(CHAIN, f"CH-{i}", 1),),
                  work_order=f"WO-CH-{i}", inputs=(lot(CHAIN, f"CH-{i - 1}", 1),))
               for i in range(1, 2001)]
    container.ingest.append_events(events)
    back = container.trace.trace(lot_link(CHAIN, "CH-2000"), direction="backward").backward
    assert back is not None and len(back.lots) == 2000
    assert keys(back.lots)[(CHAIN, "CH-0")] == 2000
    fwd = container.trace.trace(lot_link(CHAIN, "CH-0"), direction="forward").forward
    assert fwd is not None and max(n.depth for n in fwd.lots) == 2000


# ------------------------------------------------------------------------ as of


def _append(container: Container, *events: CanonicalEvent) -> datetime:
    time.sleep(0.005)  # distinct record times
    return container.ingest.append_events(events).stored[0].record_time


def test_as_of_before_and_after_error_declaration_and_new_version(container: Container) -> None:
    a_lot = lot(FG, "AS-1", 50)
    recorded = _append(container, ev(EventKind.PRODUCED, 0, lots=(a_lot,), work_order="WO-A",
                                     biz_location="WH-FG", system="wms"))
    first = _append(container, shipped(1, lot(FG, "AS-1", 10), "DN-A", "HOSP-1", record="SHP-A"))
    second = _append(container, shipped(1, lot(FG, "AS-1", 12), "DN-A", "HOSP-1",
                                        record="SHP-A"))
    void = _append(container, ev(EventKind.ERROR_DECLARED, 2, system="wms", corrects=("SHP-A",),
                                 error_reason="did_not_occur"))
    assert recorded < first < second < void

    def quantities(as_of: datetime | None) -> list[float | None]:
        fwd = container.trace.trace("AS-1", direction="forward", as_of=as_of).forward
        assert fwd is not None
        return [s.quantity for s in fwd.shipments]

    def stock(as_of: datetime | None) -> float:
        fwd = container.trace.trace("AS-1", direction="forward", as_of=as_of).forward
        assert fwd is not None
        return sum(p.quantity for p in fwd.stock)

    assert quantities(recorded) == [] and stock(recorded) == 50
    assert quantities(first) == [10] and stock(first) == 40
    assert quantities(second) == [12] and stock(second) == 38
    assert quantities(void) == [] and quantities(None) == [] and stock(None) == 50
    before = container.trace.trace("AS-1", as_of=recorded - timedelta(seconds=1))
    assert before.lot.status is None and "facts-withdrawn" in [n.code for n in before.notes]


def test_as_of_lot_status_is_folded_from_the_facts_valid_then(container: Container) -> None:
    produced = _append(container, ev(EventKind.PRODUCED, 0, lots=(lot(FG, "ST-1", 5),),
                                     work_order="WO-S"))
    released = _append(container, ev(EventKind.RELEASED, 1, lots=(lot(FG, "ST-1"),),
                                     operator="QA-1", record="REL-1"))
    _append(container, ev(EventKind.ERROR_DECLARED, 2, corrects=("REL-1",)))
    then = container.trace.trace("ST-1", as_of=released)
    assert then.lot.status == "released" and then.release is not None
    now = container.trace.trace("ST-1")
    assert now.lot.status == "quarantine" and now.release is None
    assert container.trace.trace("ST-1", as_of=produced).lot.status == "quarantine"


# ------------------------------------------------------------------------ now == fold of the facts


def _comparable(result: TraceResult, asked: datetime) -> dict[str, Any]:
    """A trace without its ``as_of``, and without the end of storage windows still open
    when it was ``asked`` (they end at the trace time)."""
    data = result.model_dump(exclude={"as_of"})
    for window in (data.get("backward") or {}).get("environment", []):
        if window["purpose"] == "stored" and window["end"] >= asked:
            window["end"] = None
    return data


@pytest.mark.parametrize("ref", ["FG-100", "KIT-9", "IMP-1", "CF-1", "OB-1", "RES-001",
                                 serial_link(IMPLANT, "S1"), serial_link(IMPLANT, "S3")])
def test_trace_now_equals_the_fold_of_the_facts_in_force(plant: Container, ref: str) -> None:
    """A trace now reads the lot and stock projections; as of the latest record time it
    folds the facts itself. Both must say the same (REQ-22, REQ-26)."""
    asked = datetime.now(UTC)
    latest = asked + timedelta(seconds=1)
    now = plant.trace.trace(ref)
    folded = plant.trace.trace(ref, as_of=latest)
    assert folded.as_of == latest and now.as_of is None
    assert _comparable(now, asked) == _comparable(folded, asked)


def test_stock_system_of_record_is_chosen_by_movements_not_balance(container: Container) -> None:
    """WMS moved the lot and holds none of it: ERP's stale balance is not shown instead."""
    container.ingest.append_events([
        ev(EventKind.PRODUCED, 0, lots=(lot(FG, "SR-1", 10),), work_order="WO-SR",
           biz_location="WH-FG"),
        ev(EventKind.RECEIVED, 1, system="wms", lots=(lot(FG, "SR-1", 10),),
           biz_location="WH-FG"),
        shipped(2, lot(FG, "SR-1", 10), "DN-SR", "HOSP-1"),  # WMS only: ERP missed it
    ])
    for as_of in (None, datetime.now(UTC) + timedelta(seconds=1)):
        fwd = container.trace.trace("SR-1", direction="forward", as_of=as_of).forward
        assert fwd is not None
        assert fwd.stock == []
        assert [(s.shipment, s.source_system) for s in fwd.shipments] == [("DN-SR", "wms")]


def test_environment_windows_follow_each_stay_of_a_component(container: Container) -> None:
    """REQ-22: stored at WH-RM, moved to CR-1, part moved back, the rest consumed there."""
    container.ingest.append_events([
        ev(EventKind.RECEIVED, 0, lots=(lot(RESIN, "ST-R", 100),), biz_location="WH-RM"),
        ev(EventKind.MOVED, 1, lots=(lot(RESIN, "ST-R", 100),), biz_location="CR-1",
           details={"from_location": "WH-RM"}),
        ev(EventKind.CONSUMED, 2, work_order="WO-ST", biz_location="CR-1",
           inputs=(lot(RESIN, "ST-R", 60),)),
        ev(EventKind.MOVED, 3, lots=(lot(RESIN, "ST-R", 40),), biz_location="WH-RM",
           details={"from_location": "CR-1"}),
        ev(EventKind.PRODUCED, 4, lots=(lot(FG, "ST-FG", 60),), work_order="WO-ST",
           biz_location="CR-1"),
        *[ev(EventKind.ENVIRONMENT_OBSERVED, h, biz_location=place,
             sensor=(SensorReading(type="temperature", value=value, uom="CEL"),))
          for h, place, value in ((0.5, "WH-RM", 15.0), (1.5, "CR-1", 21.0),
                                  (2.5, "CR-1", 23.0), (3.5, "WH-RM", 16.0))],
    ])
    back = container.trace.trace(lot_link(FG, "ST-FG"), direction="backward").backward
    assert back is not None
    stays = [(w.location, w.start, w.end, [(s.readings, s.minimum, s.maximum)
                                           for s in w.statistics])
             for w in back.environment if w.lot == "ST-R"]
    assert stays[:2] == [("WH-RM", at(0), at(1), [(1, 15.0, 15.0)]),
                         ("CR-1", at(1), at(3), [(2, 21.0, 23.0)])]
    [(place, start, _end, readings)] = stays[2:]
    assert (place, start, readings) == ("WH-RM", at(3), [(1, 16.0, 16.0)])  # still there


def test_fan_out_forward_trace_keeps_every_shipment_line(sqlite_container: Container) -> None:
    """One component lot in 300 work orders whose lots ship in 300 deliveries: every line
    is in the result, and the trace takes a bounded number of statements (no N+1)."""
    fan = 300
    events = [ev(EventKind.RECEIVED, 0, lots=(lot(RESIN, "FAN-C", fan * 2),),
                 biz_location="WH-RM")]
    for i in range(fan):
        made = lot(FG, f"FAN-{i:03d}", 2)
        events.append(ev(EventKind.PRODUCED, 1 + i / 100, lots=(made,), work_order=f"WO-F{i}",
                         inputs=(lot(RESIN, "FAN-C", 2),), biz_location="CR-1"))
        events.append(shipped(5 + i / 100, made, f"DN-F{i:03d}", f"CUST-{i % 7}"))
    sqlite_container.ingest.append_events(events)
    statements: list[str] = []

    def count(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.set_trace_callback(statements.append)

    event.listen(sqlite_container.engine, "checkout", count)
    result = sqlite_container.trace.trace(lot_link(RESIN, "FAN-C"), direction="forward")
    event.remove(sqlite_container.engine, "checkout", count)
    fwd = result.forward
    assert fwd is not None and len(fwd.lots) == fan
    assert sorted(s.shipment for s in fwd.shipments) == [f"DN-F{i:03d}" for i in range(fan)]
    assert sum(c.totals[0].shipped for c in fwd.customers) == fan * 2
    assert sum(c.shipments for c in fwd.customers) == fan and len(fwd.customers) == 7
    assert len([s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]) < 20


# ------------------------------------------------------------------------ parsing (no database)


lot_numbers = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1,
                      max_size=20)


@given(number=lot_numbers, serial=st.booleans())
def test_digital_link_round_trips_any_lot_or_serial(number: str, serial: bool) -> None:
    link = serial_link(FG, number) if serial else lot_link(FG, number)
    parsed = parse_reference("https://example.com" + link)
    assert parsed.gtin == FG
    assert (parsed.serial if serial else parsed.lot) == number
