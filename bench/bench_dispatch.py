"""Outbox dispatch latency: decision committed → message at the receiver, p50 / p99.

    python bench/bench_dispatch.py [--decisions 2000] [--rate 50] [--idle 0.05]

Quality decisions (hold, lift the hold, alternately, on 100 lots) are committed at a steady
``--rate`` per second; each writes one outbox message for the WMS and one for the ERP in
its transaction. A dispatcher in its own process (forked, so it competes for no lock of
ours) polls the outbox every ``--idle`` seconds when idle and sends:

1. *file* (baseline) — both targets written as files (``FileOutbound``); received = the
   file's modification time;
2. *amqp* and *webhook* — the WMS's messages published to a RabbitMQ exchange and taken
   by a consumer on a bound queue (publisher confirms, persistent messages); the ERP's
   POSTed, signed, to a local HTTP receiver that checks the signature.

Latency = receipt time − the moment the decision's commit returned, per message. Each
path runs in a fresh SQLite store in the same run; the ratios are to the file baseline.
Needs RabbitMQ at ``TRACEBRIDGE_TEST_AMQP_URL`` (default amqp://guest:guest@127.0.0.1:5672/).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pika  # type: ignore[import-untyped]

from tracebridge.bootstrap import Container, bootstrap
from tracebridge.dispatch.amqp import AmqpOutbound
from tracebridge.dispatch.dispatcher import Dispatcher
from tracebridge.dispatch.files import FileOutbound
from tracebridge.dispatch.outbound import IDEMPOTENCY_HEADER, Outbound
from tracebridge.dispatch.outbox import idempotency_key
from tracebridge.dispatch.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookOutbound,
    verify_signature,
)
from tracebridge.domain.events import CanonicalEvent, EventKind, LotRef, Source
from tracebridge.settings import Settings

AMQP_URL = os.environ.get("TRACEBRIDGE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
GTIN = "09506000134352"
LOTS = tuple(f"P{n:03d}" for n in range(100))
SECRET = b"bench-secret"
TARGETS = ("wms", "erp")

Sent = dict[str, float]  # idempotency key → when the decision's commit returned
Received = dict[str, float]  # idempotency key → when the receiver first had the message


def prepare(workdir: Path, name: str) -> Container:
    app = bootstrap(Settings(database_url=f"sqlite:///{workdir / name}.db"))
    app.ingest.append_events(
        CanonicalEvent(kind=EventKind.RECEIVED, event_time=datetime(2026, 3, 1, tzinfo=UTC),
                       event_time_zone_offset="+08:00",
                       lots=(LotRef(gtin=GTIN, lot=lot, quantity=10),),
                       source=Source(system="erp", record_id=f"MIGO-{lot}"))
        for lot in LOTS)
    return app


def decide(app: Container, *, count: int, rate: float) -> Sent:
    """``count`` decisions at ``rate`` per second; when each one's commit returned."""
    sent: Sent = {}
    held: set[str] = set()
    started = time.monotonic()
    for n in range(count):
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        lot = LOTS[n % len(LOTS)]
        if lot in held:
            decision = app.quality.release_hold(GTIN, lot, reason=f"closed {n}", actor="qa")
            held.discard(lot)
        else:
            decision = app.quality.hold(GTIN, lot, reason=f"NC {n}", actor="qa")
            held.add(lot)
        committed = time.time()
        for target in TARGETS:
            sent[idempotency_key(target, decision.event_id, GTIN, lot)] = committed
    return sent


def fork_dispatcher(db_url: str, build: Callable[[], dict[str, Outbound]],
                    idle: float) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:  # the child: never returns into the parent's code
        app = bootstrap(Settings(database_url=db_url), migrate=False)
        Dispatcher(app.engine, build(), idle_seconds=idle).run_forever()
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def stop(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    os.waitpid(pid, 0)


def wait_for(received: Received, keys: set[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not keys <= received.keys():
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{len(keys - received.keys())} message(s) not received "
                               f"in {timeout:.0f} s")
        time.sleep(0.05)


def keys_by_target(app: Container) -> dict[str, set[str]]:
    """Which idempotency key went to which target, read back from the outbox."""
    from sqlalchemy import select

    from tracebridge.store.tables import outbox

    keys: dict[str, set[str]] = {}
    with app.engine.connect() as conn:
        for target, key in conn.execute(select(outbox.c.target, outbox.c.idempotency_key)):
            keys.setdefault(target, set()).add(key)
    return keys


def latencies(sent: Sent, received: Received, keys: set[str]) -> list[float]:
    return [received[key] - sent[key] for key in keys]


def summary(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"messages": len(values), "p50_ms": round(cuts[49] * 1000, 1),
            "p99_ms": round(cuts[98] * 1000, 1), "max_ms": round(max(values) * 1000, 1)}


def file_run(workdir: Path, *, decisions: int, rate: float, idle: float) -> dict[str, Any]:
    app = prepare(workdir, "file")
    folders = {target: workdir / "outbox" / target for target in TARGETS}
    app.engine.dispose()
    pid = fork_dispatcher(str(app.engine.url), lambda: {
        target: FileOutbound(folder) for target, folder in folders.items()}, idle)
    try:
        sent = decide(app, count=decisions, rate=rate)
        deadline = time.monotonic() + 120
        while sum(len(list(f.glob("*.json"))) for f in folders.values() if f.exists()) \
                < len(sent) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop(pid)
    received: Received = {}
    for folder in folders.values():
        for path in folder.glob("*.json"):
            document = json.loads(path.read_text(encoding="utf-8"))
            received.setdefault(document["headers"][IDEMPOTENCY_HEADER],
                                path.stat().st_mtime_ns / 1e9)
    wait_for(received, set(sent), timeout=0.0)
    keys = keys_by_target(app)
    app.close()
    return {target: summary(latencies(sent, received, keys[target])) for target in TARGETS}


class WebhookReceiver(BaseHTTPRequestHandler):
    received: ClassVar[Received] = {}
    bad_signatures: ClassVar[int] = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        arrived = time.time()
        if not verify_signature(SECRET, self.headers[TIMESTAMP_HEADER], body,
                                self.headers[SIGNATURE_HEADER]):
            type(self).bad_signatures += 1
            self.send_response(401)
        else:
            self.received.setdefault(self.headers[IDEMPOTENCY_HEADER], arrived)
            self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per request would cost more than the request."""


@contextmanager
def webhook_receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), WebhookReceiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/usage-decision"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def amqp_receiver(exchange: str, received: Received) -> Iterator[None]:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)
    queue = channel.queue_declare(queue="", exclusive=True).method.queue
    channel.queue_bind(queue=queue, exchange=exchange, routing_key="lot.#")

    def on_message(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        received.setdefault(properties.message_id, time.time())

    channel.basic_consume(queue=queue, on_message_callback=on_message, auto_ack=True)
    thread = threading.Thread(target=channel.start_consuming, daemon=True)
    thread.start()
    try:
        yield
    finally:
        connection.add_callback_threadsafe(channel.stop_consuming)
        thread.join(10)
        channel.exchange_delete(exchange=exchange)
        connection.close()


def network_run(workdir: Path, *, decisions: int, rate: float,
                idle: float) -> dict[str, Any]:
    app = prepare(workdir, "network")
    exchange = f"bench.wms.{uuid.uuid4().hex[:8]}"
    received: Received = {}
    WebhookReceiver.received = received
    with webhook_receiver() as url, amqp_receiver(exchange, received):
        app.engine.dispose()
        pid = fork_dispatcher(str(app.engine.url), lambda: {
            "wms": AmqpOutbound(AMQP_URL, exchange=exchange),
            "erp": WebhookOutbound(url, secret=SECRET)}, idle)
        try:
            sent = decide(app, count=decisions, rate=rate)
            wait_for(received, set(sent))
        finally:
            stop(pid)
    if WebhookReceiver.bad_signatures:
        raise RuntimeError(f"{WebhookReceiver.bad_signatures} webhook(s) badly signed")
    keys = keys_by_target(app)
    app.close()
    return {"amqp (wms)": summary(latencies(sent, received, keys["wms"])),
            "webhook (erp)": summary(latencies(sent, received, keys["erp"]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50.0, help="decisions per second")
    parser.add_argument("--idle", type=float, default=0.05,
                        help="dispatcher poll interval when the outbox is empty (s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        baseline = file_run(workdir, decisions=args.decisions, rate=args.rate, idle=args.idle)
        network = network_run(workdir, decisions=args.decisions, rate=args.rate,
                              idle=args.idle)
    file_p50 = statistics.mean(b["p50_ms"] for b in baseline.values())
    file_p99 = statistics.mean(b["p99_ms"] for b in baseline.values())
    print(json.dumps({
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
        "decisions": args.decisions, "rate_per_s": args.rate, "idle_s": args.idle,
        "file (baseline)": baseline, **network,
        "ratio_to_file": {name: {"p50": round(figures["p50_ms"] / file_p50, 2),
                                 "p99": round(figures["p99_ms"] / file_p99, 2)}
                          for name, figures in network.items()},
    }, indent=2))


if __name__ == "__main__":
    main()
