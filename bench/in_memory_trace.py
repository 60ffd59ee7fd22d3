"""The trace's reads answered from Python dicts: the floor any store is measured against.

:class:`InMemoryReads` loads every row a trace *now* can read — with the very statements
of ``tracebridge.trace.queries``, over whole tables instead of a set of lots — and keys
them by lot (or location, or SSCC). It implements the ``TraceReads`` port, so
``TraceService.assemble`` builds the identical trace from it: same walk, same system
of record, same environment statistics, same result models. What is left between the
two is what the store costs.

Only traces *now* of lots are served (``as_of`` is refused): those are what the benchmark
times. Rows are kept in the order the store returns them and merged across lots by
(event time, event sequence), as the store's ``ORDER BY`` does.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Engine

from tracebridge.store.bulk import datetime_param
from tracebridge.trace import queries as q
from tracebridge.trace.queries import Crossing, Edge, Fact, Holding, Limits, LotKey, Step, Window
from tracebridge.trace.reference import Resolved, parse_reference
from tracebridge.trace.sql import master, run

_EVERY_LOT = {"keys": "1 = 1", "valid": "retracted_at IS NULL"}


def _load(conn: Connection, template: str, **slots: str) -> list[Any]:
    return run(conn, template.format(**{**_EVERY_LOT, **slots}))


def _by_lot(rows: Sequence[Any]) -> dict[LotKey, list[Any]]:
    out: dict[LotKey, list[Any]] = defaultdict(list)
    for row in rows:
        out[(row[0], row[1])].append(row)
    return out


class InMemoryReads:
    """``TraceReads`` over rows loaded once into dicts (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        with engine.connect() as conn:
            self.datetime_param = lambda value: datetime_param(conn, value)
            edges = _load(conn, q.EDGES, valid="in_retracted_at IS NULL AND "
                                                 "out_retracted_at IS NULL")
            self.states = {(r.gtin, r.lot): r._asdict() for r in _load(conn, q.LOT_STATE)}
            self.milestones_of = _by_lot(sorted(_load(conn, q.MILESTONES),
                                                key=lambda r: (r.event_time, r.event_seq)))
            self.inspections_of = _by_lot(_load(conn, q.INSPECTIONS))
            self.steps_of = _by_lot(_load(conn, q.OPERATIONS))
            self.stock_of = _by_lot(_load(conn, q.STOCK_NOW))
            self.moves_of = _by_lot(_load(conn, q.MOVES))
            self.shipments_of = _by_lot(_load(conn, q.SHIPMENTS))
            self.masters = self._masters(conn)
            self.readings = self._readings(conn)
        self.down: dict[LotKey, list[Edge]] = defaultdict(list)
        self.up: dict[LotKey, list[Edge]] = defaultdict(list)
        for row in edges:
            edge = Edge((row[0], row[1]), (row[2], row[3]), row[4], row[5], row[6], row[7])
            self.down[edge.input].append(edge)
            self.up[edge.output].append(edge)
        self.moved_by = {key: {m.source_system for m in moves}
                         for key, moves in self.moves_of.items()}

    @staticmethod
    def _masters(conn: Connection) -> dict[str, dict[str, Any]]:
        wanted: dict[str, set[str]] = defaultdict(set)
        for entity, key in run(conn, "SELECT DISTINCT entity, key FROM master_record",
                               named=False):
            wanted[entity].add(key)
        return master(conn, wanted)

    @staticmethod
    def _readings(conn: Connection) -> dict[str, tuple[list[Any], list[tuple[Any, ...]]]]:
        """Per location: reading times as stored, and ``(type, uom, value, time)`` rows."""
        by_location: dict[str, tuple[list[Any], list[tuple[Any, ...]]]] = {}
        for location, event_time, kind, uom, value in run(conn, (
                "SELECT location, event_time, type, uom, value FROM environment_fact "
                "WHERE retracted_at IS NULL ORDER BY location, event_time"), named=False):
            times, rows = by_location.setdefault(location, ([], []))
            times.append(event_time)
            rows.append((kind, uom, value, event_time))
        return by_location

    def resolve(self, ref: str) -> Resolved:
        reference = parse_reference(ref)
        assert reference.gtin is not None and reference.lot is not None, ref
        assert (reference.gtin, reference.lot) in self.states, ref
        return Resolved("lot", reference.gtin, reference.lot, None, reference.form)

    # ------------------------------------------------------------------ TraceReads

    def genealogy(self, start: LotKey, *, direction: Literal["backward", "forward"],
                  as_of: datetime | None) -> tuple[dict[LotKey, int], list[Edge]]:
        _now_only(as_of)
        graph = self.up if direction == "backward" else self.down
        return q.walk(start, lambda frontier: [e for key in frontier for e in graph.get(key, ())],
                      backward=direction == "backward")

    def lot_states(self, keys: Collection[LotKey], as_of: datetime | None
                   ) -> dict[LotKey, dict[str, Any]]:
        _now_only(as_of)
        return {key: self.states[key] for key in keys if key in self.states}

    def milestones(self, keys: Collection[LotKey], as_of: datetime | None
                   ) -> dict[LotKey, list[Fact]]:
        _now_only(as_of)
        return {key: self.milestones_of[key] for key in keys if key in self.milestones_of}

    def inspections(self, keys: Collection[LotKey], as_of: datetime | None) -> list[Fact]:
        _now_only(as_of)
        return _in_time_order(self.inspections_of, keys)

    def operations(self, keys: Collection[LotKey], as_of: datetime | None) -> list[Step]:
        _now_only(as_of)
        return [q.step(r) for r in _in_time_order(self.steps_of, keys)]

    def stock(self, keys: Collection[LotKey], as_of: datetime | None, preferred: str
              ) -> list[Holding]:
        _now_only(as_of)
        rows = [r for key in set(keys) for r in self.stock_of.get(key, ())]
        return q.stock_of_record(rows, preferred, lambda undecided: {
            key: self.moved_by[key] for key in undecided if key in self.moved_by})

    def crossings(self, keys: Collection[LotKey], as_of: datetime | None, preferred: str
                  ) -> list[Crossing]:
        _now_only(as_of)
        return q.fold_crossings(_in_time_order(self.moves_of, keys), preferred)

    def shipment_rows(self, keys: Collection[LotKey], as_of: datetime | None) -> list[Fact]:
        _now_only(as_of)
        return _in_time_order(self.shipments_of, keys)

    def environment(self, windows: Sequence[Window], limits: Limits, as_of: datetime | None
                    ) -> dict[Window, list[dict[str, Any]]]:
        """The store's per-window aggregate (count, min, max, excursions), in Python."""
        _now_only(as_of)
        out: dict[Window, list[dict[str, Any]]] = {}
        for window in windows:
            times, rows = self.readings.get(window.location, ([], []))
            since = self.datetime_param(window.start)
            until = self.datetime_param(window.end)
            groups: dict[tuple[str, str], dict[str, Any]] = {}
            for kind, uom, value, at in rows[bisect.bisect_left(times, since):
                                             bisect.bisect_right(times, until)]:
                group = groups.get((kind, uom))
                if group is None:
                    group = groups[(kind, uom)] = {
                        "type": kind, "uom": uom, "readings": 0, "minimum": value,
                        "maximum": value, "excursions": 0, "first_excursion": None,
                        "last_excursion": None}
                group["readings"] += 1
                group["minimum"] = min(group["minimum"], value)
                group["maximum"] = max(group["maximum"], value)
                lower, upper = limits.get(kind, (None, None))
                if (lower is not None and value < lower) or (upper is not None and value > upper):
                    group["excursions"] += 1
                    group["first_excursion"] = min(group["first_excursion"] or at, at)
                    group["last_excursion"] = max(group["last_excursion"] or at, at)
            out[window] = list(groups.values())
        return out

    def master(self, wanted: dict[str, Collection[str]]) -> dict[str, dict[str, Any]]:
        names = (f"{entity}/{key}" for entity, keys in wanted.items() for key in keys)
        return {name: self.masters[name] for name in names if name in self.masters}

    # Units are not what the benchmark compares: their traces are timed on the store only.

    def containers(self, child: str, as_of: datetime | None) -> list[str]:
        raise NotImplementedError("the in-memory floor serves lot traces")

    def serial_shipment_rows(self, gtin: str, serial: str, ssccs: Sequence[str],
                             as_of: datetime | None) -> list[Fact]:
        raise NotImplementedError("the in-memory floor serves lot traces")

    def serial_last_seen(self, gtin: str, serial: str, as_of: datetime | None) -> Fact | None:
        raise NotImplementedError("the in-memory floor serves lot traces")

    def serial_hold(self, gtin: str, serial: str, as_of: datetime | None) -> Fact | None:
        raise NotImplementedError("the in-memory floor serves lot traces")


def _now_only(as_of: datetime | None) -> None:
    if as_of is not None:
        raise NotImplementedError("the in-memory floor serves traces now, not as of a time")


def _in_time_order(rows_of: dict[LotKey, list[Any]], keys: Collection[LotKey]) -> list[Any]:
    rows = [r for key in set(keys) for r in rows_of.get(key, ())]
    rows.sort(key=lambda r: (r.event_time, r.event_seq))
    return rows
