"""Records/s through the RabbitMQ consumer and through REST, as ratios to file ingest.

    python bench/bench_connectors.py [--records 20000] [--batch 500]

The same N WMS stock moves go three ways, each into its own fresh SQLite store, in one
run on one machine:

1. *file* (baseline) — one JSON Lines file through ``IngestService.ingest_paths``;
2. *amqp* — published to a durable queue first (not timed), then consumed by
   :class:`AmqpConsumer` (prefetch = batch, ack after commit); timed until the last
   batch is committed and acknowledged;
3. *rest* — ``POST /ingest/wms`` of batches of ``--batch`` records (JSON Lines) to a real
   uvicorn server in a thread, one request after another.

Needs RabbitMQ at ``TRACEBRIDGE_TEST_AMQP_URL`` (default amqp://guest:guest@127.0.0.1:5672/).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import pika  # type: ignore[import-untyped]
import uvicorn
from pydantic import SecretStr

from tracebridge.api.app import create_app
from tracebridge.bootstrap import Container, bootstrap
from tracebridge.ingest.amqp import AmqpConsumer, AmqpSettings
from tracebridge.mapping.engine import load_mapping
from tracebridge.settings import Settings

AMQP_URL = os.environ.get("TRACEBRIDGE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
API_KEY = "bench-key"


def records(count: int) -> list[bytes]:
    return [json.dumps({"txn_id": f"B{n:07d}", "type": "MOV", "ts": 1_700_000_000_000 + n,
                        "gtin": "09506000134352", "lot_no": f"L{n % 200:03d}",
                        "qty": n % 7 + 1, "uom": "EA", "loc": f"A-{n % 40:02d}",
                        "from_loc": "RCV", "user": "bench"}).encode() for n in range(count)]


def store(workdir: Path, name: str, batch: int) -> Container:
    settings = Settings(database_url=f"sqlite:///{workdir / name}.db", batch_size=batch,
                        api_keys={"wms": SecretStr(API_KEY)})
    app = bootstrap(settings)
    return app


def events(app: Container) -> int:
    with app.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT COUNT(*) FROM event").scalar_one())


def bench_file(workdir: Path, bodies: list[bytes], batch: int) -> float:
    path = workdir / "transactions_bench.jsonl"
    path.write_bytes(b"\n".join(bodies) + b"\n")
    app = store(workdir, "file", batch)
    started = time.perf_counter()
    app.ingest.ingest_paths(load_mapping("wms"), [path])
    elapsed = time.perf_counter() - started
    assert events(app) == len(bodies), "file ingest lost records"
    app.close()
    return elapsed


def bench_amqp(workdir: Path, bodies: list[bytes], batch: int) -> float:
    queue = f"tb-bench-{uuid.uuid4().hex[:8]}"
    settings = AmqpSettings(url=AMQP_URL, queue=queue, exchange="tb-bench", binding_key=queue,
                            record_type="transaction", key_field="txn_id", prefetch=batch)
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.exchange_declare(settings.exchange, exchange_type="topic", durable=True)
    channel.queue_declare(queue, durable=True)
    channel.queue_bind(queue, settings.exchange, routing_key=queue)
    channel.confirm_delivery()
    for body in bodies:
        channel.basic_publish(settings.exchange, queue, body,
                              pika.BasicProperties(delivery_mode=2))
    app = store(workdir, "amqp", batch)
    consumer = AmqpConsumer(app.ingest, load_mapping("wms"), settings)
    finished: list[float] = []

    def stop_when_done() -> None:  # the clock stops when the last record is committed
        while consumer.stats.messages < len(bodies):
            time.sleep(0.005)
        finished.append(time.perf_counter())
        consumer.stop()

    watcher = threading.Thread(target=stop_when_done)
    started = time.perf_counter()
    watcher.start()
    consumer.run()
    watcher.join()
    channel.queue_delete(queue)
    connection.close()
    assert events(app) == len(bodies), "the consumer lost records"
    app.close()
    return finished[0] - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bench_rest(workdir: Path, bodies: list[bytes], batch: int) -> float:
    app = store(workdir, "rest", batch)
    api = create_app(app)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    headers = {"X-API-Key": API_KEY, "Content-Type": "application/x-ndjson"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        started = time.perf_counter()
        for start in range(0, len(bodies), batch):
            response = client.post("/ingest/wms", headers=headers,
                                   content=b"\n".join(bodies[start:start + batch]))
            response.raise_for_status()
        elapsed = time.perf_counter() - started
    server.should_exit = True
    thread.join()
    assert events(app) == len(bodies), "REST ingest lost records"
    app.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    bodies = records(args.records)
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        timings = {"file": bench_file(workdir, bodies, args.batch),
                   "amqp": bench_amqp(workdir, bodies, args.batch),
                   "rest": bench_rest(workdir, bodies, args.batch)}
    base = args.records / timings["file"]
    print(f"{args.records:,} WMS records, batches of {args.batch}, SQLite")
    for name, seconds in timings.items():
        rate = args.records / seconds
        print(f"  {name:<5} {seconds:7.2f} s  {rate:9,.0f} records/s  ratio to file "
              f"{rate / base:5.2f}")


if __name__ == "__main__":
    main()
