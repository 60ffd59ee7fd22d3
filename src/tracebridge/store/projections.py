"""Keeping the projections in step with the log, in the same transaction as the append.

For a batch of newly stored events:

1. insert the facts each event contributes (``store.facts``) — born retracted when an
   error declaration for its source record is already known;
2. retract the facts of what the batch withdraws: the version a new version
   supersedes, and every version of a record an error declaration names;
3. recompute the *state* rows (lot, serial, stock) of every key touched, as a fold of
   that key's valid facts.

Step 3 depends only on the facts, and the facts only on the log, so applying the log
in one go (``rebuild``) or batch by batch gives the same state.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from tracebridge.dictionary.loader import load_dictionary
from tracebridge.domain.events import EventKind
from tracebridge.domain.lot_status import STATUS_CHANGING_KINDS, LotStatus, fold
from tracebridge.store import tables as t
from tracebridge.store.bulk import (
    chunks,
    datetime_param,
    in_list,
    insert_rows,
    placeholder,
)
from tracebridge.store.event_log import CHUNK, StoredEvent, utc
from tracebridge.store.facts import UNIT_HOLD_KINDS, facts_of
from tracebridge.store.key_reads import by_keys
from tracebridge.store.status_fold import fold_status, status_steps

FACT_TABLES = {
    "lot_event": t.lot_event,
    "material_flow": t.material_flow,
    "serial_fact": t.serial_fact,
    "stock_move": t.stock_move,
    "aggregation_edge": t.aggregation_edge,
    "shipment_line": t.shipment_line,
    "inspection_fact": t.inspection_fact,
    "operation_fact": t.operation_fact,
    "environment_fact": t.environment_fact,
    "quality_fact": t.quality_fact,
}
ORIGIN_OF = {
    EventKind.PRODUCED.value: "produced",
    EventKind.RECEIVED.value: "received",
    EventKind.OPENING_BALANCE.value: "opening_balance",
}

LotKey = tuple[str, str]
# Enum values read once: the folds below compare them per fact, and each ``.value`` is a
# descriptor call.
_PRODUCED = EventKind.PRODUCED.value
_RECEIVED = EventKind.RECEIVED.value
_STATUS_KIND = {kind.value: kind for kind in STATUS_CHANGING_KINDS}
_UNIT_HOLDS = frozenset(k.value for k in UNIT_HOLD_KINDS)

# Which source system's figure a lot's quantity is, per the data dictionary.
LOT_QUANTITY_SYSTEM = load_dictionary().source_of_truth("lot", "quantity")


def apply(conn: Connection, stored: Sequence[StoredEvent]) -> None:
    """Bring every projection up to date with ``stored`` (already appended, in seq order)."""
    if not stored:
        return
    corrections = _known_corrections(conn, stored)
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    retractions: dict[datetime, set[int]] = defaultdict(set)
    new_corrections: list[dict[str, Any]] = []
    touched_lots: set[LotKey] = set()
    touched_serials: set[LotKey] = set()

    for item in stored:
        ev = item.event
        system = ev.source.system
        if item.supersedes_seq is not None:
            retractions[item.record_time].add(item.supersedes_seq)
        if ev.kind is EventKind.ERROR_DECLARED:
            for record_id in ev.corrects:
                corrections[(system, record_id)] = item.record_time
                new_corrections.append(
                    {
                        "source_system": system,
                        "source_record_id": record_id,
                        "declared_by_seq": item.seq,
                        "reason": ev.error_reason,
                        "recorded_at": item.record_time,
                    }
                )
        void_since = corrections.get((system, ev.source.record_id))
        for table, facts in facts_of(ev, seq=item.seq, record_time=item.record_time).items():
            if void_since is not None:
                for fact in facts:
                    fact["retracted_at"] = item.record_time
            rows[table].extend(facts)
        for ref in (*ev.lots, *ev.inputs):
            touched_lots.add(ref.key)
            touched_serials.update((ref.gtin, s) for s in ref.serials)

    for table_name, table_rows in rows.items():
        insert_rows(conn, FACT_TABLES[table_name], table_rows)
    if new_corrections:
        insert_rows(conn, t.event_correction, new_corrections)
        for correction in new_corrections:
            seqs = _seqs_of_record(
                conn,
                correction["source_system"],
                correction["source_record_id"],
                before=correction["declared_by_seq"],
            )
            retractions[correction["recorded_at"]].update(seqs)
    withdrawn_lots: set[LotKey] = set()
    for when, withdrawn in sorted(retractions.items()):  # the earliest withdrawal wins
        lots, serials = _retract(conn, sorted(withdrawn), when)
        withdrawn_lots |= lots
        touched_serials |= serials
    touched_lots |= withdrawn_lots

    steps = status_steps(rows.get("lot_event", []))
    folded = fold_status(conn, {k: v for k, v in steps.items() if k not in withdrawn_lots})
    moved = {(r["gtin"], r["lot"]) for r in rows.get("stock_move", [])}
    refresh_lots(conn, touched_lots - folded)
    refresh_stock(conn, touched_lots - (folded - moved))
    refresh_serials(conn, touched_serials)
    _set_position(conn, stored[-1].seq)


def _known_corrections(
    conn: Connection, stored: Sequence[StoredEvent]
) -> dict[tuple[str, str], datetime]:
    wanted: dict[str, set[str]] = defaultdict(set)
    for item in stored:
        wanted[item.event.source.system].add(item.event.source.record_id)
    found: dict[tuple[str, str], datetime] = {}
    c = t.event_correction.c
    for system, ids in wanted.items():
        ordered = sorted(ids)
        for start in range(0, len(ordered), CHUNK):
            part = ordered[start : start + CHUNK]
            query = select(c.source_record_id, c.recorded_at).where(
                c.source_system == system, c.source_record_id.in_(part)
            )
            for record_id, recorded_at in conn.execute(query):
                found[(system, record_id)] = utc(recorded_at)
    return found


def _seqs_of_record(conn: Connection, system: str, record_id: str, *, before: int) -> list[int]:
    e = t.event.c
    query = select(e.seq).where(
        e.source_system == system, e.source_record_id == record_id, e.seq < before
    )
    return [int(s) for s in conn.execute(query).scalars()]


def _retract(conn: Connection, seqs: list[int], when: datetime) -> tuple[set[LotKey], set[LotKey]]:
    lots: set[LotKey] = set()
    serials: set[LotKey] = set()
    stamp = datetime_param(conn, when)
    for part in chunks(seqs, CHUNK):
        marks = in_list(conn, len(part))
        live = f"event_seq IN ({marks}) AND retracted_at IS NULL"
        lots.update(
            (gtin, lot) for gtin, lot in
            conn.exec_driver_sql(f"SELECT gtin, lot FROM lot_event WHERE {live}", tuple(part))
        )
        serials.update(
            (gtin, serial) for gtin, serial in
            conn.exec_driver_sql(f"SELECT gtin, serial FROM serial_fact WHERE {live}", tuple(part))
        )
        mark = placeholder(conn)
        for table in FACT_TABLES.values():
            conn.exec_driver_sql(
                f"UPDATE {table.name} SET retracted_at = {mark} WHERE {live}", (stamp, *part)
            )
    return lots, serials


def _chunks(keys: Iterable[LotKey]) -> Iterable[list[LotKey]]:
    """Keys in bounded parts, so a rebuild never holds every lot's facts at once."""
    ordered = sorted(keys)
    for start in range(0, len(ordered), CHUNK // 2):
        yield ordered[start : start + CHUNK // 2]


def _delete_keys(conn: Connection, table: str, columns: tuple[str, str],
                 part: list[LotKey]) -> None:
    """Delete the state rows of exactly these keys: one primary-key lookup each."""
    mark = placeholder(conn)
    conn.exec_driver_sql(
        f"DELETE FROM {table} WHERE {columns[0]} = {mark} AND {columns[1]} = {mark}", part)


_LOT_FACTS = (
    "SELECT gtin, lot, role, kind, quantity, uom, manufactured, expiry, party, source_system, "
    "supplier_lot, work_order, event_time FROM lot_event WHERE {keys} AND {valid} "
    "ORDER BY gtin, lot, event_time, event_seq"
)


def refresh_lots(conn: Connection, keys: set[LotKey]) -> None:
    for part in _chunks(keys):
        _delete_keys(conn, "lot", ("gtin", "lot"), part)
        grouped: dict[LotKey, list[Any]] = defaultdict(list)
        for row in by_keys(conn, _LOT_FACTS, part, None):
            grouped[(row.gtin, row.lot)].append(row)
        insert_rows(conn, t.lot, [lot_state(key, facts) for key, facts in grouped.items()])


def lot_state(key: LotKey, facts: list[Any]) -> dict[str, Any]:
    """Fold one lot's valid facts (in event-time order) into its current state."""
    origin = "seen"
    for fact in facts:
        if fact.role != "input" and fact.kind in ORIGIN_OF:
            origin = ORIGIN_OF[fact.kind]
            break
    quantities: dict[str, float] = {}  # per source system: ERP and WMS both report receipts
    uom = manufactured = expiry = work_order = supplier = supplier_lot = None
    statuses: list[EventKind] = []
    for fact in facts:
        kind = fact.kind
        if fact.role != "input" and ORIGIN_OF.get(kind) == origin and fact.quantity is not None:
            system = fact.source_system
            quantities[system] = quantities.get(system, 0.0) + fact.quantity
            uom = uom or fact.uom
        manufactured = fact.manufactured or manufactured
        expiry = fact.expiry or expiry
        if kind == _PRODUCED and fact.role == "output" and fact.work_order:
            work_order = fact.work_order
        elif kind == _RECEIVED:
            supplier = fact.party or supplier
            supplier_lot = fact.supplier_lot or supplier_lot
        if fact.role == "subject" and kind in _STATUS_KIND:
            statuses.append(_STATUS_KIND[kind])
    quantity = _from_system_of_record(quantities, LOT_QUANTITY_SYSTEM)
    initial = LotStatus.RELEASED if origin == "opening_balance" else LotStatus.QUARANTINE
    final, conflicts = fold(statuses, initial)
    return {
        "gtin": key[0],
        "lot": key[1],
        "origin": origin,
        "status": final.status.value,
        "status_conflicts": len(conflicts),
        "quantity": quantity,
        "uom": uom,
        "manufactured": manufactured,
        "expiry": expiry,
        "work_order": work_order,
        "supplier": supplier,
        "supplier_lot": supplier_lot,
        "first_event_time": facts[0].event_time,
        "last_event_time": facts[-1].event_time,
    }


def _from_system_of_record(per_system: dict[str, float], preferred: str) -> float | None:
    """The preferred system's figure; another system's only when it has none."""
    if preferred in per_system:
        return round(per_system[preferred], 6)
    return round(per_system[min(per_system)], 6) if per_system else None


_STOCK_SUMS = (
    "SELECT gtin, lot, location, source_system, SUM(delta) AS quantity, MAX(uom) AS uom "
    "FROM stock_move WHERE {keys} AND {valid} GROUP BY gtin, lot, location, source_system"
)


def refresh_stock(conn: Connection, keys: set[LotKey]) -> None:
    for part in _chunks(keys):
        _delete_keys(conn, "stock", ("gtin", "lot"), part)
        rows = [
            {
                "gtin": r.gtin,
                "lot": r.lot,
                "location": r.location,
                "source_system": r.source_system,
                "quantity": round(r.quantity, 6),
                "uom": r.uom,
            }
            for r in by_keys(conn, _STOCK_SUMS, part, None)
            if abs(r.quantity) > 1e-9
        ]
        insert_rows(conn, t.stock, rows)


_SERIAL_FACTS = (
    "SELECT gtin, serial, lot, kind, location, party FROM serial_fact "
    "WHERE {keys} AND {valid} ORDER BY gtin, serial, event_time, event_seq"
)


def refresh_serials(conn: Connection, keys: set[LotKey]) -> None:
    for part in _chunks(keys):
        _delete_keys(conn, "serial", ("gtin", "serial"), part)
        latest: dict[LotKey, dict[str, Any]] = {}
        for row in by_keys(conn, _SERIAL_FACTS, part, None, columns=("gtin", "serial")):
            key = (row.gtin, row.serial)
            state = latest.setdefault(
                key,
                {
                    "gtin": row.gtin,
                    "serial": row.serial,
                    "lot": row.lot,
                    "status": row.kind,
                    "location": None,
                    "party": None,
                    "on_hold": False,
                },
            )
            if row.kind in _UNIT_HOLDS:  # the unit is blocked or free again; it did not move
                state["on_hold"] = row.kind == EventKind.HELD.value
                continue
            if row.kind == EventKind.PRODUCED.value:
                state["lot"] = row.lot
            state["status"] = row.kind
            state["location"] = row.location or state["location"]
            if row.kind in (
                EventKind.SHIPPED.value,
                EventKind.DELIVERED.value,
                EventKind.RETURNED.value,
            ):
                state["party"] = row.party
        insert_rows(conn, t.serial, list(latest.values()))


def _set_position(conn: Connection, seq: int) -> None:
    pp = t.projection_position
    changed = conn.execute(update(pp).where(pp.c.name == "main").values(position=seq)).rowcount
    if not changed:
        conn.execute(insert(pp).values(name="main", position=seq))
