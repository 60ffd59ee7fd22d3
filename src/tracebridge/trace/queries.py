"""The reads behind a trace: batched queries over the projections, valid now or as of a time.

Every fact row carries ``recorded_at`` and ``retracted_at``. *Now* means the rows not
retracted; *as of T* means the rows recorded by T and not yet retracted at T — so a
trace as of last Tuesday shows what the system believed last Tuesday, error
declarations and superseding versions included.

A trace *now* reads the state projections (``lot``, ``stock``), which are kept equal to
the fold of the valid facts; only a trace *as of* folds the facts itself. Totals and
statistics are computed in the database (stock sums, environment counts, the running
stock balance that says when a lot was in a place), so a lot with thousands of
movements costs a handful of rows, not thousands.

Each function takes a whole set of lot keys and runs one query per chunk of keys,
never one query per lot; the genealogy walk runs one query per level. The statement
templates are public: the trace benchmark loads whole tables with the same columns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection

from tracebridge.domain.events import EventKind
from tracebridge.domain.lot_status import STATUS_CHANGING_KINDS
from tracebridge.store.bulk import datetime_param
from tracebridge.store.event_log import utc
from tracebridge.store.key_reads import LotKey as LotKey
from tracebridge.store.key_reads import as_of_params, by_keys, by_values, valid_clause
from tracebridge.store.projections import lot_state
from tracebridge.trace.sql import mark, run

Fact = Any  # a result row, read by column name (row.gtin, row.lot ...)
Limits = dict[str, tuple[float | None, float | None]]

_WINDOWS_PER_QUERY = 100
_ZERO = 1e-9  # stock at or below this is none (float sums of rounded quantities)
MILESTONE_KINDS = tuple(sorted({EventKind.RECEIVED.value, EventKind.HOLD_RELEASED.value}
                               | {kind.value for kind in STATUS_CHANGING_KINDS}))


# ------------------------------------------------------------------------ genealogy


@dataclass(frozen=True, slots=True)
class Edge:
    input: LotKey
    output: LotKey
    work_order: str
    operation: str | None
    quantity: float | None
    uom: str | None


EDGES = ("SELECT DISTINCT in_gtin, in_lot, out_gtin, out_lot, work_order, operation, quantity, "
         "uom FROM genealogy_edge WHERE {keys} AND {valid}")


def genealogy(conn: Connection, start: LotKey, *, direction: Literal["backward", "forward"],
              as_of: datetime | None) -> tuple[dict[LotKey, int], list[Edge]]:
    """Breadth-first walk from ``start`` (:func:`walk`), one query per level."""
    backward = direction == "backward"
    columns, near = (("out_gtin", "out_lot"), (2, 3)) if backward else (("in_gtin", "in_lot"),
                                                                         (0, 1))

    def edges_from(frontier: list[LotKey]) -> list[Edge]:
        return [Edge((row[0], row[1]), (row[2], row[3]), row[4], row[5], row[6], row[7])
                for row in by_keys(conn, EDGES, frontier, as_of, columns=columns,
                                   prefixes=("in_", "out_"), near=near)]

    return walk(start, edges_from, backward=backward)


def walk(start: LotKey, edges_from: Callable[[list[LotKey]], Iterable[Edge]], *,
         backward: bool) -> tuple[dict[LotKey, int], list[Edge]]:
    """Each lot reachable from ``start`` with its depth, and the edges on the way.

    ``edges_from(frontier)`` gives the edges touching a level's lots. A visited set makes
    rework loops terminate; depth is the shortest distance.
    """
    depth = {start: 0}
    edges: dict[Edge, None] = {}
    frontier = [start]
    level = 0
    while frontier:
        level += 1
        reached: list[LotKey] = []
        for edge in edges_from(frontier):
            edges[edge] = None
            key = edge.input if backward else edge.output
            if key not in depth:
                depth[key] = level
                reached.append(key)
        frontier = reached
    return depth, sorted(edges, key=edge_order)


def edge_order(edge: Edge) -> tuple[object, ...]:
    """Links in a stable order, whatever order the store returned them in."""
    return (edge.input, edge.output, edge.work_order, edge.operation or "", edge.uom or "",
            edge.quantity if edge.quantity is not None else float("-inf"))


# ------------------------------------------------------------------------ lots

LOT_STATE = ("SELECT gtin, lot, origin, status, status_conflicts, manufactured, expiry, "
             "quantity, uom, work_order, supplier, supplier_lot FROM lot WHERE {keys}")
_LOT_FACTS = ("SELECT gtin, lot, role, kind, quantity, uom, manufactured, expiry, party, "
              "source_system, supplier_lot, work_order, event_time FROM lot_event "
              "WHERE {keys} AND {valid} ORDER BY gtin, lot, event_time, event_seq")
# No ORDER BY: it would steer the planner to the (gtin, lot, event_time) index and past
# every shipment and packing record of the lot; the few rows are sorted here instead.
MILESTONES = ("SELECT gtin, lot, kind, actor, reason, event_time, event_seq FROM lot_event "
              "WHERE {keys} AND {valid} AND role = 'subject' AND kind IN ("
              + ", ".join(f"'{kind}'" for kind in MILESTONE_KINDS) + ")")


def lot_states(conn: Connection, keys: Collection[LotKey], as_of: datetime | None
               ) -> dict[LotKey, dict[str, Any]]:
    """Each lot's state: the ``lot`` projection now, the fold of the facts valid ``as_of``.

    A lot without valid facts has no state (absent from the result).
    """
    if as_of is None:
        return {(row.gtin, row.lot): row._asdict()
                for row in by_keys(conn, LOT_STATE, keys, None, prefixes=())}
    grouped: dict[LotKey, list[Fact]] = {}
    for row in by_keys(conn, _LOT_FACTS, keys, as_of):
        grouped.setdefault((row.gtin, row.lot), []).append(row)
    return {key: lot_state(key, rows) for key, rows in grouped.items()}


def milestones(conn: Connection, keys: Collection[LotKey], as_of: datetime | None
               ) -> dict[LotKey, list[Fact]]:
    """Receipts and status changes of each lot, in event-time order."""
    out: dict[LotKey, list[Fact]] = {}
    rows = by_keys(conn, MILESTONES, keys, as_of)
    rows.sort(key=lambda r: (r.gtin, r.lot, r.event_time, r.event_seq))
    for row in rows:
        out.setdefault((row.gtin, row.lot), []).append(row)
    return out


INSPECTIONS = ("SELECT gtin, lot, stage, characteristic, result, measured, lower, upper, unit, "
               "inspector, inspection_id, event_time, event_seq FROM inspection_fact "
               "WHERE {keys} AND {valid} ORDER BY event_time, event_seq")


def inspections(conn: Connection, keys: Collection[LotKey], as_of: datetime | None
                ) -> list[Fact]:
    return list(by_keys(conn, INSPECTIONS, keys, as_of))


def _moment(value: datetime | str) -> datetime:
    return at_utc(value) or datetime.min  # SQLite text and PostgreSQL datetimes alike


@dataclass(frozen=True, slots=True)
class Step:
    gtin: str
    lot: str
    work_order: str | None
    operation: str | None
    kind: str
    equipment: str | None
    operator: str | None
    location: str | None
    sensor: list[dict[str, Any]]
    event_time: datetime


OPERATIONS = ("SELECT gtin, lot, work_order, operation, kind, equipment, operator, location, "
              "sensor, event_time, event_seq FROM operation_fact WHERE {keys} AND {valid} "
              "ORDER BY event_time, event_seq")


def operations(conn: Connection, keys: Collection[LotKey], as_of: datetime | None
               ) -> list[Step]:
    return [step(r) for r in by_keys(conn, OPERATIONS, keys, as_of)]


def step(row: Fact) -> Step:
    """An ``operation_fact`` row as read (sensor JSON decoded, time parsed)."""
    return Step(row.gtin, row.lot, row.work_order, row.operation, row.kind, row.equipment,
                row.operator, row.location, _sensor(row.sensor), _moment(row.event_time))


def _sensor(value: object) -> list[dict[str, Any]]:
    if isinstance(value, str | bytes):  # JSON is text on SQLite, decoded on PostgreSQL
        value = json.loads(value)
    return list(value) if isinstance(value, list) else []


# ------------------------------------------------------------------------ stock


@dataclass(frozen=True, slots=True)
class Holding:
    gtin: str
    lot: str
    location: str
    source_system: str
    quantity: float
    uom: str | None


STOCK_NOW = ("SELECT gtin, lot, location, source_system, quantity, uom FROM stock "
             "WHERE {keys}")
_STOCK_AS_OF = ("SELECT gtin, lot, location, source_system, SUM(delta) AS quantity, "
                "MAX(uom) AS uom FROM stock_move WHERE {keys} AND {valid} "
                "GROUP BY gtin, lot, location, source_system")
STOCK_SYSTEMS = ("SELECT DISTINCT gtin, lot, source_system FROM stock_move "
                 "WHERE {keys} AND {valid}")


def stock(conn: Connection, keys: Collection[LotKey], as_of: datetime | None, preferred: str
          ) -> list[Holding]:
    """Stock on hand per lot and location, from each lot's system of record."""
    template = STOCK_NOW if as_of is None else _STOCK_AS_OF
    rows = by_keys(conn, template, keys, as_of, named=False,
                   prefixes=() if as_of is None else ("",))
    return stock_of_record(rows, preferred, lambda undecided: _moved_by(conn, undecided, as_of))


def _moved_by(conn: Connection, keys: Collection[LotKey], as_of: datetime | None
              ) -> dict[LotKey, set[str]]:
    systems: dict[LotKey, set[str]] = {}
    for r in by_keys(conn, STOCK_SYSTEMS, keys, as_of):
        systems.setdefault((r.gtin, r.lot), set()).add(r.source_system)
    return systems


def stock_of_record(rows: Iterable[Sequence[Any]], preferred: str,
                    moved_by: Callable[[set[LotKey]], dict[LotKey, set[str]]]
                    ) -> list[Holding]:
    """The non-zero ``(gtin, lot, location, system, quantity, uom)`` rows of each lot's
    system of record.

    The system of record is ``preferred`` when it has any stock movement for the lot
    (even if they net to zero), else the first other system with movements; only for
    lots without ``preferred`` stock is ``moved_by`` asked which systems moved them.
    """
    held = sorted((gtin, lot, location, system, round(quantity, 6), uom)
                  for gtin, lot, location, system, quantity, uom in rows
                  if abs(quantity) > _ZERO)
    with_preferred = {(h[0], h[1]) for h in held if h[3] == preferred}
    undecided = {(h[0], h[1]) for h in held} - with_preferred
    chosen = dict.fromkeys(with_preferred, preferred)
    if undecided:
        chosen.update({key: preferred if preferred in found else min(found)
                       for key, found in moved_by(undecided).items()})
    return [Holding(*h) for h in held if chosen.get((h[0], h[1])) == h[3]]


@dataclass(frozen=True, slots=True)
class Crossing:
    """A stock movement that took a lot's balance at a location above zero or back to it."""

    gtin: str
    lot: str
    location: str
    arrived: bool
    at: datetime


MOVES = ("SELECT gtin, lot, location, source_system, delta, event_time, event_seq "
         "FROM stock_move WHERE {keys} AND {valid} ORDER BY event_time, event_seq")


def crossings(conn: Connection, keys: Collection[LotKey], as_of: datetime | None,
              preferred: str) -> list[Crossing]:
    """When each lot's stock (system of record) arrived at and left each location.

    Folded here, not in SQL: a window-function query that returned only the crossings
    measured twice as slow on SQLite as fetching the moves and folding them.
    """
    return fold_crossings(by_keys(conn, MOVES, keys, as_of, named=False), preferred)


def fold_crossings(moves: Sequence[Sequence[Any]], preferred: str) -> list[Crossing]:
    """The moves ``(gtin, lot, location, system, delta, event_time, …)``, in event-time order,
    that take a lot's running balance at a location above zero or back to it.

    Only the lot's system of record counts: ``preferred`` when it has moves of the lot.
    """
    systems: dict[LotKey, set[str]] = {}
    for gtin, lot, _, system, *_ in moves:
        systems.setdefault((gtin, lot), set()).add(system)
    chosen = {key: preferred if preferred in found else min(found)
              for key, found in systems.items()}
    balance: dict[tuple[str, str, str], float] = {}
    out = []
    for gtin, lot, location, system, delta, event_time, *_ in moves:
        if system != chosen[(gtin, lot)]:
            continue
        key = (gtin, lot, location)
        before = balance.get(key, 0.0)
        balance[key] = after = before + delta
        arrived = before <= _ZERO < after
        if arrived or after <= _ZERO < before:
            out.append(Crossing(gtin, lot, location, arrived, _moment(event_time)))
    return out


# ------------------------------------------------------------------------ shipments

_SHIPMENT_COLUMNS = ("gtin, lot, shipment, kind, sscc, serial, quantity, uom, party, "
                     "from_location, source_system, event_time, event_seq")
SHIPMENTS = (f"SELECT {_SHIPMENT_COLUMNS} FROM shipment_line WHERE {{keys}} AND {{valid}} "
             "ORDER BY event_time, event_seq")


def shipment_rows(conn: Connection, keys: Collection[LotKey], as_of: datetime | None
                  ) -> list[Fact]:
    return list(by_keys(conn, SHIPMENTS, keys, as_of))


_PARENTS = "SELECT parent FROM aggregation_edge WHERE child IN ({values}) AND {valid}"


def containers(conn: Connection, child: str, as_of: datetime | None) -> list[str]:
    """Every SSCC ``child`` ("gtin/serial") was packed into, directly or in a bigger unit."""
    found: dict[str, None] = {}
    frontier = [child]
    while frontier:
        parents = [row.parent for row in by_values(conn, _PARENTS, frontier, as_of)]
        frontier = [p for p in dict.fromkeys(parents) if p not in found]
        found.update(dict.fromkeys(frontier))
    return list(found)


_UNIT_LINES = (f"SELECT {_SHIPMENT_COLUMNS} FROM shipment_line WHERE gtin = {{m}} "
               "AND serial = {m} AND {valid} ORDER BY event_time, event_seq")
_PALLET_LINES = (f"SELECT {_SHIPMENT_COLUMNS} FROM shipment_line "
                 "WHERE sscc IN ({values}) AND {valid}")


def serial_shipment_rows(conn: Connection, gtin: str, serial: str, ssccs: Sequence[str],
                         as_of: datetime | None) -> list[Fact]:
    """Shipment lines naming the unit itself, or a container it was packed in.

    Two indexed reads (by unit, by SSCC) rather than one OR, which SQLite would answer
    by scanning every line of the GTIN.
    """
    m = mark(conn)
    sql = _UNIT_LINES.format(m=m, valid=valid_clause("", as_of is None, m))
    own = run(conn, sql, (gtin, serial, *as_of_params(conn, as_of, 1)))
    if not ssccs:
        return own
    # A line of the container for this GTIN without a serial (a serial of its own is
    # either this unit, already read, or another unit).
    packed = [row for row in by_values(conn, _PALLET_LINES, ssccs, as_of)
              if row.gtin == gtin and row.serial is None]
    return sorted([*own, *packed], key=lambda row: (row.event_time, row.event_seq))


def serial_last_seen(conn: Connection, gtin: str, serial: str, as_of: datetime | None
                     ) -> Fact | None:
    """The unit's last movement (a hold of the unit is not one: see ``serial_hold``)."""
    return _last_serial_fact(conn, gtin, serial, as_of, "NOT IN")


def serial_hold(conn: Connection, gtin: str, serial: str, as_of: datetime | None
                ) -> Fact | None:
    """The unit's last hold or hold release of its own, if any."""
    return _last_serial_fact(conn, gtin, serial, as_of, "IN")


def _last_serial_fact(conn: Connection, gtin: str, serial: str, as_of: datetime | None,
                      holds: str) -> Fact | None:
    m = mark(conn)
    sql = (f"SELECT kind, location, party, event_time FROM serial_fact WHERE gtin = {m} AND "
           f"serial = {m} AND kind {holds} ('held', 'hold_released') AND "
           f"{valid_clause('', as_of is None, m)} "
           "ORDER BY event_time DESC, event_seq DESC LIMIT 1")
    params = [gtin, serial] + ([] if as_of is None else [datetime_param(conn, as_of)] * 2)
    found = run(conn, sql, params)
    return found[0] if found else None


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
    m = mark(conn)
    postgres = conn.dialect.name == "postgresql"
    stamp = f"CAST({m} AS TIMESTAMP WITH TIME ZONE)" if postgres else m
    number = f"CAST({m} AS INTEGER)" if postgres else m
    outside: list[str] = []
    limit_params: list[Any] = []
    for kind, (lo, hi) in sorted(limits.items()):
        bounds = ([f"e.value < {m}"] if lo is not None else []) + (
            [f"e.value > {m}"] if hi is not None else [])
        if bounds:
            outside.append(f"(e.type = {m} AND ({' OR '.join(bounds)}))")
            limit_params += [kind, *(b for b in (lo, hi) if b is not None)]
    excursion = " OR ".join(outside) if outside else "1 = 0"
    validity = [] if as_of is None else [datetime_param(conn, as_of)] * 2
    out: dict[Window, list[dict[str, Any]]] = {w: [] for w in windows}
    ordered = list(out)
    names = ("window_index", "type", "uom", "readings", "minimum", "maximum", "excursions",
             "first_excursion", "last_excursion")
    for start in range(0, len(ordered), _WINDOWS_PER_QUERY):
        part = ordered[start : start + _WINDOWS_PER_QUERY]
        rows = ", ".join(f"({number}, {m}, {stamp}, {stamp})" for _ in part)
        sql = (f"WITH span (window_index, location, since, until) AS (VALUES {rows}) "
               "SELECT span.window_index, e.type, e.uom, COUNT(*), MIN(e.value), MAX(e.value), "
               f"SUM(CASE WHEN {excursion} THEN 1 ELSE 0 END), "
               f"MIN(CASE WHEN {excursion} THEN e.event_time END), "
               f"MAX(CASE WHEN {excursion} THEN e.event_time END) "
               "FROM span JOIN environment_fact e ON e.location = span.location "
               "AND e.event_time >= span.since AND e.event_time <= span.until "
               f"WHERE {valid_clause('e.', as_of is None, m)} "
               "GROUP BY span.window_index, e.type, e.uom")
        params = [value for i, w in enumerate(part)
                  for value in (i, w.location, datetime_param(conn, w.start),
                                datetime_param(conn, w.end))]
        params += limit_params * 3 + validity
        for row in run(conn, sql, params):
            values = dict(zip(names, tuple(row), strict=True))
            out[part[values.pop("window_index")]].append(values)
    return out


def at_utc(value: datetime | str | None) -> datetime | None:
    """Datetimes as stored: SQLite returns naive UTC text through the driver."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return utc(value)
