"""The reads behind a trace: batched queries over the fact projections, valid as of a time.

Every fact row carries ``recorded_at`` and ``retracted_at``. *Now* means the rows not
retracted; *as of T* means the rows recorded by T and not yet retracted at T — so a
trace as of last Tuesday shows what the system believed last Tuesday, error
declarations and superseding versions included.

Each function takes a whole set of lot keys and runs one query per chunk of keys,
never one query per lot; the genealogy walk runs one query per level.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Integer,
    String,
    Table,
    and_,
    case,
    column,
    func,
    literal,
    or_,
    select,
    values,
)

from tracebridge.store import tables as t
from tracebridge.store.event_log import CHUNK, utc

LotKey = tuple[str, str]
Fact = Any  # a result row, read by column name (row.gtin, row.lot ...)
Limits = dict[str, tuple[float | None, float | None]]

_PAIRS = CHUNK // 2  # two bound parameters per lot key
_WINDOWS_PER_QUERY = 100


def _chunks(keys: Iterable[LotKey]) -> Iterator[list[LotKey]]:
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), _PAIRS):
        yield ordered[start : start + _PAIRS]


def _keyed(gtin: ColumnElement[Any], lot: ColumnElement[Any], part: list[LotKey]
           ) -> ColumnElement[bool]:
    """``(gtin, lot)`` among ``part``, as two plain IN lists every planner puts on the index.

    Row-value IN (``(gtin, lot) IN ((?, ?), …)``) makes SQLite scan the table; the two
    lists may admit a few extra pairs, which :func:`_only` drops.
    """
    return and_(gtin.in_(sorted({g for g, _ in part})), lot.in_(sorted({n for _, n in part})))


def _only(rows: Iterable[Fact], part: list[LotKey], gtin: str = "gtin", lot: str = "lot"
          ) -> Iterator[Fact]:
    wanted = set(part)
    return (row for row in rows if (getattr(row, gtin), getattr(row, lot)) in wanted)


def valid(table: Table, as_of: datetime | None) -> ColumnElement[bool]:
    """Rows of ``table`` in force now (``as_of`` None) or at record time ``as_of``."""
    return _valid(table.c.recorded_at, table.c.retracted_at, as_of)


def _valid(recorded: ColumnElement[Any], retracted: ColumnElement[Any], as_of: datetime | None
           ) -> ColumnElement[bool]:
    if as_of is None:
        return retracted.is_(None)
    return and_(recorded <= as_of, or_(retracted.is_(None), retracted > as_of))


# ------------------------------------------------------------------------ genealogy


@dataclass(frozen=True, slots=True)
class Edge:
    input: LotKey
    output: LotKey
    work_order: str
    operation: str | None
    quantity: float | None
    uom: str | None


def genealogy(conn: Connection, start: LotKey, *, direction: Literal["backward", "forward"],
              as_of: datetime | None) -> tuple[dict[LotKey, int], list[Edge]]:
    """Breadth-first walk from ``start``: each reachable lot with its depth, and the edges.

    A visited set makes rework loops terminate; depth is the shortest distance.
    """
    g = t.genealogy_edge_view.c
    near, far = ((g.out_gtin, g.out_lot), (g.in_gtin, g.in_lot))
    if direction == "forward":
        near, far = far, near
    validity = and_(_valid(g.in_recorded_at, g.in_retracted_at, as_of),
                    _valid(g.out_recorded_at, g.out_retracted_at, as_of))
    columns = (g.in_gtin, g.in_lot, g.out_gtin, g.out_lot, g.work_order, g.operation, g.quantity,
               g.uom)
    depth = {start: 0}
    edges: dict[Edge, None] = {}
    frontier = [start]
    level = 0
    while frontier:
        level += 1
        reached: list[LotKey] = []
        for part in _chunks(frontier):
            query = select(*columns).where(_keyed(*near, part), validity).distinct()
            names = ("out_gtin", "out_lot") if direction == "backward" else ("in_gtin", "in_lot")
            for row in _only(conn.execute(query), part, *names):
                edge = Edge((row.in_gtin, row.in_lot), (row.out_gtin, row.out_lot),
                            row.work_order, row.operation, row.quantity, row.uom)
                edges[edge] = None
                key = edge.input if direction == "backward" else edge.output
                if key not in depth:
                    depth[key] = level
                    reached.append(key)
        frontier = reached
    return depth, list(edges)


# ------------------------------------------------------------------------ lot facts


def lot_facts(conn: Connection, keys: Iterable[LotKey], as_of: datetime | None
              ) -> dict[LotKey, list[Fact]]:
    """Each lot's valid ``lot_event`` rows in event-time order (what its state is a fold of)."""
    le = t.lot_event.c
    out: dict[LotKey, list[Fact]] = {}
    for part in _chunks(keys):
        query = (select(le.gtin, le.lot, le.role, le.kind, le.quantity, le.uom, le.manufactured,
                        le.expiry, le.party, le.supplier_lot, le.work_order, le.actor, le.reason,
                        le.location, le.event_time)
                 .where(_keyed(le.gtin, le.lot, part), valid(t.lot_event, as_of))
                 .order_by(le.gtin, le.lot, le.event_time, le.event_seq))
        for row in _only(conn.execute(query), part):
            out.setdefault((row.gtin, row.lot), []).append(row)
    return out


def inspections(conn: Connection, keys: Iterable[LotKey], as_of: datetime | None
                ) -> list[Fact]:
    c = t.inspection_fact.c
    rows: list[Fact] = []
    for part in _chunks(keys):
        query = (select(c.gtin, c.lot, c.stage, c.characteristic, c.result, c.measured, c.lower,
                        c.upper, c.unit, c.inspector, c.inspection_id, c.event_time)
                 .where(_keyed(c.gtin, c.lot, part), valid(t.inspection_fact, as_of))
                 .order_by(c.event_time, c.event_seq))
        rows.extend(_only(conn.execute(query), part))
    return rows


def operations(conn: Connection, keys: Iterable[LotKey], as_of: datetime | None
               ) -> list[Fact]:
    c = t.operation_fact.c
    rows: list[Fact] = []
    for part in _chunks(keys):
        query = (select(c.gtin, c.lot, c.work_order, c.operation, c.kind, c.equipment, c.operator,
                        c.location, c.sensor, c.event_time)
                 .where(_keyed(c.gtin, c.lot, part), valid(t.operation_fact, as_of))
                 .order_by(c.event_time, c.event_seq))
        rows.extend(_only(conn.execute(query), part))
    return rows


def stock_moves(conn: Connection, keys: Iterable[LotKey], as_of: datetime | None
                ) -> list[Fact]:
    c = t.stock_move.c
    rows: list[Fact] = []
    for part in _chunks(keys):
        query = (select(c.gtin, c.lot, c.location, c.delta, c.uom, c.source_system, c.event_time)
                 .where(_keyed(c.gtin, c.lot, part), valid(t.stock_move, as_of))
                 .order_by(c.event_time, c.event_seq))
        rows.extend(_only(conn.execute(query), part))
    return rows


# ------------------------------------------------------------------------ shipments


_SHIPMENT_COLUMNS = ("shipment", "kind", "sscc", "gtin", "lot", "serial", "quantity", "uom",
                     "party", "from_location", "source_system", "event_time", "event_seq")


def shipment_rows(conn: Connection, keys: Iterable[LotKey], as_of: datetime | None
                  ) -> list[Fact]:
    c = t.shipment_line.c
    rows: list[Fact] = []
    for part in _chunks(keys):
        query = (select(*(c[name] for name in _SHIPMENT_COLUMNS))
                 .where(_keyed(c.gtin, c.lot, part), valid(t.shipment_line, as_of))
                 .order_by(c.event_time, c.event_seq))
        rows.extend(_only(conn.execute(query), part))
    return rows


def containers(conn: Connection, child: str, as_of: datetime | None) -> list[str]:
    """Every SSCC ``child`` ("gtin/serial") was packed into, directly or in a bigger unit."""
    a = t.aggregation_edge.c
    found: dict[str, None] = {}
    frontier = [child]
    while frontier:
        query = select(a.parent).where(a.child.in_(frontier), valid(t.aggregation_edge, as_of))
        frontier = [p for p in conn.execute(query).scalars() if p not in found]
        found.update(dict.fromkeys(frontier))
    return list(found)


def serial_shipment_rows(conn: Connection, gtin: str, serial: str, ssccs: Sequence[str],
                         as_of: datetime | None) -> list[Fact]:
    """Shipment lines naming the unit itself, or a container it was packed in."""
    c = t.shipment_line.c
    own = and_(c.gtin == gtin, c.serial == serial)
    condition = own
    if ssccs:
        in_container = and_(c.sscc.in_(list(ssccs)), c.gtin == gtin,
                            or_(c.serial.is_(None), c.serial == serial))
        condition = or_(own, in_container)
    query = (select(*(c[name] for name in _SHIPMENT_COLUMNS))
             .where(condition, valid(t.shipment_line, as_of))
             .order_by(c.event_time, c.event_seq))
    return list(conn.execute(query))


# ------------------------------------------------------------------------ environment


@dataclass(frozen=True, slots=True)
class Window:
    location: str
    start: datetime
    end: datetime


def environment(conn: Connection, windows: Sequence[Window], limits: Limits,
                as_of: datetime | None) -> dict[Window, list[dict[str, Any]]]:
    """Per window and reading type: count, min, max and — where limits are known — excursions.

    Aggregated in the database (the windows joined in as a VALUES common table
    expression), so a long storage window does not drag every reading into Python.
    """
    e = t.environment_fact.c
    outside = [and_(e.type == kind, or_(*([e.value < lo] if lo is not None else []),
                                        *([e.value > hi] if hi is not None else [])))
               for kind, (lo, hi) in sorted(limits.items()) if lo is not None or hi is not None]
    excursion = or_(*outside) if outside else literal(False)
    out: dict[Window, list[dict[str, Any]]] = {w: [] for w in windows}
    ordered = list(out)
    for start in range(0, len(ordered), _WINDOWS_PER_QUERY):
        part = ordered[start : start + _WINDOWS_PER_QUERY]
        span = values(column("window_index", Integer), column("location", String),
                      column("since", DateTime(timezone=True)),
                      column("until", DateTime(timezone=True)), name="span").data(
            [(i, w.location, w.start, w.end) for i, w in enumerate(part)]).cte("span")
        query = (select(span.c.window_index, e.type, e.uom, func.count().label("readings"),
                        func.min(e.value).label("minimum"), func.max(e.value).label("maximum"),
                        func.sum(case((excursion, 1), else_=0)).label("excursions"),
                        func.min(case((excursion, e.event_time))).label("first_excursion"),
                        func.max(case((excursion, e.event_time))).label("last_excursion"))
                 .select_from(span.join(t.environment_fact, and_(
                     e.location == span.c.location, e.event_time >= span.c.since,
                     e.event_time <= span.c.until)))
                 .where(valid(t.environment_fact, as_of))
                 .group_by(span.c.window_index, e.type, e.uom))
        for row in conn.execute(query):
            out[part[row.window_index]].append(dict(row._mapping))
    return out


def at_utc(value: datetime | str | None) -> datetime | None:
    """Datetimes as stored: SQLite returns naive UTC (and aggregates return text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return utc(value)


def widen(start: datetime, end: datetime, margin: timedelta) -> tuple[datetime, datetime]:
    return start - margin, end + margin
