"""Recall impact and the mock recall drill on a store of a million events or more.

    python bench/bench_recall.py --source STORE.db --work-dir DIR [--repeat 5]

1. Copies ``--source`` (a SQLite store built by the simulator, e.g. ``bench_trace.py``
   at scale 95–100) into ``--work-dir`` once; the source is never written.
2. Adds a *fan-out* component on the copy with ``IngestService.append_events``: one
   supplier lot built into 50 sub-assembly lots, which go into 2,000 serialised finished
   lots (10 units each), 80 % shipped to 97 customers, half of those delivered — plus the
   temperature and humidity readings of the production area and the warehouse while that
   ran (every 4 minutes), which is what takes the store past 1,000,000 events.
   Everything is made in one production area, then put away to the distribution centre.
3. Starts a recall of the component and times, best and median of ``--repeat`` runs:
   the forward trace of the component (the baseline, same process), the recall impact
   (goal < 1 s) and the mock recall drill end to end, customer lists included (goal < 5 s).
4. Checks the impact: every finished lot, every customer, every serial.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tracebridge.bootstrap import Container, bootstrap
from tracebridge.domain.events import (
    BizTransaction,
    CanonicalEvent,
    EventKind,
    Inspection,
    LotRef,
    SensorReading,
    Source,
)
from tracebridge.domain.recall import LotScope, RecallPlan
from tracebridge.recall.service import RecallService
from tracebridge.settings import Settings
from tracebridge.store import tables as t

COMPONENT = ("04012345000030", "RCL-FAN-COMP")
SUB_ASSEMBLY = "04012345000047"
FINISHED = "04012345000054"
SUB_ASSEMBLIES = 50
FINISHED_LOTS = 2000
UNITS = 10
CUSTOMERS = 97
READING_EVERY = timedelta(minutes=4)
T0 = datetime(2027, 3, 1, tzinfo=UTC)


def _source(record_id: str) -> Source:
    return Source(system="wms", record_id=f"recall-bench:{record_id}")


def _event(kind: EventKind, when: datetime, record_id: str, **fields: Any) -> CanonicalEvent:
    return CanonicalEvent(kind=kind, event_time=when, event_time_zone_offset="+08:00",
                          source=_source(record_id), **fields)


def fan_out_events() -> Iterator[CanonicalEvent]:
    gtin, lot = COMPONENT
    component = LotRef(gtin=gtin, lot=lot, quantity=FINISHED_LOTS * UNITS, uom="EA")
    yield _event(EventKind.RECEIVED, T0, "receipt", lots=(component,), biz_location="RF-PROD",
                 source_party="RF-SUPPLIER", details={"supplier_lot": "SUP-RF-1"})
    yield _event(EventKind.INSPECTED, T0 + timedelta(hours=2), "incoming",
                 lots=(LotRef(gtin=gtin, lot=lot),),
                 inspection=Inspection(stage="incoming", characteristic="tensile strength",
                                       result="pass", measured=41.0, lower=38.0, upper=45.0,
                                       unit="MPa", inspector="QC-1"))
    yield _event(EventKind.RELEASED, T0 + timedelta(hours=3), "release-component",
                 lots=(LotRef(gtin=gtin, lot=lot),), operator="QA-1")
    per_sub = FINISHED_LOTS // SUB_ASSEMBLIES
    start = T0 + timedelta(hours=4)
    for s in range(SUB_ASSEMBLIES):
        sub = LotRef(gtin=SUB_ASSEMBLY, lot=f"RCL-SA-{s:03d}", quantity=per_sub * UNITS, uom="EA")
        when = start + timedelta(minutes=20 * per_sub * s)
        yield _event(EventKind.PRODUCED, when, f"sa-{s}", lots=(sub,), biz_location="RF-PROD",
                     inputs=(LotRef(gtin=gtin, lot=lot, quantity=per_sub * UNITS, uom="EA"),),
                     work_order=f"RCL-SA-WO-{s:03d}", operation="sub-assembly",
                     equipment=f"RF-PRESS-{s % 3}")
        yield _event(EventKind.RELEASED, when + timedelta(minutes=5), f"sa-release-{s}",
                     lots=(LotRef(gtin=SUB_ASSEMBLY, lot=sub.lot),), operator="QA-1")
        for f in range(s * per_sub, (s + 1) * per_sub):
            yield from _finished(f, sub, when + timedelta(minutes=20 * (f - s * per_sub) + 10))
    yield from _readings(start, start + timedelta(minutes=20 * FINISHED_LOTS + 60))


def _finished(index: int, sub: LotRef, when: datetime) -> Iterator[CanonicalEvent]:
    number = f"RCL-FG-{index:05d}"
    serials = tuple(f"RF{index:05d}{u:02d}" for u in range(UNITS))
    lot = LotRef(gtin=FINISHED, lot=number, quantity=UNITS, uom="EA", serials=serials,
                 expiry="2030-02-28", manufactured=when.date().isoformat())
    plain = LotRef(gtin=FINISHED, lot=number, quantity=UNITS, uom="EA")
    yield _event(EventKind.PRODUCED, when, f"fg-{index}", lots=(lot,), biz_location="RF-PROD",
                 inputs=(LotRef(gtin=sub.gtin, lot=sub.lot, quantity=UNITS, uom="EA"),),
                 work_order=f"RCL-FG-WO-{index:05d}", operation="final assembly",
                 equipment=f"RF-LINE-{index % 4}")
    yield _event(EventKind.INSPECTED, when + timedelta(minutes=30), f"fg-final-{index}",
                 lots=(LotRef(gtin=FINISHED, lot=number),),
                 inspection=Inspection(stage="final", characteristic="leak test", result="pass",
                                       measured=0.2, upper=0.5, unit="mbar", inspector="QC-2"))
    yield _event(EventKind.RELEASED, when + timedelta(hours=1), f"fg-release-{index}",
                 lots=(LotRef(gtin=FINISHED, lot=number),), operator="QA-2")
    yield _event(EventKind.MOVED, when + timedelta(hours=2), f"fg-putaway-{index}",
                 lots=(plain,), biz_location="RF-DC", details={"from_location": "RF-PROD"})
    if index % 5 == 4:
        return  # a fifth of the lots stay in stock
    shipped = when + timedelta(days=1)
    yield _event(EventKind.SHIPPED, shipped, f"fg-ship-{index}",
                 lots=(LotRef(gtin=FINISHED, lot=number, quantity=UNITS, uom="EA",
                              serials=serials),),
                 biz_location="RF-DC", destination_party=f"RF-CUSTOMER-{index % CUSTOMERS:02d}",
                 biz_transactions=(BizTransaction(type="desadv", id=f"RF-DN-{index:05d}"),))
    if index % 2 == 0:
        yield _event(EventKind.DELIVERED, shipped + timedelta(days=2), f"fg-pod-{index}",
                     lots=(plain,), destination_party=f"RF-CUSTOMER-{index % CUSTOMERS:02d}",
                     biz_transactions=(BizTransaction(type="desadv", id=f"RF-DN-{index:05d}"),))


def _readings(start: datetime, end: datetime) -> Iterator[CanonicalEvent]:
    when, n = start, 0
    while when <= end:
        for area, base in (("RF-PROD", 21.0), ("RF-DC", 20.5)):
            yield _event(EventKind.ENVIRONMENT_OBSERVED, when, f"env-{area}-{n}",
                         biz_location=area, sensor=(
                             SensorReading(type="temperature", value=base + (n % 7) * 0.1,
                                           uom="CEL"),
                             SensorReading(type="relative_humidity", value=45.0 + n % 5,
                                           uom="P1")))
        when, n = when + READING_EVERY, n + 1


def prepare(source: Path, work_dir: Path) -> Container:
    work_dir.mkdir(parents=True, exist_ok=True)
    db = work_dir / "recall-bench.db"
    if not db.exists():
        started = time.perf_counter()
        shutil.copyfile(source, work_dir / "copying.db")
        (work_dir / "copying.db").rename(db)
        print(f"copied the store in {time.perf_counter() - started:.0f} s")
    app = bootstrap(Settings(database_url=f"sqlite:///{db}", batch_size=5000))
    with app.engine.connect() as conn:
        present = conn.execute(select(t.lot.c.lot).where(t.lot.c.lot == COMPONENT[1])).first()
    if present is None:
        started = time.perf_counter()
        batch: list[CanonicalEvent] = []
        for event in fan_out_events():
            batch.append(event)
            if len(batch) == 5000:
                app.ingest.append_events(batch)
                batch = []
        app.ingest.append_events(batch)
        print(f"appended the fan-out in {time.perf_counter() - started:.0f} s")
    return app


def timed(run: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, required=True, help="SQLite store to copy")
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    app = prepare(args.source, args.work_dir)
    service = RecallService(app.engine, app.quality)
    with app.engine.connect() as conn:
        events = conn.execute(select(func.max(t.event.c.seq))).scalar_one()
        recall_id = conn.execute(select(t.recall.c.id).where(
            t.recall.c.reason == "bench: fan-out component")).scalar()
    print(f"events in the store: {events:,}" + ("" if events >= 1_000_000 else "  (< 1M!)"))
    if recall_id is None:
        plan = RecallPlan.parse(recall_class="II", depth="consumer", public_warning=False,
                                effectiveness_level="B", reason="bench: fan-out component")
        recall_id = service.start(plan, [LotScope(*COMPONENT)], actor="bench").id
    ref = f"/01/{COMPONENT[0]}/10/{COMPONENT[1]}"
    base_best, base_median, _ = timed(lambda: app.trace.trace(ref, direction="forward"),
                                      args.repeat)
    best, median, found = timed(lambda: service.impact(recall_id), args.repeat)
    drill_best, drill_median, drill = timed(lambda: service.drill(recall_id), args.repeat)
    shipped_lots = FINISHED_LOTS - FINISHED_LOTS // 5
    checks = {
        "finished lots": (len(found.finished_lots), FINISHED_LOTS),
        "sub-assemblies": (len(found.sub_assemblies), SUB_ASSEMBLIES),
        "customers": (len(found.customers), CUSTOMERS),
        "serials": (len(found.serials), FINISHED_LOTS * UNITS),
        "units shipped": (sum(c.shipped for c in found.customers), shipped_lots * UNITS),
        "units in stock": (found.quantity_in_stock, (FINISHED_LOTS - shipped_lots) * UNITS),
        "customer lists": (drill.customer_lists, CUSTOMERS),
    }
    for name, (got, expected) in checks.items():
        print(f"  check {name}: {got:g} (expected {expected:g})"
              + ("" if got == expected else "  MISMATCH"))
    print(f"forward trace of the component (baseline): best {base_best:.3f} s, "
          f"median {base_median:.3f} s")
    print(f"recall impact: best {best:.3f} s, median {median:.3f} s "
          f"(goal < 1 s; {best / base_best:.2f}x the forward trace)")
    print(f"mock recall drill: best {drill_best:.3f} s, median {drill_median:.3f} s "
          f"(goal < 5 s); stages of the last run: {drill.seconds}")
    print(json.dumps({"events": events, "impact_s": round(best, 3), "drill_s": round(drill_best, 3),
                      "trace_s": round(base_best, 3),
                      "ok": all(g == e for g, e in checks.values())}))
    app.close()


if __name__ == "__main__":
    main()
