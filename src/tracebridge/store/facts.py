"""What each canonical event contributes to the fact projections — pure, no database.

``facts_of(event, seq=..., record_time=...)`` returns rows keyed by table name. The
projection writer inserts them; ``rebuild`` calls the same function over the whole log,
which is why a rebuilt store and an incrementally updated one are the same.

>>> from datetime import datetime, timezone
>>> from tracebridge.domain.events import CanonicalEvent, EventKind, LotRef, Source
>>> t = datetime(2026, 3, 1, tzinfo=timezone.utc)
>>> e = CanonicalEvent(kind=EventKind.SHIPPED, event_time=t, event_time_zone_offset="+00:00",
...     lots=(LotRef(gtin="09506000134352", lot="L1", quantity=5, uom="EA"),),
...     biz_location="WH1", destination_party="HOSP-1", source=Source(system="wms", record_id="S1"))
>>> rows = facts_of(e, seq=7, record_time=t)
>>> rows["stock_move"][0]["delta"], rows["shipment_line"][0]["party"]
(-5.0, 'HOSP-1')
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from tracebridge.domain.events import CanonicalEvent, EventKind, LotRef

Row = dict[str, Any]

# How each kind moves stock at its business location: +1 in, -1 out, 0 none.
STOCK_SIGN: dict[EventKind, int] = {
    EventKind.OPENING_BALANCE: 1,
    EventKind.RECEIVED: 1,
    EventKind.PRODUCED: 1,
    EventKind.RETURNED: 1,
    EventKind.STOCK_ADJUSTED: 1,  # the quantity itself carries the sign
    EventKind.CONSUMED: -1,
    EventKind.SHIPPED: -1,
    EventKind.SCRAPPED: -1,
}

QUALITY_KINDS = frozenset(
    {EventKind.COMPLAINT_RECEIVED, EventKind.NONCONFORMANCE_RAISED, EventKind.RECALLED}
)
SHIPMENT_KINDS = frozenset({EventKind.SHIPPED, EventKind.DELIVERED, EventKind.RETURNED})
UNIT_HOLD_KINDS = frozenset({EventKind.HELD, EventKind.HOLD_RELEASED})
SHIPMENT_TRANSACTION_TYPES = ("desadv", "delivery", "bol", "inv", "rma")


def _quantity(ref: LotRef) -> float | None:
    if ref.quantity is not None:
        return round(float(ref.quantity), 6)
    if ref.serials:
        return float(len(ref.serials))
    return None


def shipment_number(event: CanonicalEvent) -> str:
    """The business document a shipment line belongs to (falls back to the record id)."""
    for wanted in SHIPMENT_TRANSACTION_TYPES:
        for bt in event.biz_transactions:
            if bt.type == wanted:
                return bt.id
    return event.source.record_id


def unit_hold(kind: EventKind, ref: LotRef) -> bool:
    """A hold (or its release) naming serials blocks those units, not their lot."""
    return kind in UNIT_HOLD_KINDS and bool(ref.serials)


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def facts_of(event: CanonicalEvent, *, seq: int, record_time: datetime) -> dict[str, list[Row]]:
    """Rows this event adds to each fact table (tables it does not touch are absent)."""
    out: dict[str, list[Row]] = defaultdict(list)
    base = {
        "event_seq": seq,
        "event_time": event.event_time,
        "recorded_at": record_time,
        "retracted_at": None,
    }
    kind = event.kind
    system = event.source.system
    details = event.details
    actor = event.operator
    reason = _str(details.get("reason"))
    party = event.source_party or event.destination_party
    location = event.biz_location

    def lot_row(ref: LotRef, role: str) -> Row:
        return {
            **base,
            "gtin": ref.gtin,
            "lot": ref.lot,
            "role": role,
            "kind": kind.value,
            "quantity": _quantity(ref),
            "uom": ref.uom,
            "manufactured": ref.manufactured,
            "expiry": ref.expiry,
            "location": location,
            "party": party,
            "supplier_lot": _str(details.get("supplier_lot"))
            if kind is EventKind.RECEIVED
            else None,
            "work_order": event.work_order,
            "actor": actor,
            "reason": reason,
            "source_system": system,
        }

    output_role = "output" if kind is EventKind.PRODUCED else "subject"
    for ref in event.lots:
        # A hold of single units leaves the lot's status alone (see ``unit_hold``).
        out["lot_event"].append(lot_row(ref, "units" if unit_hold(kind, ref) else output_role))
    for ref in event.inputs:
        out["lot_event"].append(lot_row(ref, "input"))

    if kind in (EventKind.PRODUCED, EventKind.CONSUMED):
        # Without a work order, a transformation's own id joins its inputs to its outputs.
        order = event.work_order or f"event:{event.event_id[:16]}"
        outputs = event.lots if kind is EventKind.PRODUCED else ()
        for direction, refs in (("in", event.inputs), ("out", outputs)):
            for ref in refs:
                out["material_flow"].append(
                    {
                        **base,
                        "work_order": order,
                        "direction": direction,
                        "gtin": ref.gtin,
                        "lot": ref.lot,
                        "quantity": _quantity(ref),
                        "uom": ref.uom,
                        "operation": event.operation,
                    }
                )

    _stock_facts(event, base, out)

    if kind in (EventKind.PROCESSED, EventKind.PRODUCED):
        sensor = [r.model_dump() for r in event.sensor] or None
        for ref in event.lots:
            out["operation_fact"].append(
                {
                    **base,
                    "gtin": ref.gtin,
                    "lot": ref.lot,
                    "work_order": event.work_order,
                    "operation": event.operation,
                    "kind": kind.value,
                    "equipment": event.equipment,
                    "operator": event.operator,
                    "location": location,
                    "sensor": sensor,
                }
            )

    if event.inspection is not None:
        insp = event.inspection
        for ref in event.lots:
            out["inspection_fact"].append(
                {
                    **base,
                    "gtin": ref.gtin,
                    "lot": ref.lot,
                    "stage": insp.stage,
                    "characteristic": insp.characteristic,
                    "result": insp.result,
                    "measured": insp.measured,
                    "lower": insp.lower,
                    "upper": insp.upper,
                    "unit": insp.unit,
                    "inspector": insp.inspector or event.operator,
                    "inspection_id": insp.inspection_id,
                }
            )

    if kind is EventKind.ENVIRONMENT_OBSERVED and location:
        for reading in event.sensor:
            out["environment_fact"].append(
                {
                    **base,
                    "location": location,
                    "type": reading.type,
                    "value": reading.value,
                    "uom": reading.uom,
                }
            )

    if kind in SHIPMENT_KINDS:
        number = shipment_number(event)
        for ref in event.lots:
            common = {
                **base,
                "shipment": number,
                "kind": kind.value,
                "sscc": event.parent,
                "gtin": ref.gtin,
                "lot": ref.lot,
                "uom": ref.uom,
                "party": party,
                "from_location": location,
                "source_system": system,
            }
            if ref.serials:
                for serial in ref.serials:
                    out["shipment_line"].append({**common, "serial": serial, "quantity": 1.0})
            else:
                out["shipment_line"].append({**common, "serial": None, "quantity": _quantity(ref)})

    if kind is EventKind.PACKED and event.parent:
        for child in event.children:
            out["aggregation_edge"].append(
                {
                    **base,
                    "parent": event.parent,
                    "child_type": "sscc",
                    "child": child,
                    "quantity": None,
                }
            )
        for ref in event.lots:
            if ref.serials:
                for serial in ref.serials:
                    out["aggregation_edge"].append(
                        {
                            **base,
                            "parent": event.parent,
                            "child_type": "serial",
                            "child": f"{ref.gtin}/{serial}",
                            "quantity": 1.0,
                        }
                    )
            else:
                out["aggregation_edge"].append(
                    {
                        **base,
                        "parent": event.parent,
                        "child_type": "lot",
                        "child": f"{ref.gtin}/{ref.lot}",
                        "quantity": _quantity(ref),
                    }
                )

    for ref in (*event.lots, *event.inputs):
        for serial in ref.serials:
            out["serial_fact"].append(
                {
                    **base,
                    "gtin": ref.gtin,
                    "serial": serial,
                    "lot": ref.lot,
                    "kind": kind.value,
                    "location": location,
                    "party": party,
                }
            )

    if kind in QUALITY_KINDS:
        reference = _str(
            details.get("complaint_id") or details.get("nc_id") or details.get("recall_id")
        )
        subjects: tuple[LotRef | None, ...] = event.lots or (None,)
        for subject in subjects:
            serials: tuple[str | None, ...] = (
                subject.serials if subject is not None and subject.serials else (None,)
            )
            for unit in serials:
                out["quality_fact"].append(
                    {
                        **base,
                        "gtin": subject.gtin if subject else None,
                        "lot": subject.lot if subject else None,
                        "serial": unit,
                        "kind": kind.value,
                        "reference": reference,
                        "party": party,
                        "details": dict(details) or None,
                    }
                )
    return dict(out)


def _stock_facts(event: CanonicalEvent, base: Row, out: dict[str, list[Row]]) -> None:
    kind = event.kind
    system = event.source.system
    if kind is EventKind.MOVED:
        origin = _str(event.details.get("from_location"))
        for ref in event.lots:
            qty = _quantity(ref)
            if qty is None:
                continue
            if origin:
                out["stock_move"].append(
                    {
                        **base,
                        "gtin": ref.gtin,
                        "lot": ref.lot,
                        "location": origin,
                        "delta": -qty,
                        "uom": ref.uom,
                        "kind": kind.value,
                        "source_system": system,
                    }
                )
            if event.biz_location:
                out["stock_move"].append(
                    {
                        **base,
                        "gtin": ref.gtin,
                        "lot": ref.lot,
                        "location": event.biz_location,
                        "delta": qty,
                        "uom": ref.uom,
                        "kind": kind.value,
                        "source_system": system,
                    }
                )
        return
    sign = STOCK_SIGN.get(kind)
    if sign is None or not event.biz_location:
        return
    if kind is EventKind.PRODUCED and event.inputs:
        # A transformation that names its inputs consumes them where it happened.
        for ref in event.inputs:
            qty = _quantity(ref)
            if qty is not None:
                out["stock_move"].append(
                    {
                        **base,
                        "gtin": ref.gtin,
                        "lot": ref.lot,
                        "location": event.biz_location,
                        "delta": -qty,
                        "uom": ref.uom,
                        "kind": EventKind.CONSUMED.value,
                        "source_system": system,
                    }
                )
    refs = event.inputs if kind is EventKind.CONSUMED else event.lots
    for ref in refs:
        qty = _quantity(ref)
        if qty is None:
            continue
        out["stock_move"].append(
            {
                **base,
                "gtin": ref.gtin,
                "lot": ref.lot,
                "location": event.biz_location,
                "delta": sign * qty,
                "uom": ref.uom,
                "kind": kind.value,
                "source_system": system,
            }
        )
