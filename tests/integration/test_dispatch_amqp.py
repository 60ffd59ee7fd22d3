"""AMQP delivery against a real RabbitMQ, and the round trip ERP → TraceBridge → WMS.

Needs a broker at ``TRACEBRIDGE_TEST_AMQP_URL`` (default ``amqp://guest:guest@127.0.0.1:5672/``).
Skipped on a developer machine without one; under CI (``CI=true``) a missing broker fails.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pika  # type: ignore[import-untyped]
import pytest
from sqlalchemy import select

from tracebridge.bootstrap import Container
from tracebridge.dispatch.amqp import AmqpOutbound
from tracebridge.dispatch.dispatcher import Dispatcher
from tracebridge.domain.events import CanonicalEvent, EventKind, LotRef, Source
from tracebridge.mapping import load_mapping
from tracebridge.store.tables import outbox

AMQP_URL = os.environ.get("TRACEBRIDGE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
GTIN = "09506000134352"


@pytest.fixture
def broker(amqp_url: str) -> Iterator[Any]:
    """A channel to the broker, for the test's own WMS-side consumer."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        yield connection.channel()
    finally:
        connection.close()


@pytest.fixture
def wms_queue(broker: Any) -> Iterator[tuple[str, str]]:
    """A fresh exchange for the WMS target and a queue bound to every lot decision."""
    exchange = f"test.wms.{uuid.uuid4().hex[:8]}"
    broker.exchange_declare(exchange=exchange, exchange_type="topic", durable=True)
    queue = broker.queue_declare(queue="", exclusive=True).method.queue
    broker.queue_bind(queue=queue, exchange=exchange, routing_key="lot.#")
    try:
        yield exchange, queue
    finally:
        broker.exchange_delete(exchange=exchange)


def consume(broker: Any, queue: str) -> list[tuple[Any, dict[str, Any]]]:
    messages: list[tuple[Any, dict[str, Any]]] = []
    while True:
        method, properties, body = broker.basic_get(queue=queue, auto_ack=True)
        if method is None:
            return messages
        messages.append((properties, json.loads(body)))


@pytest.fixture
def app(sqlite_container: Container) -> Container:
    return sqlite_container


def receive(app: Container, *lots: str) -> None:
    app.ingest.append_events(
        CanonicalEvent(
            kind=EventKind.RECEIVED, event_time=datetime(2026, 3, 1, tzinfo=UTC),
            event_time_zone_offset="+08:00", lots=(LotRef(gtin=GTIN, lot=name, quantity=5),),
            source=Source(system="erp", record_id=f"MIGO-{name}"))
        for name in lots
    )


def test_consumer_receives_messages_in_order_with_wms_field_names(
    app: Container, broker: Any, wms_queue: tuple[str, str]
) -> None:
    exchange, queue = wms_queue
    receive(app, "L1", "L2")
    app.quality.hold(GTIN, "L1", reason="NC-1", actor="u.li")
    app.quality.hold(GTIN, "L2", reason="NC-2", actor="u.li")
    app.quality.release_hold(GTIN, "L1", reason="NC-1 closed", actor="u.wang")
    app.quality.hold(GTIN, "L1", reason="NC-4", actor="u.li")
    dispatcher = Dispatcher(app.engine, {"wms": AmqpOutbound(AMQP_URL, exchange=exchange)})
    report = dispatcher.run_once()
    dispatcher.close()
    assert report.sent == 4 and report.errors == []
    received = consume(broker, queue)
    l1 = [(p.headers["X-TraceBridge-Sequence"], b["QA_STATUS"], b["REASON_TXT"])
          for p, b in received if b["LOT_NO"] == "L1"]
    assert l1 == [("1", "QH", "NC-1"), ("2", "QR", "NC-1 closed"), ("3", "QH", "NC-4")]
    properties, body = received[0]
    assert set(body) >= {"MSG_TYPE", "SKU_GTIN", "LOT_NO", "QA_STATUS", "USER_ID", "EVENT_TS"}
    assert properties.delivery_mode == 2  # persistent
    assert properties.message_id == properties.headers["Idempotency-Key"]
    with app.engine.connect() as conn:
        keys = set(conn.execute(select(outbox.c.idempotency_key)
                                .where(outbox.c.target == "wms")).scalars())
    assert {p.message_id for p, _ in received} == keys


def test_unroutable_publish_is_retried_not_lost(app: Container, broker: Any) -> None:
    """Publisher confirms + mandatory: no queue bound means not delivered."""
    exchange = f"test.nobody.{uuid.uuid4().hex[:8]}"
    receive(app, "L1")
    app.quality.hold(GTIN, "L1", reason="NC-1", actor="u.li")
    dispatcher = Dispatcher(app.engine, {"wms": AmqpOutbound(AMQP_URL, exchange=exchange)})
    try:
        report = dispatcher.run_once()
    finally:
        dispatcher.close()
        broker.exchange_delete(exchange=exchange)
    assert (report.sent, report.retried) == (0, 1)
    assert "Unroutable" in report.errors[0]


USAGE_DECISIONS = (
    "PRUEFLOS,UDNR,VCODE,MATNR,EAN11,CHARG,WERKS,VDATUM,VZEIT,VNAME,VTEXT\n"
    f"890000000101,01,H1,FG-1001,{GTIN},L7,1000,02.03.2026,09:15:00,QA01,Bioburden OOS\n"
    f"890000000101,02,F1,FG-1001,{GTIN},L7,1000,04.03.2026,16:40:00,QA02,Retest passed\n"
)


def test_round_trip_erp_hold_reaches_the_wms_in_wms_terms(
    app: Container, broker: Any, wms_queue: tuple[str, str], tmp_path: Path
) -> None:
    """ERP usage decisions (hold, hold lifted) → TraceBridge → the WMS's own messages."""
    exchange, queue = wms_queue
    receive(app, "L7")
    export = tmp_path / "usage_decisions_202603.csv"
    export.write_text(USAGE_DECISIONS, encoding="utf-8")
    summary = app.ingest.ingest_paths(load_mapping("erp"), [export])
    assert summary.events_stored == 2 and summary.rejected_total == 0
    dispatcher = Dispatcher(app.engine, {"wms": AmqpOutbound(AMQP_URL, exchange=exchange)},
                            clock=lambda: datetime.now(UTC) + timedelta(seconds=1))
    assert dispatcher.run_once().sent == 2
    dispatcher.close()
    received = [body for _, body in consume(broker, queue)]
    assert [(b["MSG_TYPE"], b["QA_STATUS"], b["LOT_NO"], b["SKU_GTIN"], b["USER_ID"],
             b["ORIGIN_SYS"], b["EVENT_TS"]) for b in received] == [
        ("HOLD", "QH", "L7", GTIN, "QA01", "ERP", "2026-03-02 09:15:00"),
        ("UNHOLD", "QR", "L7", GTIN, "QA02", "ERP", "2026-03-04 16:40:00"),
    ]
    assert received[0]["REASON_TXT"] == "Bioburden OOS"
    with app.engine.connect() as conn:
        targets = set(conn.execute(select(outbox.c.target)).scalars())
    assert targets == {"wms"}  # never echoed back to the ERP it came from
