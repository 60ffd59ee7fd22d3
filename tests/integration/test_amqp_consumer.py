"""The RabbitMQ consumer against a real broker: batches, acks after commit, poison, reconnects.

Without a reachable broker these tests skip locally and FAIL under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from tracebridge.bootstrap import Container
from tracebridge.ingest import checkpoints
from tracebridge.ingest.amqp import AmqpConsumer, AmqpSettings, raw_record_of
from tracebridge.mapping.engine import load_mapping
from tracebridge.mapping.records import RecordRejected

AMQP_URL = os.environ.get("TRACEBRIDGE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
WMS = load_mapping("wms")


def move(n: int) -> dict[str, Any]:
    return {"txn_id": f"M{n:05d}", "type": "MOV", "ts": 1_700_000_000_000 + n, "gtin":
            "09506000134352", "lot_no": "L7", "qty": 2, "uom": "EA", "loc": "B-01",
            "from_loc": "RCV", "user": "test"}


@pytest.fixture
def broker(amqp_url: str) -> Iterator[pika.BlockingConnection]:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    yield connection
    connection.close()


@pytest.fixture
def settings(broker: pika.BlockingConnection) -> Iterator[AmqpSettings]:
    queue = f"tb-test-{uuid.uuid4().hex[:10]}"
    yield AmqpSettings(url=AMQP_URL, queue=queue, exchange="tb-test", binding_key=queue,
                       record_type="transaction", key_field="txn_id", prefetch=10,
                       max_wait_ms=50, reconnect_initial_s=0.05, reconnect_max_s=0.2)
    broker.channel().queue_delete(queue)


def publish(broker: pika.BlockingConnection, s: AmqpSettings,
            bodies: list[tuple[bytes, str | None]]) -> None:
    channel = broker.channel()
    channel.exchange_declare(s.exchange, exchange_type="topic", durable=True)
    channel.queue_declare(s.queue, durable=True)
    channel.queue_bind(s.queue, s.exchange, routing_key=s.binding_key)
    channel.confirm_delivery()
    for number, (body, record_type) in enumerate(bodies):
        channel.basic_publish(s.exchange, s.binding_key, body, pika.BasicProperties(
            delivery_mode=2, message_id=f"msg-{number}", type=record_type))
    channel.close()


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {table: conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
                for table in ("raw_record", "event", "dead_letter")}


def ready(broker: pika.BlockingConnection, s: AmqpSettings) -> int:
    frame = broker.channel().queue_declare(s.queue, durable=True, passive=True)
    return int(frame.method.message_count)


@pytest.fixture
def app(sqlite_container: Container) -> Container:
    return sqlite_container


def test_req1_messages_become_events_in_batches_then_are_acked(
    broker: pika.BlockingConnection, settings: AmqpSettings, app: Container
) -> None:
    """REQ-1: 35 messages → 35 events in batches of ≤ 10, checkpoint committed with them."""
    publish(broker, settings, [(json.dumps(move(n)).encode(), None) for n in range(35)])
    stats = AmqpConsumer(app.ingest, WMS, settings).run(idle_exit_s=0.5)
    assert stats.messages == 35 and stats.ingest.events_stored == 35
    assert stats.batches >= 4 and stats.redelivered == 0
    assert counts(app.engine) == {"raw_record": 35, "event": 35, "dead_letter": 0}
    assert ready(broker, settings) == 0
    position = json.loads(checkpoints.load(app.engine, "amqp:" + settings.queue) or "{}")
    assert position["last_message_id"] == "msg-34"


def test_poison_messages_are_dead_lettered_acked_and_consuming_goes_on(
    broker: pika.BlockingConnection, settings: AmqpSettings, app: Container
) -> None:
    huge = {**move(900), "lot_no": "L" * 1_000_000}
    poison: list[tuple[bytes, str | None]] = [
        (b"{truncated", None),
        (b"\xff\xfe\x00 not utf-8", None),
        (b'["an", "array"]', None),
        (json.dumps({**move(901), "qty": "many"}).encode(), None),
        (json.dumps({"txn_id": "X1", "type": "MOV"}).encode(), None),  # no time stamp
        (json.dumps(move(902)).encode(), "no-such-record-type"),
        (json.dumps(huge).encode(), None),
    ]
    good: list[tuple[bytes, str | None]] = [(json.dumps(move(n)).encode(), None)
                                            for n in range(5)]
    publish(broker, settings, poison + good)
    stats = AmqpConsumer(app.ingest, WMS, settings).run(idle_exit_s=0.5)
    assert stats.messages == 12 and stats.ingest.events_stored == 5
    assert counts(app.engine) == {"raw_record": 12, "event": 5, "dead_letter": 7}
    assert ready(broker, settings) == 0  # acknowledged, not requeued
    with app.engine.connect() as conn:
        reasons = set(conn.execute(text("SELECT reason FROM dead_letter")).scalars())
    assert {"malformed-record", "unknown-record-type", "missing-field"} <= reasons


def test_redelivery_after_commit_before_ack_doubles_receipts_not_events(
    broker: pika.BlockingConnection, settings: AmqpSettings, app: Container
) -> None:
    """The connection dies after the first batch committed and before its ack: the broker
    redelivers it, the raw inbox keeps both receipts, the event log one event each."""
    calls = {"after-commit": 0}

    def lose_connection_once(point: str) -> None:
        if point == "after-commit":
            calls[point] += 1
            if calls[point] == 1:
                raise pika.exceptions.StreamLostError("injected: connection lost before ack")

    publish(broker, settings, [(json.dumps(move(n)).encode(), None) for n in range(25)])
    stats = AmqpConsumer(app.ingest, WMS, settings, pause=lose_connection_once).run(
        idle_exit_s=0.5)
    assert stats.reconnects == 1
    assert stats.redelivered >= 10 and stats.ingest.duplicates >= 10
    found = counts(app.engine)
    assert found["event"] == 25 and found["raw_record"] == 25 + stats.redelivered
    assert ready(broker, settings) == 0


def test_unreachable_broker_is_retried_with_backoff_until_stopped(app: Container) -> None:
    settings = AmqpSettings(url="amqp://guest:guest@127.0.0.1:1/", queue="nowhere",
                            record_type="transaction", reconnect_initial_s=0.05,
                            reconnect_max_s=0.2)
    consumer = AmqpConsumer(app.ingest, WMS, settings)
    timer = threading.Timer(1.5, consumer.stop)
    timer.start()
    stats = consumer.run()
    timer.join()
    assert stats.reconnects >= 3 and stats.messages == 0


@given(st.binary(max_size=300) | st.dictionaries(st.text(max_size=8), st.one_of(
    st.none(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)), max_size=6
).map(lambda d: json.dumps(d).encode()))
def test_any_message_body_becomes_a_record_or_a_clear_rejection(body: bytes) -> None:
    """Malformed bodies never crash the consumer: a raw record, then events or a reason."""
    raw = raw_record_of(body, source_system="wms", record_type="transaction",
                        origin="amqp:q#1", key_field="txn_id")
    assert raw.payload == body and isinstance(raw.fields, dict)
    try:
        WMS.map(raw)
    except RecordRejected as rejected:
        assert rejected.reason and rejected.errors
