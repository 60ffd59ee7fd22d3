"""Ingest throughput and peak memory, against a raw executemany of the same rows.

    python bench/bench_ingest.py --scale 10 [--db-dir DIR]

Side by side in one process and one database file:
1. *mapping only* — read + parse + map + pydantic-validate + hash every record (no writes);
2. *raw insert* — the event rows our ingest stored, re-inserted with one ``executemany``
   into a plain copy of the event table (no indexes, triggers, projections, inbox);
3. *our ingest* — the full path: raw inbox, mapping, dedupe, versions, hash chain,
   projections and dead letters, in batched transactions (rules off: their overhead is
   ``bench_rules.py``'s measure);
4. *write floor* — every row the ingest wrote (inbox, events, facts, state), re-inserted
   with ``executemany`` into a fresh database with the same schema, in one transaction.
From 1 and 4 it also reports the *mapping-then-floor bound*: mapping every record and then
only writing its rows, nothing else — the most an ingest with this mapping and this
storage could reach in one process (1 / (1/mapping + 1/floor)).
Peak memory is the max RSS of a child process that runs only the ingest (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import tempfile
import time
from multiprocessing import Process, Queue
from pathlib import Path

from tracebridge import process
from tracebridge.bootstrap import bootstrap
from tracebridge.ingest.service import expand
from tracebridge.mapping.engine import load_mapping
from tracebridge.mapping.records import RecordRejected
from tracebridge.settings import Settings
from tracebridge.sim.faults import FaultRates
from tracebridge.sim.generator import generate


def mapping_only(plant: Path) -> tuple[int, float]:
    started, records = time.perf_counter(), 0
    for source in ("erp", "wms"):
        mapper = load_mapping(source)
        for path in expand([plant / source]):
            for raw in mapper.read(path):
                records += 1
                try:
                    for event in mapper.map(raw).events:
                        _ = event.event_id
                except RecordRejected:
                    pass  # counted like any record: it was read and mapped
    return records, time.perf_counter() - started


def our_ingest(plant: Path, db: Path, batch: int) -> tuple[int, int, float]:
    app = bootstrap(Settings(database_url=f"sqlite:///{db}", batch_size=batch, rules_enabled=False))
    started, received, stored = time.perf_counter(), 0, 0
    for source in ("erp", "wms"):
        summary = app.ingest.ingest_paths(load_mapping(source), [plant / source])
        received += summary.received
        stored += summary.events_stored
    elapsed = time.perf_counter() - started
    app.close()
    return received, stored, elapsed


def _ingest_child(plant: Path, db: Path, batch: int, results: Queue) -> None:  # type: ignore[type-arg]
    process.owned_by_command = True  # the ingest's own process, as under `tracebridge ingest`
    results.put(our_ingest(plant, db, batch))


def ingest_in_child(plant: Path, db: Path, batch: int) -> tuple[int, int, float, int]:
    """Run the ingest in its own process so its peak RSS is its own."""
    results: Queue = Queue()  # type: ignore[type-arg]
    child = Process(target=_ingest_child, args=(plant, db, batch, results))
    child.start()
    received, stored, seconds = results.get()
    child.join()
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return received, stored, seconds, peak_kib // 1024


def raw_insert(db: Path) -> tuple[int, float]:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    rows = conn.execute("SELECT * FROM event ORDER BY seq").fetchall()
    columns = len(rows[0])
    conn.execute("CREATE TABLE baseline_event AS SELECT * FROM event WHERE 0")
    started = time.perf_counter()
    conn.executemany(f"INSERT INTO baseline_event VALUES ({', '.join('?' * columns)})", rows)
    conn.commit()
    elapsed = time.perf_counter() - started
    conn.execute("DROP TABLE baseline_event")
    conn.close()
    return len(rows), elapsed


def write_floor(db: Path, work: Path) -> tuple[int, float]:
    """Every row our ingest wrote, re-inserted with ``executemany`` into a fresh schema.

    The fresh database is built by the same migrations (same indexes and triggers), and
    all tables are filled in one transaction: the cost of the writes alone, with no
    reading, mapping, hashing or projection logic. No ingest storing these rows can be
    faster than this.
    """
    floor_db = work / "floor.db"
    floor_db.unlink(missing_ok=True)
    bootstrap(Settings(database_url=f"sqlite:///{floor_db}", rules_enabled=False)).close()
    source = sqlite3.connect(db)
    target = sqlite3.connect(floor_db)
    target.execute("PRAGMA journal_mode=WAL")
    target.execute("PRAGMA synchronous=NORMAL")
    tables = [
        name
        for (name,) in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT IN ('alembic_version', 'chain_head', 'projection_position')"
        )
    ]
    contents = {name: source.execute(f"SELECT * FROM {name}").fetchall() for name in tables}
    started = time.perf_counter()
    written = 0
    for name, rows in contents.items():
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            target.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
            written += len(rows)
    target.commit()
    elapsed = time.perf_counter() - started
    source.close()
    target.close()
    return written, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=10)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--db-dir", type=Path, default=None)
    args = parser.parse_args()
    process.settle_heap()  # every measurement in a process set up as the command's is
    work = args.db_dir or Path(tempfile.mkdtemp(prefix="tb-bench-"))
    plant = work / "plant"
    summary = generate(plant, seed=args.seed, scale=args.scale, faults=FaultRates())
    records, map_seconds = mapping_only(plant)
    db = work / "bench.db"
    db.unlink(missing_ok=True)
    received, stored, ingest_seconds, peak_mib = ingest_in_child(plant, db, args.batch)
    raw_rows, raw_seconds = raw_insert(db)
    floor_rows, floor_seconds = write_floor(db, work)
    raw_rate = raw_rows / raw_seconds
    map_rate = records / map_seconds
    floor_rate = received / floor_seconds
    # Mapping every record and then only writing its rows, with nothing else in between:
    # the most any ingest built from this mapping and this storage could do in one process.
    bound_rate = 1 / (1 / map_rate + 1 / floor_rate)
    result = {
        "scale": args.scale,
        "source_records": summary.total_records,
        "received": received,
        "events_stored": stored,
        "mapping_only_records_per_s": round(records / map_seconds),
        "ingest_records_per_s": round(received / ingest_seconds),
        "ingest_events_per_s": round(stored / ingest_seconds),
        "raw_insert_rows_per_s": round(raw_rows / raw_seconds),
        "ratio_ingest_to_raw_insert": round(
            (received / ingest_seconds) / (raw_rows / raw_seconds), 4
        ),
        "write_floor_rows": floor_rows,
        "write_floor_records_per_s": round(received / floor_seconds),
        "ratio_write_floor_to_raw_insert": round(
            (received / floor_seconds) / (raw_rows / raw_seconds), 4
        ),
        "ratio_mapping_only_to_raw_insert": round(map_rate / raw_rate, 4),
        "ratio_mapping_then_floor_to_raw_insert": round(bound_rate / raw_rate, 4),
        "ratio_ingest_to_write_floor": round((received / ingest_seconds) / floor_rate, 4),
        "ingest_peak_rss_mib": peak_mib,
        "ingest_seconds": round(ingest_seconds, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
