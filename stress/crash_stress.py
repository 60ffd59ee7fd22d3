"""Crash injection for the RabbitMQ consumer: SIGKILL it over and over, then count.

    python stress/crash_stress.py --kills 1000 --db sqlite
    python stress/crash_stress.py --kills 200 --db postgres --pg-admin-url postgresql://…

Publishes WMS transactions (plus a few poison messages) to a fresh durable queue, then
repeatedly forks a consumer process and SIGKILLs it — either frozen at a named point
(batch received; inside the open transaction; committed but not acknowledged;
acknowledged) or after a random delay — publishing another wave whenever the queue runs
dry. Optionally restarts the broker (``rabbitmqctl stop_app``/``start_app``) while a
consumer runs. Finally one consumer drains the queue and the store is audited:

* lost — published records with no event; duplicated — events beyond one per record;
* partial — raw receipts with no outcome (event, dedupe or dead letter), a projection
  position behind the log, or a checkpoint naming a message that is not stored;
* poison — every poison message is a dead letter; integrity — ``verify_chain`` is empty.

The consumer runs in a forked child (the interpreter is warm, so a kill costs
milliseconds, not an interpreter start); the child shares nothing open with the parent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import select
import signal
import subprocess
import sys
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache

import pika  # type: ignore[import-untyped]
from sqlalchemy import create_engine, text
from stress_harness import AMQP_URL, channel, database

from tracebridge.bootstrap import bootstrap
from tracebridge.ingest import checkpoints
from tracebridge.ingest.amqp import PAUSE_POINTS, AmqpConsumer, AmqpSettings, PauseHook
from tracebridge.mapping.engine import Mapping, load_mapping
from tracebridge.settings import Settings
from tracebridge.store.event_log import verify_chain

GTIN = "09506000134352"
# Not JSON; JSON but not an object; a record without its time stamp; not UTF-8.
POISON = (b"{not json %d", b"[1, 2, %d]", b'{"txn_id": "P%d", "type": "MOV"}', b"\xff\xfe%d")


def message(n: int) -> tuple[str, bytes]:
    """Message n: a WMS stock move, except every 37th, which is poison."""
    if n % 37 == 5:
        return f"poison-{n}", POISON[n % len(POISON)] % n
    body = {"txn_id": f"T{n:07d}", "type": "MOV", "ts": 1_700_000_000_000 + n * 1000,
            "gtin": GTIN, "lot_no": f"L{n % 50:03d}", "qty": n % 9 + 1, "uom": "EA",
            "loc": f"A-{n % 20:02d}", "from_loc": "RCV", "user": "stress"}
    return body["txn_id"], json.dumps(body).encode()  # type: ignore[return-value]


@dataclass
class Run:
    db_url: str
    queue: str = field(default_factory=lambda: f"tb-crash-{uuid.uuid4().hex[:10]}")
    exchange: str = "tb-crash-stress"
    published: int = 0
    prefetch: int = 20

    def settings(self) -> AmqpSettings:
        return AmqpSettings(url=AMQP_URL, queue=self.queue, exchange=self.exchange,
                            binding_key=self.queue, record_type="transaction",
                            key_field="txn_id", prefetch=self.prefetch, max_wait_ms=50,
                            reconnect_initial_s=0.2, reconnect_max_s=2.0)

    def declare(self) -> None:
        with channel() as ch:
            ch.exchange_declare(self.exchange, exchange_type="topic", durable=True)
            ch.queue_declare(self.queue, durable=True)
            ch.queue_bind(self.queue, self.exchange, routing_key=self.queue)

    def publish(self, count: int) -> None:
        with channel() as ch:
            ch.confirm_delivery()
            for n in range(self.published, self.published + count):
                message_id, body = message(n)
                ch.basic_publish(self.exchange, self.queue, body, pika.BasicProperties(
                    delivery_mode=2, message_id=message_id, content_type="application/json"))
        self.published += count

    def ready(self) -> int:
        with channel() as ch:
            return int(ch.queue_declare(self.queue, durable=True, passive=True)
                       .method.message_count)

    def delete(self) -> None:
        with channel() as ch:
            ch.queue_delete(self.queue)


@cache
def wms_mapping() -> Mapping:
    return load_mapping("wms")


def fork_consumer(run: Run, pause: str | None) -> tuple[int, int]:
    """Fork a consumer; returns (pid, read end of the pipe its pause marker goes to)."""
    mapper = wms_mapping()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        return pid, read_end
    os.close(read_end)
    code = 1
    try:  # the child: never returns into the parent's code
        stream = os.fdopen(write_end, "w")
        hook = None
        if pause:
            point, _, nth = pause.partition(":")
            hook = PauseHook(point, int(nth or 1), stream=stream)
        app = bootstrap(Settings(database_url=run.db_url), migrate=False)
        AmqpConsumer(app.ingest, mapper, run.settings(), pause=hook).run(idle_exit_s=2.0)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def wait_marker(read_end: int, timeout: float) -> bool:
    ready, _, _ = select.select([read_end], [], [], timeout)
    return bool(ready) and b"tracebridge-paused-at" in os.read(read_end, 200)


def kill(pid: int, read_end: int) -> bool:
    """SIGKILL the child; True if it was still running (a real kill)."""
    os.close(read_end)
    try:
        os.kill(pid, signal.SIGKILL)
        alive = True
    except ProcessLookupError:
        alive = False
    _, status = os.waitpid(pid, 0)
    return alive and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def restart_broker_under(run: Run, rng: random.Random) -> None:
    """Stop and start the broker's app while a consumer is consuming; it must reconnect."""
    if run.ready() < 100:
        run.publish(200)
    pid, read_end = fork_consumer(run, None)
    time.sleep(rng.uniform(0.5, 1.0))
    rabbitmqctl("stop_app")
    time.sleep(1.0)
    rabbitmqctl("start_app")
    time.sleep(3.0)  # reconnect and consume some more after the restart
    kill(pid, read_end)


def inject(run: Run, *, kills: int, seed: int, broker_restarts: int = 0,
           wave: int = 200, progress: bool = False) -> dict[str, int]:
    """SIGKILL consumers ``kills`` times; returns how many kills hit each point."""
    rng = random.Random(seed)
    hits: dict[str, int] = {p: 0 for p in (*PAUSE_POINTS, "timer", "missed")}
    restart_at = {kills * (i + 1) // (broker_restarts + 1) for i in range(broker_restarts)}
    done = 0
    while done < kills:
        if done in restart_at:
            restart_at.discard(done)
            restart_broker_under(run, rng)
        if run.ready() < run.prefetch * 4:
            run.publish(wave)
        point = rng.choice((*PAUSE_POINTS, "timer"))
        pause = None if point == "timer" else f"{point}:{rng.randint(1, 3)}"
        pid, read_end = fork_consumer(run, pause)
        if pause is None:
            time.sleep(rng.uniform(0.0, 0.5))
        elif not wait_marker(read_end, 30.0):
            point = "missed"
        if kill(pid, read_end):
            done += 1
            hits[point] += 1
        if progress and done % 50 == 0:
            print(f"{datetime.now(UTC):%H:%M:%S} kills={done} published={run.published}",
                  flush=True)
    return hits


def drain(run: Run) -> None:
    pid, read_end = fork_consumer(run, None)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
        raise RuntimeError(f"the draining consumer failed (wait status {status})")


@dataclass
class Audit:
    published: int
    records: int
    poison: int
    events: int
    raw_receipts: int
    lost: int
    duplicated: int
    partial: int
    poison_not_dead_lettered: int
    integrity_breaks: int
    queue_left: int

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.partial
                    or self.poison_not_dead_lettered or self.integrity_breaks or self.queue_left)


def audit(run: Run) -> Audit:
    expected = {mid for mid, _ in map(message, range(run.published))}
    records = {m for m in expected if m.startswith("T")}
    poison_ids = expected - records
    engine = create_engine(run.db_url)
    with engine.connect() as conn:
        counts: dict[str, int] = dict(conn.execute(text(
            "SELECT source_record_id, COUNT(*) FROM event WHERE source_system = 'wms' "
            "GROUP BY source_record_id")).all())
        raws = conn.execute(text("SELECT id, record_key, origin FROM raw_record")).all()
        with_event = set(conn.execute(text(
            "SELECT raw_record_id FROM event WHERE raw_record_id IS NOT NULL")).scalars())
        dead = set(conn.execute(text("SELECT raw_record_id FROM dead_letter")).scalars())
        position = conn.execute(text(
            "SELECT position FROM projection_position WHERE name = 'main'")).scalar()
        last_seq = conn.execute(text("SELECT MAX(seq) FROM event")).scalar()
        breaks = len(verify_chain(conn))
    checkpoint = checkpoints.load(engine, run.settings().connector_name)
    engine.dispose()
    orphans = sum(1 for r in raws if r.id not in with_event and r.id not in dead
                  and r.record_key not in counts)
    stored_origins = {r.origin.rsplit("#", 1)[-1] for r in raws}
    dead_origins = {r.origin.rsplit("#", 1)[-1] for r in raws if r.id in dead}
    last_id = json.loads(checkpoint)["last_message_id"] if checkpoint else None
    partial = orphans + int(position != last_seq) + int(last_id not in stored_origins)
    return Audit(
        published=run.published, records=len(records), poison=len(poison_ids),
        events=sum(counts.values()), raw_receipts=len(raws),
        lost=len(records - counts.keys()),
        duplicated=sum(c - 1 for c in counts.values()) + len(counts.keys() - records),
        partial=partial, poison_not_dead_lettered=len(poison_ids - dead_origins),
        integrity_breaks=breaks, queue_left=run.ready(),
    )


def prepare(db_url: str) -> None:
    app = bootstrap(Settings(database_url=db_url))
    app.close()


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-admin-url", default=os.environ.get("TRACEBRIDGE_TEST_POSTGRES_URL"))
    parser.add_argument("--broker-restarts", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20240501)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as workdir, \
            database(args.db, workdir, args.pg_admin_url, name="crash") as db_url:
        prepare(db_url)
        run = Run(db_url)
        run.declare()
        try:
            hits = inject(run, kills=args.kills, seed=args.seed,
                          broker_restarts=args.broker_restarts, progress=True)
            drain(run)
            result = audit(run)
        finally:
            run.delete()
    print(json.dumps({
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "db": args.db, "kills": args.kills,
        "kills_by_point": hits, "broker_restarts": args.broker_restarts, "seed": args.seed,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
        "seconds": round(time.monotonic() - started), **asdict(result), "ok": result.ok,
    }, indent=2))
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
