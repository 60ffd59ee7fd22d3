"""Trace latency on a large store, against an in-memory walk of the same data.

    python bench/bench_trace.py --scale 100 --db-dir DIR [--samples 400]

1. Builds (or reuses) a store from the simulator at ``--scale`` (100 ≈ 1M events), plus
   the *fan-out* shape of odoo/odoo#107677: one component lot consumed by 1,300 work
   orders whose lots ship to 1,300 deliveries.
2. Times full traces (both directions, all details) of random lots and serials: p50/p99.
3. The in-memory floor (``in_memory_trace.InMemoryReads``): every row a trace can read,
   loaded into dicts with the trace's own statements, then the *same* trace assembled
   from them — the result must equal ours field for field. Ours ÷ floor is what the
   store costs on top of building the answer.
4. For continuity with earlier runs, also the *walk only*: genealogy, shipment lines,
   stock, inspections and steps as plain tuples (a part of the trace, no result models),
   checked against the same parts of ours.
5. Times the forward trace (with customers) of the fan-out component lot.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from in_memory_trace import InMemoryReads  # bench/ is the script's own directory
from sqlalchemy import Engine, func, select

from tracebridge.bootstrap import Container, bootstrap
from tracebridge.domain.events import BizTransaction, CanonicalEvent, EventKind, LotRef, Source
from tracebridge.mapping.engine import load_mapping
from tracebridge.settings import Settings
from tracebridge.sim.faults import FaultRates
from tracebridge.sim.generator import generate
from tracebridge.store import tables as t
from tracebridge.trace.model import TraceResult

FAN_COMPONENT = ("04012345000009", "FANOUT-COMPONENT")
FAN_PRODUCT = "04012345000016"
FAN_OUT = 1300

LotKey = tuple[str, str]


def build(db: Path, plant: Path, scale: float, seed: int) -> Container:
    app = bootstrap(Settings(database_url=f"sqlite:///{db}", batch_size=5000))
    with app.engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(t.event)).scalar_one()
    if events:
        return app
    generate(plant, seed=seed, scale=scale, faults=FaultRates())
    for source in ("erp", "wms"):
        started = time.perf_counter()
        summary = app.ingest.ingest_paths(load_mapping(source), [plant / source])
        print(f"ingested {source}: {summary.received:,} records in "
              f"{time.perf_counter() - started:.0f} s")
    app.ingest.append_events(fan_out_events())
    return app


def fan_out_events() -> list[CanonicalEvent]:
    t0 = datetime(2027, 1, 1, tzinfo=UTC)
    gtin, lot = FAN_COMPONENT
    events = [CanonicalEvent(
        kind=EventKind.RECEIVED, event_time=t0, event_time_zone_offset="+08:00",
        lots=(LotRef(gtin=gtin, lot=lot, quantity=FAN_OUT * 10, uom="EA"),),
        biz_location="FAN-RCV", source_party="FAN-SUPPLIER",
        source=Source(system="bench", record_id="fan-receipt"))]
    for i in range(FAN_OUT):
        when = t0 + timedelta(minutes=i)
        out = LotRef(gtin=FAN_PRODUCT, lot=f"FAN-{i:05d}", quantity=10, uom="EA")
        events.append(CanonicalEvent(
            kind=EventKind.PRODUCED, event_time=when, event_time_zone_offset="+08:00",
            lots=(out,), inputs=(LotRef(gtin=gtin, lot=lot, quantity=10, uom="EA"),),
            work_order=f"FAN-WO-{i:05d}", biz_location="FAN-FG",
            source=Source(system="bench", record_id=f"fan-wo-{i}")))
        events.append(CanonicalEvent(
            kind=EventKind.SHIPPED, event_time=when + timedelta(hours=1),
            event_time_zone_offset="+08:00", lots=(out,), biz_location="FAN-FG",
            destination_party=f"FAN-CUSTOMER-{i % 97}",
            biz_transactions=(BizTransaction(type="desadv", id=f"FAN-DN-{i:05d}"),),
            source=Source(system="wms", record_id=f"fan-ship-{i}")))
    return events


Normal = dict[str, list[tuple[object, ...]]]
ShipmentRow = tuple[str, str | None, str, float | None, str | None, str]


class PlainWalk:
    """Part of the trace content from dicts loaded up front, as tuples (no result models).

    Loaded once: lot states, genealogy edges, shipment lines, consignee names, stock
    and which systems moved each lot, inspections and process steps. ``trace`` then
    produces what our trace shows — lots both ways with depth and status, shipment
    lines with consignee and quantity, stock by location, inspections, work-order
    steps — as plain tuples, compared with :func:`normalise` of our result.
    """

    def __init__(self, engine: Engine, preferred: str = "wms") -> None:
        self.preferred = preferred
        self.states: dict[LotKey, tuple[str, float | None, str, str | None]] = {}
        self.down: dict[LotKey, set[LotKey]] = defaultdict(set)
        self.up: dict[LotKey, set[LotKey]] = defaultdict(set)
        self.shipments: dict[LotKey, list[ShipmentRow]] = defaultdict(list)
        self.parties: dict[str, str | None] = {}
        self.stock: dict[LotKey, list[tuple[str, str, float]]] = defaultdict(list)
        self.moved_by: dict[LotKey, set[str]] = defaultdict(set)
        self.inspections: dict[LotKey, list[tuple[object, ...]]] = defaultdict(list)
        self.steps: dict[LotKey, list[tuple[object, ...]]] = defaultdict(list)
        e, s = t.genealogy_edge_view.c, t.shipment_line.c
        lot, st, sm = t.lot.c, t.stock.c, t.stock_move.c
        i, o, m = t.inspection_fact.c, t.operation_fact.c, t.master_record.c
        with engine.connect() as conn:
            for g, n, status, quantity, order, origin in conn.execute(select(
                    lot.gtin, lot.lot, lot.status, lot.quantity, lot.work_order, lot.origin)):
                self.states[(g, n)] = (status, quantity, origin, order)
            for ig, il, og, ol in conn.execute(select(e.in_gtin, e.in_lot, e.out_gtin, e.out_lot)
                                               .where(e.in_retracted_at.is_(None),
                                                      e.out_retracted_at.is_(None))):
                self.down[(ig, il)].add((og, ol))
                self.up[(og, ol)].add((ig, il))
            for row in conn.execute(
                    select(s.gtin, s.lot, s.shipment, s.serial, s.kind, s.quantity, s.party,
                           s.source_system).where(s.retracted_at.is_(None))
                    .order_by(s.event_time, s.event_seq)):
                self.shipments[(row.gtin, row.lot)].append(
                    (row.shipment, row.serial, row.kind, row.quantity, row.party,
                     row.source_system))
            for key, _version, attributes in conn.execute(
                    select(m.key, m.version, m.attributes).where(m.entity == "party")
                    .order_by(m.version)):
                self.parties[key] = attributes.get("name")
            for g, n, location, system, quantity in conn.execute(
                    select(st.gtin, st.lot, st.location, st.source_system, st.quantity)):
                self.stock[(g, n)].append((location, system, quantity))
            for g, n, system in conn.execute(select(sm.gtin, sm.lot, sm.source_system)
                                             .where(sm.retracted_at.is_(None)).distinct()):
                self.moved_by[(g, n)].add(system)
            for g, n, *rest in conn.execute(select(i.gtin, i.lot, i.stage, i.characteristic,
                                                   i.result, i.measured)
                                            .where(i.retracted_at.is_(None))):
                self.inspections[(g, n)].append(tuple(rest))
            for g, n, *rest in conn.execute(select(o.gtin, o.lot, o.work_order, o.operation,
                                                   o.kind, o.equipment, o.operator)
                                            .where(o.retracted_at.is_(None))):
                self.steps[(g, n)].append(tuple(rest))

    def closure(self, start: LotKey, graph: dict[LotKey, set[LotKey]]) -> dict[LotKey, int]:
        depth, frontier, level = {start: 0}, [start], 0
        while frontier:
            level += 1
            nxt = [n for key in frontier for n in graph.get(key, ()) if n not in depth]
            for key in nxt:
                depth[key] = level
            frontier = list(dict.fromkeys(nxt))
        return depth

    def trace(self, key: LotKey) -> Normal:
        backward = self.closure(key, self.up)
        forward = self.closure(key, self.down)
        out: Normal = {"backward": self._nodes(backward), "forward": self._nodes(forward),
                       "shipments": [], "stock": [], "inspections": [], "steps": []}
        for lot_key in forward:
            out["shipments"] += self._shipment_lines(lot_key)
            out["stock"] += self._stock(lot_key)
        for lot_key in backward:
            out["inspections"] += [(*lot_key, *r) for r in self.inspections.get(lot_key, ())]
            state = self.states.get(lot_key)
            if state is not None and state[2] == "produced":
                for order, *rest in self.steps.get(lot_key, ()):
                    wo = order or state[3] or f"/01/{lot_key[0]}/10/{lot_key[1]}"
                    out["steps"].append((wo, *lot_key, *rest))
        return {name: sorted(rows, key=repr) for name, rows in out.items()}

    def _nodes(self, depth: dict[LotKey, int]) -> list[tuple[object, ...]]:
        return [(*key, d, *self.states.get(key, (None, None))[:2])
                for key, d in depth.items() if d > 0]

    def _shipment_lines(self, key: LotKey) -> list[tuple[object, ...]]:
        rows = self.shipments.get(key, ())
        systems = {r[-1] for r in rows}
        if not systems:
            return []
        system = self.preferred if self.preferred in systems else min(systems)
        lines: dict[tuple[object, ...], list[Any]] = {}
        for shipment, serial, kind, quantity, party, source in rows:
            if source != system:
                continue
            line = lines.setdefault((shipment, *key, serial, kind == "returned"), [None, None])
            if kind == "delivered":
                line[1] = line[1] or party
                continue
            if quantity is not None:
                line[0] = (line[0] or 0.0) + quantity
            line[1] = party or line[1]
        return [(*k, q, p, self.parties.get(p) if p else None)
                for k, (q, p) in lines.items()]

    def _stock(self, key: LotKey) -> list[tuple[object, ...]]:
        systems = self.moved_by.get(key, set())
        if not systems:
            return []
        system = self.preferred if self.preferred in systems else min(systems)
        return [(*key, location, source, quantity)
                for location, source, quantity in self.stock.get(key, ()) if source == system]


def normalise(result: TraceResult) -> Normal:
    """Our trace's content in the in-memory walk's shape."""
    assert result.backward is not None and result.forward is not None
    out: Normal = {
        "backward": [(n.gtin, n.lot, n.depth, n.status, n.quantity) for n in result.backward.lots],
        "forward": [(n.gtin, n.lot, n.depth, n.status, n.quantity) for n in result.forward.lots],
        "shipments": [(s.shipment, s.gtin, s.lot, s.serial, s.kind == "returned", s.quantity,
                       s.consignee.code if s.consignee else None,
                       s.consignee.name if s.consignee else None)
                      for s in result.forward.shipments],
        "stock": [(p.gtin, p.lot, p.location, p.source_system, p.quantity)
                  for p in result.forward.stock],
        "inspections": [(r.gtin, r.lot, r.stage, r.characteristic, r.result, r.measured)
                        for r in [*result.inspections, *result.backward.inspections]],
        "steps": [(w.work_order, s.gtin, s.lot, s.operation, s.kind, s.equipment, s.operator)
                  for w in result.backward.work_orders for s in w.steps],
    }
    return {name: sorted(rows, key=repr) for name, rows in out.items()}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=100)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--db-dir", type=Path, required=True)
    args = parser.parse_args()
    args.db_dir.mkdir(parents=True, exist_ok=True)
    app = build(args.db_dir / f"trace-{args.scale:g}.db", args.db_dir / f"plant-{args.scale:g}",
                args.scale, args.seed)
    rng = random.Random(args.seed)
    with app.engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(t.event)).scalar_one()
        lots = [tuple(r) for r in conn.execute(select(t.lot.c.gtin, t.lot.c.lot))]
        serials = [tuple(r) for r in conn.execute(select(t.serial.c.gtin, t.serial.c.serial))]
    lot_sample = rng.sample(lots, min(args.samples, len(lots)))
    serial_sample = rng.sample(serials, min(args.samples // 2, len(serials)))
    started = time.perf_counter()
    floor = InMemoryReads(app.engine)
    walk = PlainWalk(app.engine)
    load_seconds = time.perf_counter() - started
    # Millions of loaded tuples would otherwise be rescanned by every full garbage
    # collection, a pause charged to whichever trace happens to be running.
    gc.collect()
    gc.freeze()
    # Both sides must see the same "now": it ends the stays that have not ended.
    now = datetime.now(UTC)
    app.trace.clock = lambda: now
    for gtin, lot in rng.sample(lots, min(20, len(lots))):  # warm caches and statements
        app.trace.trace(f"/01/{gtin}/10/{lot}")

    ours: list[float] = []
    ours_cpu: list[float] = []  # CPU time of this process: what contention cannot inflate
    floors: list[float] = []
    walks: list[float] = []
    differences: list[str] = []
    for gtin, lot in lot_sample:
        ref = f"/01/{gtin}/10/{lot}"
        started, cpu = time.perf_counter(), time.process_time()
        result = app.trace.trace(ref)
        ours.append(time.perf_counter() - started)
        ours_cpu.append(time.process_time() - cpu)
        started = time.perf_counter()
        same = app.trace.assemble(floor, floor.resolve(ref), ref, "both")
        floors.append(time.perf_counter() - started)
        started = time.perf_counter()
        expected = walk.trace((gtin, lot))
        walks.append(time.perf_counter() - started)
        if same != result:
            parts = [name for name in TraceResult.model_fields
                     if getattr(same, name) != getattr(result, name)]
            differences.append(f"{ref}: in-memory trace differs in {', '.join(parts)}")
        got = normalise(result)
        if got != expected:
            parts = [name for name in expected if got[name] != expected[name]]
            differences.append(f"{ref}: walk differs in {', '.join(parts)}")
    serial_times: list[float] = []
    for gtin, serial in serial_sample:
        started = time.perf_counter()
        app.trace.trace(f"/01/{gtin}/21/{serial}")
        serial_times.append(time.perf_counter() - started)
    fan_times = []
    for _ in range(20):
        started = time.perf_counter()
        fan = app.trace.trace(f"/01/{FAN_COMPONENT[0]}/10/{FAN_COMPONENT[1]}", direction="forward")
        fan_times.append(time.perf_counter() - started)
    assert fan.forward is not None
    report = {
        "events": events, "lots": len(lots), "serials": len(serials),
        "lot_trace_ms": {"p50": round(percentile(ours, 0.5) * 1000, 2),
                         "p99": round(percentile(ours, 0.99) * 1000, 2),
                         "cpu_p50": round(percentile(ours_cpu, 0.5) * 1000, 2),
                         "cpu_p99": round(percentile(ours_cpu, 0.99) * 1000, 2)},
        "serial_trace_ms": {"p50": round(percentile(serial_times, 0.5) * 1000, 2),
                            "p99": round(percentile(serial_times, 0.99) * 1000, 2)}
        if serial_times else None,
        "in_memory_trace_ms": {"p50": round(percentile(floors, 0.5) * 1000, 3),
                               "p99": round(percentile(floors, 0.99) * 1000, 3),
                               "load_s": round(load_seconds, 1)},
        "ratio_ours_to_in_memory_trace": {
            "mean": round(statistics.mean(ours) / statistics.mean(floors), 2),
            "p50": round(percentile(ours, 0.5) / percentile(floors, 0.5), 2)},
        "walk_only_ms": {"p50": round(percentile(walks, 0.5) * 1000, 3),
                         "p99": round(percentile(walks, 0.99) * 1000, 3)},
        "ratio_ours_to_walk_only": {
            "mean": round(statistics.mean(ours) / statistics.mean(walks), 1),
            "p50": round(percentile(ours, 0.5) / percentile(walks, 0.5), 1)},
        "result_differences": len(differences),
        "first_differences": differences[:3],
        "fan_out": {"shipments": len({s.shipment for s in fan.forward.shipments}),
                    "customers": len(fan.forward.customers),
                    "forward_trace_ms_p50": round(percentile(fan_times, 0.5) * 1000, 1),
                    "forward_trace_ms_max": round(max(fan_times) * 1000, 1)},
    }
    print(json.dumps(report, indent=2))
    app.close()


if __name__ == "__main__":
    main()
