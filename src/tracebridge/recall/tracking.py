"""821 tracking answers: where a tracked unit is and who holds it (REQ 40, 41).

A unit still with us is answered from the WMS serial projection (location). A shipped
unit is answered from its last shipment line — its own or its pallet's — with the
consignee's name, address and phone from master data and the ship date. Patient data
(821.25(a)(2)) is not held here: the answer names the consignee, who holds it.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from tracebridge.domain.events import EventKind
from tracebridge.errors import NotFound
from tracebridge.recall.impact import consignees
from tracebridge.recall.model import Tracking
from tracebridge.recall.reporting import TRACKING_821_PATIENT_DAYS, TRACKING_821_UNSHIPPED_DAYS
from tracebridge.store import tables as t
from tracebridge.trace import queries as q

_AWAY = {EventKind.SHIPPED.value, EventKind.DELIVERED.value}


def track_unit(conn: Connection, gtin: str, serial: str) -> Tracking:
    c = t.serial.c
    unit = conn.execute(select(c.lot, c.status, c.location, c.party)
                        .where(c.gtin == gtin, c.serial == serial)).first()
    if unit is None:
        raise NotFound(f"No tracked unit {gtin}/{serial}: expected the GTIN and serial of a "
                       "unit that was produced or received")
    udi = f"(01){gtin}(21){serial}"
    ssccs = q.containers(conn, f"{gtin}/{serial}", None)
    lines = [r for r in q.serial_shipment_rows(conn, gtin, serial, ssccs, None)
             if r.kind == EventKind.SHIPPED.value and r.party]
    if unit.status not in _AWAY or not lines:
        return Tracking(gtin=gtin, serial=serial, lot=unit.lot, udi=udi, state="in-stock",
                        location=unit.location,
                        answer_due_working_days=TRACKING_821_UNSHIPPED_DAYS)
    last = lines[-1]
    holder = consignees(conn, [last.party])[last.party]
    distributor = holder.party_type == "distributor"
    return Tracking(
        gtin=gtin, serial=serial, lot=unit.lot, udi=udi,
        state="at-distributor" if distributor else "shipped", holder=holder,
        location=holder.address or unit.location, shipped_at=q.at_utc(last.event_time),
        shipment=last.shipment,
        answer_due_working_days=(TRACKING_821_UNSHIPPED_DAYS if distributor
                                 else TRACKING_821_PATIENT_DAYS))
