"""From what the user recalls to the lots the genealogy starts from.

Lots and serials are taken as given (each must exist). Criteria are resolved through
the fact projections valid now: a supplier lot through ``lot.supplier_lot``, equipment in
a time window and an operation through ``operation_fact``, an inspection characteristic
through ``inspection_fact``. A criterion that matches nothing is reported, not ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from tracebridge.domain.recall import (
    EquipmentWindow,
    InspectionCriterion,
    LotScope,
    OperationCriterion,
    ScopeItem,
    SerialRange,
    SerialScope,
    SupplierLotCriterion,
)
from tracebridge.errors import NotFound
from tracebridge.store import tables as t
from tracebridge.store.key_reads import LotKey


@dataclass(frozen=True)
class ResolvedScope:
    """Whole lots, and lots of which only some serials are recalled."""

    lots: frozenset[LotKey]
    serials: dict[LotKey, frozenset[str]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def starts(self) -> frozenset[LotKey]:
        return self.lots | frozenset(self.serials)


def resolve_scope(conn: Connection, items: Sequence[ScopeItem]) -> ResolvedScope:
    lots: set[LotKey] = set()
    serials: dict[LotKey, set[str]] = {}
    notes: list[str] = []
    for item in items:
        if isinstance(item, LotScope):
            _require_lot(conn, item)
            lots.add((item.gtin, item.lot))
        elif isinstance(item, SerialScope | SerialRange):
            found = _serials(conn, item)
            if not found:
                raise NotFound(f"Recall scope {_describe(item)}: no such serialised unit in the "
                               "store; expected serials that were produced or received")
            for key, serial in found:
                serials.setdefault(key, set()).add(serial)
        else:
            matched = _criterion(conn, item)
            if not matched:
                notes.append(f"{_describe(item)} matched no lot")
            lots.update(matched)
    partial = {key: frozenset(found) for key, found in serials.items() if key not in lots}
    return ResolvedScope(frozenset(lots), partial, tuple(notes))


def _describe(item: ScopeItem) -> str:
    match item:
        case SerialScope(gtin, serial):
            return f"serial {gtin}/{serial}"
        case SerialRange(gtin, first, last):
            return f"serials {gtin}/{first}..{last}"
        case SupplierLotCriterion(supplier_lot):
            return f"supplier lot {supplier_lot!r}"
        case EquipmentWindow(equipment, start, end):
            return f"equipment {equipment!r} from {start.isoformat()} to {end.isoformat()}"
        case OperationCriterion(operation):
            return f"operation {operation!r}"
        case InspectionCriterion(characteristic, result):
            return f"inspection characteristic {characteristic!r} with result {result!r}"
    return repr(item)


def _require_lot(conn: Connection, item: LotScope) -> None:
    c = t.lot.c
    found = conn.execute(select(c.lot).where(c.gtin == item.gtin, c.lot == item.lot)).first()
    if found is None:
        raise NotFound(f"Recall scope lot {item.gtin}/{item.lot}: no such lot in the store; "
                       "expected a lot that was received, produced or taken over")


def _serials(conn: Connection, item: SerialScope | SerialRange) -> list[tuple[LotKey, str]]:
    c = t.serial.c
    query = select(c.gtin, c.lot, c.serial).where(c.gtin == item.gtin)
    if isinstance(item, SerialScope):
        rows = conn.execute(query.where(c.serial == item.serial))
        return [((g, n), s) for g, n, s in rows]
    return [((g, n), s) for g, n, s in conn.execute(query) if item.contains(s)]


def _criterion(conn: Connection, item: ScopeItem) -> set[LotKey]:
    if isinstance(item, SupplierLotCriterion):
        c = t.lot.c
        query = select(c.gtin, c.lot).where(c.supplier_lot == item.supplier_lot)
    elif isinstance(item, EquipmentWindow):
        o = t.operation_fact.c
        query = select(o.gtin, o.lot).where(
            o.equipment == item.equipment, o.event_time >= item.start,
            o.event_time <= item.end, o.retracted_at.is_(None))
    elif isinstance(item, OperationCriterion):
        o = t.operation_fact.c
        query = select(o.gtin, o.lot).where(o.operation == item.operation,
                                            o.retracted_at.is_(None))
    elif isinstance(item, InspectionCriterion):
        i = t.inspection_fact.c
        query = select(i.gtin, i.lot).where(i.characteristic == item.characteristic,
                                            i.result == item.result, i.retracted_at.is_(None))
    else:  # pragma: no cover - every scope item type is handled above
        raise TypeError(f"unknown scope item {item!r}")
    return {(g, n) for g, n in conn.execute(query.distinct())}
