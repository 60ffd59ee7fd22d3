"""Crash injection for the outbox dispatcher: SIGKILL it over and over, then count at the receiver.

    python stress/dispatch_stress.py --kills 1000 --db sqlite
    python stress/dispatch_stress.py --kills 200 --db postgres --pg-admin-url postgresql+psycopg://…

The harness takes quality decisions (hold, lift the hold, alternately, on 40 lots) — each
committed with its outbox message — and runs the dispatcher against a real RabbitMQ
exchange with one durable queue bound to it: the receiver. It SIGKILLs the dispatcher
over and over, frozen at a named point (``TRACEBRIDGE_PAUSE_AT``: decision committed but
not published; published but not marked done; ``done`` written but not committed; done
committed) or after a random delay while decisions keep being committed, taking another
wave of decisions whenever the backlog runs low. A kill is of either a forked child
running the same code as ``tracebridge dispatch`` (a warm interpreter: milliseconds per
kill) or of the real ``tracebridge dispatch`` command in a subprocess (``--cli-every``).
Finally one dispatcher drains the outbox and the receiver's queue is read and audited:

* lost — outbox messages never received; at_least_once — every message received ≥ 1 time;
* duplicated_after_dedupe — after dropping repeated idempotency keys, messages received
  that are not in the outbox or whose repeats differ in content;
* out_of_order — per lot, a message received after a later one of the same lot, or a
  lot's first receipts not numbered 1, 2, 3 …;
* not_done — outbox rows not ``done`` after the drain; integrity — ``verify_chain`` empty.
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from sqlalchemy import create_engine
from sqlalchemy import select as sql_select
from stress_harness import AMQP_URL, channel, database

from tracebridge.bootstrap import Container, bootstrap
from tracebridge.dispatch import outbox
from tracebridge.dispatch.pause import PAUSE_ENV, PAUSE_MARKER, PAUSE_POINTS
from tracebridge.domain.events import CanonicalEvent, EventKind, LotRef, Source
from tracebridge.settings import Settings
from tracebridge.store.event_log import verify_chain
from tracebridge.store.tables import outbox as outbox_table

GTIN = "09506000134352"
LOTS = tuple(f"D{n:03d}" for n in range(40))
CLI = ("from tracebridge.cli.main import app; app()",)


@dataclass
class Run:
    db_url: str
    exchange: str = field(default_factory=lambda: f"tb-dispatch-{uuid.uuid4().hex[:10]}")
    queue: str = ""
    decisions: int = 0
    held: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.queue = f"{self.exchange}.wms"

    def environment(self) -> dict[str, str]:
        """What both the harness and every dispatcher read: one target, the stress exchange."""
        return {"TRACEBRIDGE_DATABASE_URL": self.db_url,
                "TRACEBRIDGE_DISPATCH_TARGETS": '["wms"]',
                "TRACEBRIDGE_DISPATCH_ENDPOINTS": json.dumps(
                    {"wms": f"{AMQP_URL}?exchange={self.exchange}"})}

    def declare(self) -> None:
        with channel(30) as ch:
            ch.exchange_declare(self.exchange, exchange_type="topic", durable=True)
            ch.queue_declare(self.queue, durable=True)
            ch.queue_bind(self.queue, self.exchange, routing_key="lot.#")

    def delete(self) -> None:
        with channel(30) as ch:
            ch.queue_delete(self.queue)
            ch.exchange_delete(self.exchange)


@contextmanager
def environment(run: Run) -> Iterator[None]:
    """``run``'s settings in this process's environment (forked children inherit them)."""
    saved = {name: os.environ.get(name) for name in run.environment()}
    os.environ.update(run.environment())
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def prepare(run: Run) -> Container:
    """Migrate, receive the lots (so they can be held) and return the harness's container;
    call it inside :func:`environment`."""
    app = bootstrap(Settings(database_url=run.db_url))
    app.ingest.append_events(
        CanonicalEvent(kind=EventKind.RECEIVED, event_time=datetime(2026, 3, 1, tzinfo=UTC),
                       event_time_zone_offset="+08:00",
                       lots=(LotRef(gtin=GTIN, lot=lot, quantity=10),),
                       source=Source(system="erp", record_id=f"MIGO-{lot}"))
        for lot in LOTS)
    return app


def decide(app: Container, run: Run, rng: random.Random, count: int) -> None:
    """``count`` decisions, each committed with its outbox message: hold or lift the hold."""
    for _ in range(count):
        lot = rng.choice(LOTS)
        if lot in run.held:
            app.quality.release_hold(GTIN, lot, reason=f"closed #{run.decisions}", actor="qa")
            run.held.discard(lot)
        else:
            app.quality.hold(GTIN, lot, reason=f"NC #{run.decisions}", actor="qa")
            run.held.add(lot)
        run.decisions += 1


def pending(app: Container) -> int:
    with app.engine.connect() as conn:
        return sum(counts[outbox.PENDING] for counts in outbox.backlog(conn).values())


def fork_dispatcher(run: Run, pause: str | None) -> tuple[int, int]:
    """Fork a dispatcher built like ``tracebridge dispatch``; (pid, read end of its stderr)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        return pid, read_end
    os.close(read_end)
    code = 1
    try:  # the child: never returns into the parent's code
        os.dup2(write_end, 2)
        # The marker goes to sys.stderr, which a test runner may have replaced: point it
        # back at file descriptor 2, now the pipe.
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        os.environ[PAUSE_ENV] = pause or ""
        app = bootstrap(Settings(database_url=run.db_url), migrate=False)
        app.new_dispatcher().run_forever(idle_seconds=0.05)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def spawn_cli(run: Run, pause: str | None) -> tuple[subprocess.Popen[bytes], int]:
    """The real ``tracebridge dispatch`` command; (process, read end of its stderr)."""
    env = {**os.environ, **run.environment(), PAUSE_ENV: pause or ""}
    process = subprocess.Popen([sys.executable, "-c", *CLI, "dispatch"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    return process, process.stderr.fileno()


def wait_marker(read_end: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    seen = b""
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([read_end], [], [], left)
        if not ready:
            return False
        chunk = os.read(read_end, 4096)
        if not chunk:
            return False
        seen += chunk
        if PAUSE_MARKER.encode() in seen:
            return True
    return False


def kill_pid(pid: int) -> bool:
    """SIGKILL a forked child; True if it was still running (a real kill)."""
    try:
        os.kill(pid, signal.SIGKILL)
        alive = True
    except ProcessLookupError:
        alive = False
    _, status = os.waitpid(pid, 0)
    return alive and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def kill_process(process: subprocess.Popen[bytes]) -> bool:
    alive = process.poll() is None
    process.kill()
    process.wait()
    if process.stderr is not None:
        process.stderr.close()
    return alive and process.returncode == -signal.SIGKILL


def inject(app: Container, run: Run, *, kills: int, seed: int, cli_every: int = 0,
           wave: int = 60, progress: bool = False) -> dict[str, int]:
    """SIGKILL dispatchers ``kills`` times; returns how many kills hit each point."""
    rng = random.Random(seed)
    hits: dict[str, int] = {p: 0 for p in (*PAUSE_POINTS, "timer", "missed")}
    hits["cli"] = 0
    done = attempt = 0
    while done < kills:
        attempt += 1
        if pending(app) < 20:
            decide(app, run, rng, wave)
        point = rng.choice((*PAUSE_POINTS, "timer"))
        pause = None if point == "timer" else f"{point}:{rng.randint(1, 3)}"
        use_cli = cli_every > 0 and attempt % cli_every == 0
        app.engine.dispose()  # nothing of ours open across the fork
        if use_cli:
            process, read_end = spawn_cli(run, pause)
        else:
            pid, read_end = fork_dispatcher(run, pause)
        if pause is None:
            # Decisions committed while the dispatcher runs; then a kill at a random moment.
            until = time.monotonic() + rng.uniform(0.05, 2.0 if use_cli else 0.4)
            while time.monotonic() < until:
                decide(app, run, rng, 1)
        elif not wait_marker(read_end, 60.0):
            point = "missed"
        if use_cli:
            killed = kill_process(process)
        else:
            os.close(read_end)
            killed = kill_pid(pid)
        if killed:
            done += 1
            hits[point] += 1
            hits["cli"] += int(use_cli)
        if progress and killed and done % 50 == 0:
            print(f"{datetime.now(UTC):%H:%M:%S} kills={done} decisions={run.decisions}",
                  flush=True)
    return hits


def drain(app: Container, *, timeout: float = 120.0) -> None:
    """One dispatcher, run until nothing is pending (a retry waits out its backoff)."""
    dispatcher = app.new_dispatcher()
    deadline = time.monotonic() + timeout
    try:
        while pending(app):
            if time.monotonic() > deadline:
                raise RuntimeError(f"outbox not drained in {timeout:.0f} s")
            if dispatcher.run_once().sent == 0:
                time.sleep(0.2)
    finally:
        dispatcher.close()


def receive_all(run: Run) -> list[tuple[str, str, int, bytes]]:
    """Everything in the receiver's queue, in arrival order: (key, lot, sequence, body)."""
    received: list[tuple[str, str, int, bytes]] = []
    with channel(30) as ch:
        ch.basic_qos(prefetch_count=500)
        for method, properties, body in ch.consume(run.queue, auto_ack=True,
                                                   inactivity_timeout=2.0):
            if method is None:
                break
            headers = properties.headers or {}
            received.append((str(properties.message_id), str(headers["X-TraceBridge-Lot"]),
                             int(headers["X-TraceBridge-Sequence"]), bytes(body)))
        ch.cancel()
    return received


@dataclass
class Audit:
    decisions: int
    outbox_messages: int
    received: int
    redelivered: int
    lost: int
    at_least_once: bool
    duplicated_after_dedupe: int
    out_of_order: int
    not_done: int
    integrity_breaks: int

    @property
    def ok(self) -> bool:
        return (self.at_least_once and self.outbox_messages == self.decisions
                and not (self.lost or self.duplicated_after_dedupe or self.out_of_order
                         or self.not_done or self.integrity_breaks))


def audit(run: Run, received: list[tuple[str, str, int, bytes]]) -> Audit:
    engine = create_engine(run.db_url)
    with engine.connect() as conn:
        rows = conn.execute(sql_select(outbox_table.c.idempotency_key, outbox_table.c.gtin,
                                       outbox_table.c.lot, outbox_table.c.sequence,
                                       outbox_table.c.status)).all()
        breaks = len(verify_chain(conn))
    engine.dispose()
    expected = {r.idempotency_key: (f"{r.gtin}/{r.lot}", int(r.sequence)) for r in rows}
    bodies: dict[str, bytes] = {}
    unknown_or_altered = 0
    out_of_order = 0
    newest: dict[str, int] = {}
    for key, lot, sequence, body in received:
        if expected.get(key) != (lot, sequence):
            unknown_or_altered += 1
            continue
        if key in bodies:
            unknown_or_altered += int(bodies[key] != body)
            continue
        bodies[key] = body
        # A lot's first receipts must come 1, 2, 3 …: nothing skipped, nothing overtaken.
        out_of_order += int(sequence != newest.get(lot, 0) + 1)
        newest[lot] = max(newest.get(lot, 0), sequence)
    # A repeat is only ever of the newest message of its lot (sent again after a kill).
    seen_max: dict[str, int] = {}
    for _, lot, sequence, _ in received:
        out_of_order += int(sequence < seen_max.get(lot, 0))
        seen_max[lot] = max(seen_max.get(lot, 0), sequence)
    lost = len(expected.keys() - bodies.keys())
    return Audit(
        decisions=run.decisions, outbox_messages=len(rows), received=len(received),
        redelivered=len(received) - len(bodies), lost=lost, at_least_once=lost == 0,
        duplicated_after_dedupe=unknown_or_altered, out_of_order=out_of_order,
        not_done=sum(1 for r in rows if r.status != outbox.DONE), integrity_breaks=breaks)


def stress(db_url: str, *, kills: int, seed: int, cli_every: int = 0,
           progress: bool = False) -> tuple[dict[str, int], Audit]:
    """The whole run: prepare, kill ``kills`` times, drain, read the receiver, audit."""
    run = Run(db_url)
    run.declare()
    try:
        with environment(run):
            app = prepare(run)
            try:
                hits = inject(app, run, kills=kills, seed=seed, cli_every=cli_every,
                              progress=progress)
                drain(app)
            finally:
                app.close()
        result = audit(run, receive_all(run))
    finally:
        run.delete()
    return hits, result


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-admin-url", default=os.environ.get("TRACEBRIDGE_TEST_POSTGRES_URL"))
    parser.add_argument("--cli-every", type=int, default=10,
                        help="every N-th kill is of a real `tracebridge dispatch` subprocess")
    parser.add_argument("--seed", type=int, default=20261125)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as workdir, \
            database(args.db, workdir, args.pg_admin_url, name="dispatch") as db_url:
        hits, result = stress(db_url, kills=args.kills, seed=args.seed,
                              cli_every=args.cli_every, progress=True)
    print(json.dumps({
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "db": args.db, "kills": args.kills,
        "kills_by_point": hits, "seed": args.seed, "cli_every": args.cli_every,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
        "seconds": round(time.monotonic() - started), **asdict(result), "ok": result.ok,
    }, indent=2))
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
