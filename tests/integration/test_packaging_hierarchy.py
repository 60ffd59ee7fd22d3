"""REQ-50: UDIs on the device and every packaging level, the hierarchy stored, SSCCs apart.

Units are packed into a case, cases into a pallet; the pallet ships. The store keeps
each parent/child link, the unit's forward trace reaches the shipment through the
pallet, and a shipping container's SSCC is never accepted as a UDI.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tracebridge.bootstrap import Container
from tracebridge.domain.events import BizTransaction, CanonicalEvent, EventKind, LotRef, Source
from tracebridge.domain.udi.parse import parse_udi
from tracebridge.errors import InvalidIdentifier
from tracebridge.store import tables as t

T0 = datetime(2026, 4, 1, 1, 0, tzinfo=UTC)
DEVICE = "09506000134369"
CASE = "095060001000000012"
PALLET = "095060001000000029"


def event(kind: EventKind, hours: float, record: str, **fields: object) -> CanonicalEvent:
    return CanonicalEvent(kind=kind, event_time=T0 + timedelta(hours=hours),
                          event_time_zone_offset="+08:00",
                          source=Source(system="wms", record_id=record), **fields)  # type: ignore[arg-type]


@pytest.fixture
def packed(container: Container) -> Container:
    units = ("U1", "U2", "U3")
    container.ingest.append_events([
        event(EventKind.PRODUCED, 0, "P-1", work_order="WO-1", biz_location="FG",
              lots=(LotRef(gtin=DEVICE, lot="L-1", quantity=3, uom="EA", serials=units),)),
        event(EventKind.PACKED, 1, "PK-1", parent=CASE,
              lots=(LotRef(gtin=DEVICE, lot="L-1", serials=units),)),
        event(EventKind.PACKED, 2, "PK-2", parent=PALLET, children=(CASE,)),
        event(EventKind.SHIPPED, 3, "SH-1", parent=PALLET, biz_location="FG",
              destination_party="HOSP-1",
              biz_transactions=(BizTransaction(type="desadv", id="DN-9"),),
              lots=(LotRef(gtin=DEVICE, lot="L-1", quantity=3, uom="EA"),)),
    ])
    return container


def test_req50_packaging_hierarchy_is_stored(packed: Container) -> None:
    a = t.aggregation_edge.c
    with packed.engine.connect() as conn:
        links = set(conn.execute(select(a.parent, a.child_type, a.child)
                                 .where(a.retracted_at.is_(None))).all())
    assert links == {
        (CASE, "serial", f"{DEVICE}/U1"), (CASE, "serial", f"{DEVICE}/U2"),
        (CASE, "serial", f"{DEVICE}/U3"), (PALLET, "sscc", CASE),
    }


def test_req50_a_unit_is_traced_through_its_case_and_pallet(packed: Container) -> None:
    result = packed.trace.trace(f"/01/{DEVICE}/21/U2")
    assert result.forward is not None
    shipments = {(s.shipment, s.consignee.code if s.consignee else None)
                 for s in result.forward.shipments}
    assert shipments == {("DN-9", "HOSP-1")}


def test_req50_a_shipping_container_is_not_a_udi() -> None:
    with pytest.raises(InvalidIdentifier, match="not a UDI"):
        parse_udi(f"(00){PALLET}")  # a valid SSCC, but a shipping container carries no UDI
    assert parse_udi(f"(01){DEVICE}(21)U2").serial == "U2"
