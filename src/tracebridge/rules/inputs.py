"""What a rule's CEL condition can see: seven top-level variables, always all present.

``event`` (the event that triggered the rule), ``lot`` (the state of its first lot at the
event's time), ``inputs`` (the state of each consumed component lot), ``product``,
``location`` and ``party`` (master data, with the rule pack's defaults filled in),
``stock`` (the lots stored at the event's location, or in its zone, at the event's time —
computed only when a condition reaches it),
``checks`` (facts computed from the store for the built-in rules: duplicate serials,
missing dictionary fields, the ERP/WMS difference, clock skew, lateness, complaint
ages, genealogy completeness)
and ``params`` (the rule's parameters over the file's).

Every key is always present, so a condition never hits a missing key; a value that is
not known is ``null`` and a condition compares it only after ``x != null``.
:data:`PROBE` is a complete example with every value filled in: the loader evaluates each
condition against it, which is how a type error (``lot.status > 3``) or a misspelt field
(``lot.staus``) is rejected when the file is loaded instead of in the middle of an ingest.

>>> sorted(PROBE)
['checks', 'event', 'inputs', 'location', 'lot', 'params', 'party', 'product', 'stock']
>>> PROBE["lot"]["status"]
'released'
"""

from __future__ import annotations

from typing import Any

from tracebridge.domain.events import CanonicalEvent, LotRef

VARIABLES = (
    "event", "lot", "inputs", "product", "location", "stock", "party", "checks", "params",
)

_LOT_REF: dict[str, Any] = {
    "gtin": "06901234010015",
    "lot": "260105001",
    "quantity": 100.0,
    "serials": ["S1"],
    "expiry": "2029-01-05",
    "manufactured": "2026-01-05",
}

_LOT_STATE: dict[str, Any] = {
    "present": True,
    "gtin": "06901234010015",
    "lot": "260105001",
    "status": "released",
    "origin": "produced",
    "expiry": "2029-01-05",
    "manufactured": "2026-01-05",
    "days_to_expiry": 1000,
    "failed_incoming": False,
    "on_hold": False,
}

PROBE: dict[str, Any] = {
    "event": {
        "seq": 1,
        "kind": "shipped",
        "time": "2026-01-05T04:25:00Z",
        "source_system": "wms",
        "record_id": "T1",
        "location": "FG-01-01",
        "party": "C2001",
        "work_order": "1000001",
        "shipment": "80000001",
        "lots": [_LOT_REF],
        "inputs": [_LOT_REF],
        "inspection": {
            "stage": "final",
            "characteristic": "Leak test",
            "result": "pass",
            "measured": 1.0,
            "lower": 0.5,
            "upper": 2.0,
        },
        "sensors": [{"type": "temperature", "value": 20.0, "uom": "CEL"}],
        "details": {"reason": "probe"},
    },
    "lot": _LOT_STATE,
    "inputs": [_LOT_STATE],
    "product": {
        "present": True,
        "gtin": "06901234010015",
        "name": "IV infusion set",
        "sterile": True,
        "serialised": False,
        "device_class": "II",
        "shelf_life_months": 36,
    },
    "location": {
        "key": "ZONE-FG",
        "zone": "FG",
        "temperature_min": 15.0,
        "temperature_max": 25.0,
        "humidity_max": 60.0,
    },
    "stock": [{"gtin": "06901234010015", "lot": "260105001", "quantity": 100.0}],
    "party": {
        "key": "C2001",
        "name": "Distributor",
        "party_type": "distributor",
        "min_remaining_shelf_life_days": 90,
    },
    "checks": {
        "duplicate_serials": ["S1"],
        "held_serials": ["S2"],
        "missing_fields": ["expiry_date"],
        "erp_wms_difference": 1.0,
        "counterpart_minutes": 1.0,
        "predecessor_minutes": 1.0,
        "lateness_hours": 1.0,
        "complaint_ages_days": [0.0],
        "completeness": 1.0,
        "gaps": ["no-release"],
    },
    "params": {},
}


def lot_ref_input(ref: LotRef) -> dict[str, Any]:
    return {
        "gtin": ref.gtin,
        "lot": ref.lot,
        "quantity": ref.quantity,
        "serials": list(ref.serials),
        "expiry": ref.expiry,
        "manufactured": ref.manufactured,
    }


def event_input(event: CanonicalEvent, *, seq: int, shipment: str | None) -> dict[str, Any]:
    """The ``event`` variable: the canonical event in plain CEL values."""
    inspection = event.inspection
    return {
        "seq": seq,
        "kind": event.kind.value,
        "time": event.event_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source_system": event.source.system,
        "record_id": event.source.record_id,
        "location": event.biz_location,
        "party": event.destination_party or event.source_party,
        "work_order": event.work_order,
        "shipment": shipment,
        "lots": [lot_ref_input(ref) for ref in event.lots],
        "inputs": [lot_ref_input(ref) for ref in event.inputs],
        "inspection": None if inspection is None else {
            "stage": inspection.stage,
            "characteristic": inspection.characteristic,
            "result": inspection.result,
            "measured": inspection.measured,
            "lower": inspection.lower,
            "upper": inspection.upper,
        },
        "sensors": [{"type": s.type, "value": s.value, "uom": s.uom} for s in event.sensor],
        "details": dict(event.details),
    }


def absent_lot() -> dict[str, Any]:
    """The ``lot`` variable of an event that names no lot: every key, ``present`` false."""
    return {key: (False if isinstance(value, bool) else None)
            for key, value in _LOT_STATE.items()}
