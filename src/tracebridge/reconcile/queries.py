"""Reading each system's own view of its lots from the fact projections.

Every valid fact row becomes an :class:`~tracebridge.reconcile.compare.Observation`,
tagged with the system that reported it and the source record it came from
(``event.source_record_id`` via ``event_seq``). Nothing is summed here: summing,
location mapping and comparing are the pure part (``compare.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, or_, select

from tracebridge.domain.events import EventKind
from tracebridge.domain.lot_status import fold
from tracebridge.reconcile.compare import Measure, Observation
from tracebridge.store import tables as t
from tracebridge.store.event_log import utc

LotKey = tuple[str, str]
CHUNK = 400

# lot_event (kind, role) -> the quantity measure it counts towards.
LOT_EVENT_MEASURES: dict[tuple[str, str], Measure] = {
    (EventKind.RECEIVED.value, "subject"): Measure.RECEIVED,
    (EventKind.PRODUCED.value, "output"): Measure.PRODUCED,
    (EventKind.OPENING_BALANCE.value, "subject"): Measure.OPENING_BALANCE,
    (EventKind.CONSUMED.value, "input"): Measure.CONSUMED,
    (EventKind.RETURNED.value, "subject"): Measure.RETURNED,
    (EventKind.SCRAPPED.value, "subject"): Measure.SCRAPPED,
    (EventKind.STOCK_ADJUSTED.value, "subject"): Measure.ADJUSTED,
}
# Quality decisions only: a partial scrap is a quantity, not the lot's status.
STATUS_KINDS = frozenset(
    k.value
    for k in (
        EventKind.RELEASED,
        EventKind.HELD,
        EventKind.HOLD_RELEASED,
        EventKind.REJECTED,
        EventKind.RECALLED,
    )
)


def lots_changed_since(conn: Connection, since: datetime) -> set[LotKey]:
    """Lots with a fact recorded or withdrawn at or after ``since``."""
    le = t.lot_event.c
    when = utc(since)
    query = select(le.gtin, le.lot).distinct().where(
        or_(le.recorded_at >= when, le.retracted_at >= when)
    )
    return {(r.gtin, r.lot) for r in conn.execute(query)}


def lots_known(conn: Connection, systems: tuple[str, str]) -> set[LotKey]:
    """Every lot either system has said anything about (the KPI's denominator)."""
    le = t.lot_event.c
    query = (
        select(le.gtin, le.lot)
        .distinct()
        .where(le.retracted_at.is_(None), le.source_system.in_(systems))
    )
    return {(r.gtin, r.lot) for r in conn.execute(query)}


def _scoped(conn: Connection, query: Select[Any], gtin: Any, lot: Any,
            part: list[LotKey] | None) -> Iterator[Any]:
    """The rows of ``query`` for the lots of ``part`` (all lots when None).

    Two IN lists rather than a row-value ``(gtin, lot) IN (…)``, which SQLite answers by
    scanning the whole table; the lists may admit pairs not asked for, dropped here.
    """
    if part is None:
        yield from conn.execute(query)
        return
    wanted = set(part)
    scoped = query.where(gtin.in_(sorted({g for g, _ in part})),
                         lot.in_(sorted({n for _, n in part})))
    for row in conn.execute(scoped):
        if (row.gtin, row.lot) in wanted:
            yield row


def _parts(lots: set[LotKey] | None) -> Iterator[list[LotKey] | None]:
    if lots is None:
        yield None
        return
    ordered = sorted(lots)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def observations(
    conn: Connection, *, lots: set[LotKey] | None, systems: tuple[str, str]
) -> list[Observation]:
    """Everything the two systems reported about ``lots`` (every lot when None)."""
    out: list[Observation] = []
    for part in _parts(lots):
        out.extend(_lot_events(conn, part, systems))
        out.extend(_shipments(conn, part, systems))
        out.extend(_stock(conn, part, systems))
        out.extend(_serials(conn, part, systems))
    return out


def _lot_events(
    conn: Connection, part: list[LotKey] | None, systems: tuple[str, str]
) -> Iterator[Observation]:
    le, ev = t.lot_event.c, t.event.c
    query = (
        select(
            le.gtin, le.lot, le.role, le.kind, le.quantity, le.location, le.manufactured,
            le.expiry, le.source_system, le.event_seq, ev.source_record_id,
        )
        .join(t.event, ev.seq == le.event_seq)
        .where(le.retracted_at.is_(None), le.source_system.in_(systems))
        .order_by(le.gtin, le.lot, le.event_time, le.event_seq)
    )
    statuses: dict[tuple[str, str, str], list[EventKind]] = defaultdict(list)
    for r in _scoped(conn, query, le.gtin, le.lot, part):
        common = (r.source_system, r.gtin, r.lot)
        measure = LOT_EVENT_MEASURES.get((r.kind, r.role))
        if measure is not None and r.quantity is not None:
            yield Observation(
                measure, *common, r.location or "", "", r.quantity,
                seq=r.event_seq, record=r.source_record_id,
            )
        if r.role != "input":
            for date_measure in (Measure.MANUFACTURED, Measure.EXPIRY):
                value = getattr(r, date_measure.value)
                if value:
                    yield Observation(
                        date_measure, *common, "", "", value,
                        seq=r.event_seq, record=r.source_record_id,
                    )
        if r.role == "subject" and r.kind in STATUS_KINDS:
            # The side's status after this event: the lot state machine run over that
            # system's own status decisions, so both sides are read by the same rules.
            kinds = statuses[common]
            kinds.append(EventKind(r.kind))
            state, _ = fold(kinds)
            yield Observation(
                Measure.STATUS, *common, "", "", state.status.value,
                seq=r.event_seq, record=r.source_record_id,
            )


def _shipments(
    conn: Connection, part: list[LotKey] | None, systems: tuple[str, str]
) -> Iterator[Observation]:
    sl, ev = t.shipment_line.c, t.event.c
    query = (
        select(
            sl.gtin, sl.lot, sl.quantity, sl.from_location, sl.shipment, sl.source_system,
            sl.event_seq, ev.source_record_id,
        )
        .join(t.event, ev.seq == sl.event_seq)
        .where(
            sl.retracted_at.is_(None),
            sl.kind == EventKind.SHIPPED.value,
            sl.source_system.in_(systems),
        )
    )
    for r in _scoped(conn, query, sl.gtin, sl.lot, part):
        yield Observation(
            Measure.SHIPPED, r.source_system, r.gtin, r.lot, r.from_location or "",
            r.shipment, r.quantity or 0.0, seq=r.event_seq, record=r.source_record_id,
        )


def _stock(
    conn: Connection, part: list[LotKey] | None, systems: tuple[str, str]
) -> Iterator[Observation]:
    sm, ev = t.stock_move.c, t.event.c
    query = (
        select(
            sm.gtin, sm.lot, sm.location, sm.delta, sm.source_system, sm.event_seq,
            ev.source_record_id,
        )
        .join(t.event, ev.seq == sm.event_seq)
        .where(sm.retracted_at.is_(None), sm.source_system.in_(systems))
    )
    for r in _scoped(conn, query, sm.gtin, sm.lot, part):
        yield Observation(
            Measure.ON_HAND, r.source_system, r.gtin, r.lot, r.location, "", r.delta,
            seq=r.event_seq, record=r.source_record_id,
        )


def _serials(
    conn: Connection, part: list[LotKey] | None, systems: tuple[str, str]
) -> Iterator[Observation]:
    sf, ev = t.serial_fact.c, t.event.c
    query = (
        select(sf.gtin, sf.lot, sf.serial, sf.event_seq, ev.source_system, ev.source_record_id)
        .join(t.event, ev.seq == sf.event_seq)
        .where(sf.retracted_at.is_(None), ev.source_system.in_(systems))
    )
    for r in _scoped(conn, query, sf.gtin, sf.lot, part):
        yield Observation(
            Measure.SERIALS, r.source_system, r.gtin, r.lot, "", "", r.serial,
            seq=r.event_seq, record=r.source_record_id,
        )


def open_findings(conn: Connection, lots: set[LotKey] | None) -> list[Any]:
    f = t.reconciliation_finding.c
    rows: list[Any] = []
    for part in _parts(lots):
        query = select(t.reconciliation_finding).where(f.status == "open")
        rows.extend(_scoped(conn, query, f.gtin, f.lot, part))
    return rows


def resolving_record(conn: Connection, seqs: Iterable[int]) -> tuple[int, str] | None:
    """The newest record among ``seqs`` and the error declarations that withdrew any of them.

    A finding closes because a later record arrived: a corrected version (it is among the
    current facts), an addition, or a reversal that withdrew a wrong record.
    """
    wanted = sorted(set(seqs))
    if not wanted:
        return None
    ev, corr = t.event.c, t.event_correction.c
    candidates: set[int] = set(wanted)
    for start in range(0, len(wanted), CHUNK):
        part = wanted[start : start + CHUNK]
        query = (
            select(corr.declared_by_seq)
            .join(
                t.event,
                (ev.source_system == corr.source_system)
                & (ev.source_record_id == corr.source_record_id),
            )
            .where(ev.seq.in_(part))
        )
        candidates.update(int(s) for s in conn.execute(query).scalars())
    newest = max(candidates)
    row = conn.execute(
        select(ev.source_system, ev.source_record_id).where(ev.seq == newest)
    ).one()
    return newest, f"{row.source_system}:{row.source_record_id}"


def source_records(conn: Connection, seqs: Iterable[int]) -> list[dict[str, Any]]:
    """The events behind ``seqs`` with their raw payloads, for the drill-down."""
    wanted = sorted(set(seqs))
    ev, raw = t.event.c, t.raw_record.c
    out: list[dict[str, Any]] = []
    for start in range(0, len(wanted), CHUNK):
        part = wanted[start : start + CHUNK]
        query = (
            select(
                ev.seq, ev.kind, ev.event_time, ev.record_time, ev.source_system,
                ev.source_record_id, ev.version, ev.raw_record_id, raw.record_type, raw.origin,
                raw.payload,
            )
            .outerjoin(t.raw_record, raw.id == ev.raw_record_id)
            .where(ev.seq.in_(part))
            .order_by(ev.seq)
        )
        for r in conn.execute(query):
            out.append(
                {
                    "seq": int(r.seq),
                    "kind": r.kind,
                    "event_time": utc(r.event_time).isoformat(),
                    "record_time": utc(r.record_time).isoformat(),
                    "source_system": r.source_system,
                    "source_record_id": r.source_record_id,
                    "version": r.version,
                    "raw_record_id": r.raw_record_id,
                    "record_type": r.record_type,
                    "origin": r.origin,
                    "raw_payload": None
                    if r.payload is None
                    else bytes(r.payload).decode("utf-8", errors="replace"),
                }
            )
    return out
