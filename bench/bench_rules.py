"""Rule evaluation overhead on ingest: the built-in pack in the transaction vs rules off.

    python bench/bench_rules.py --scale 3 [--repeat 2] [--db-dir DIR]

One simulated plant (default faults), ingested in the same process into fresh SQLite files,
alternately without rules (baseline) and with the built-in pack evaluated in every ingest
transaction (actions, firings and alerts included). The best time of each is compared:
ratio = with rules / without. Goal: at most 1.5. Because other work shares the machine, each
round's own ratio (rules off, then on) is kept too, in wall-clock and in process CPU time,
and their medians are reported beside the best-of ratio.

Two workloads, each measured both ways:

* ``live`` — the records in the order live feeds deliver them (``sim.feed.live_order``:
  each export stream in its own order, streams interleaved by event time), in batches of
  ``--live-batch`` as a connector commits them. This is what rules run on in production.
* ``export`` — the export files one after another in batches of ``--batch``, as history
  is taken over. Out of time order (an ERP's deliveries arrive before its usage
  decisions), so the pack rightly blocks hundreds of "unreleased" shipments: the worst
  case for actions. History is taken over with rules off in practice.

Also times a dry run (``rules test``) over the stored history.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from tracebridge import process
from tracebridge.bootstrap import Container, bootstrap
from tracebridge.mapping.engine import load_mapping
from tracebridge.quality.rules_reaction import dry_run
from tracebridge.rules.loader import load_builtin
from tracebridge.settings import Settings
from tracebridge.sim.faults import FaultRates
from tracebridge.sim.feed import PlantFeeds, live_order
from tracebridge.sim.generator import generate
from tracebridge.sim.truth import load_truth
from tracebridge.store import tables as t

Workload = Callable[[Container], None]


def export_files(plant: Path) -> Workload:
    def run(app: Container) -> None:
        for source in ("erp", "wms"):
            app.ingest.ingest_paths(load_mapping(source), [plant / source])

    return run


def live_feeds(plant: Path) -> Workload:
    feeds = PlantFeeds()
    delivery = live_order(plant, feeds, load_truth(plant))

    def run(app: Container) -> None:
        app.ingest.ingest_records(feeds, delivery.master)
        app.ingest.ingest_records(feeds, delivery.records)

    return run


def ingest(workload: Workload, db: Path, *, rules: bool, batch: int) -> dict[str, float]:
    app = bootstrap(Settings(database_url=f"sqlite:///{db}", batch_size=batch, rules_enabled=rules))
    started, cpu = time.perf_counter(), time.process_time()
    workload(app)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    with app.engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(t.event)).scalar_one()
        firings = conn.execute(select(func.count()).select_from(t.rule_firing)).scalar_one()
        holds = conn.execute(
            select(func.count()).select_from(t.event).where(t.event.c.kind == "held")
        ).scalar_one()
    dry = 0.0
    if rules:
        started = time.perf_counter()
        dry_run(app.engine, load_builtin())
        dry = time.perf_counter() - started
    app.close()
    gc.unfreeze()  # the next run starts from a heap without this one's services
    gc.collect()
    return {"seconds": seconds, "cpu_seconds": cpu, "events": events, "firings": firings,
            "holds": holds, "dry_run_seconds": dry}


def measure(workload: Workload, work: Path, name: str, *, batch: int,
            repeat: int) -> dict[str, object]:
    runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    for round_ in range(repeat):
        for mode in ("off", "on"):
            db = work / f"{name}-{mode}-{round_}.db"
            runs[mode].append(ingest(workload, db, rules=mode == "on", batch=batch))
            db.unlink()
    off = min(r["seconds"] for r in runs["off"])
    on = min(r["seconds"] for r in runs["on"])
    paired = sorted(b["seconds"] / a["seconds"] for a, b in zip(runs["off"], runs["on"],
                                                                strict=True))
    cpu = sorted(b["cpu_seconds"] / a["cpu_seconds"] for a, b in zip(runs["off"], runs["on"],
                                                                     strict=True))
    return {
        "batch": batch,
        "events": runs["on"][0]["events"],
        "firings": runs["on"][0]["firings"],
        "held_events_rules_off": runs["off"][0]["holds"],
        "held_events_rules_on": runs["on"][0]["holds"],
        "ingest_rules_off_s": round(off, 3),
        "ingest_rules_on_s": round(on, 3),
        "ratio": round(on / off, 3),
        "ratio_median_of_rounds": round(paired[len(paired) // 2], 3),
        "cpu_ratio_median_of_rounds": round(cpu[len(cpu) // 2], 3),
        "dry_run_s": round(min(r["dry_run_seconds"] for r in runs["on"]), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--live-batch", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workload", choices=("live", "export", "both"), default="both")
    parser.add_argument("--db-dir", type=Path, default=None)
    args = parser.parse_args()
    # Each run's services are built and their heap settled as the `tracebridge` command does.
    process.owned_by_command = True
    with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
        work = Path(tmp)
        plant = work / "plant"
        generate(plant, seed=args.seed, scale=args.scale, faults=FaultRates())
        result: dict[str, object] = {"scale": args.scale, "rules": len(load_builtin()),
                                     "goal_ratio": 1.5}
        if args.workload in ("live", "both"):
            result["live"] = measure(live_feeds(plant), work, "live", batch=args.live_batch,
                                     repeat=args.repeat)
        if args.workload in ("export", "both"):
            result["export"] = measure(export_files(plant), work, "export", batch=args.batch,
                                       repeat=args.repeat)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
