"""Rule evaluation overhead on ingest: the built-in pack in the transaction vs rules off.

    python bench/bench_rules.py --scale 3 [--repeat 2] [--db-dir DIR]

One simulated plant (default faults), ingested in the same process into fresh SQLite files,
alternately without rules (baseline) and with the built-in pack evaluated in every ingest
transaction (actions, firings and alerts included). The best time of each is compared:
ratio = with rules / without. Goal: at most 1.5. Also times a dry run (``rules test``)
over the stored history.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from tracebridge.bootstrap import bootstrap
from tracebridge.mapping.engine import load_mapping
from tracebridge.quality.rules_reaction import dry_run
from tracebridge.rules.loader import load_builtin
from tracebridge.settings import Settings
from tracebridge.sim.faults import FaultRates
from tracebridge.sim.generator import generate
from tracebridge.store import tables as t


def ingest(plant: Path, db: Path, *, rules: bool, batch: int) -> dict[str, float]:
    app = bootstrap(Settings(database_url=f"sqlite:///{db}", batch_size=batch, rules_enabled=rules))
    started = time.perf_counter()
    for source in ("erp", "wms"):
        app.ingest.ingest_paths(load_mapping(source), [plant / source])
    seconds = time.perf_counter() - started
    with app.engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(t.event)).scalar_one()
        firings = conn.execute(select(func.count()).select_from(t.rule_firing)).scalar_one()
    dry = 0.0
    if rules:
        started = time.perf_counter()
        dry_run(app.engine, load_builtin())
        dry = time.perf_counter() - started
    app.close()
    return {"seconds": seconds, "events": events, "firings": firings, "dry_run_seconds": dry}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--db-dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
        work = Path(tmp)
        plant = work / "plant"
        generate(plant, seed=args.seed, scale=args.scale, faults=FaultRates())
        runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
        for round_ in range(args.repeat):
            for mode in ("off", "on"):
                db = work / f"{mode}-{round_}.db"
                runs[mode].append(ingest(plant, db, rules=mode == "on", batch=args.batch))
        off = min(r["seconds"] for r in runs["off"])
        on = min(r["seconds"] for r in runs["on"])
        result = {
            "scale": args.scale,
            "events": runs["on"][0]["events"],
            "rules": len(load_builtin()),
            "firings": runs["on"][0]["firings"],
            "ingest_rules_off_s": round(off, 3),
            "ingest_rules_on_s": round(on, 3),
            "ratio": round(on / off, 3),
            "goal_ratio": 1.5,
            "dry_run_s": round(min(r["dry_run_seconds"] for r in runs["on"]), 3),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
