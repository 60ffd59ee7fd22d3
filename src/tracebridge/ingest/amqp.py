"""RabbitMQ in: a consumer that acknowledges a message only after its batch is committed.

The consumer takes up to ``prefetch`` messages (or what arrived within ``max_wait_ms``),
ingests them as ONE transaction through :class:`IngestService` — raw inbox, mapping,
events, projections, dead letters and this connector's checkpoint together — and only
then acknowledges them all at once (``multiple=True`` up to the last delivery tag).

What a crash does at each point:

* before the commit: nothing was written; the broker redelivers the messages;
* after the commit, before the ack: the broker redelivers messages that were stored.
  The raw inbox keeps the second delivery too (it records every receipt), but the
  records map to the same events — an event's identity is (source system, record id,
  content hash) — so the event log does not grow. *Duplicated* therefore counts
  events, never raw receipts;
* a poison message (not JSON, not mappable) is a dead letter with its bytes, and is
  acknowledged like any other: it is never requeued forever.

When the broker goes away the consumer reconnects with exponential backoff; unacked
messages go back to the queue by themselves.

A message body is one JSON object, like one line of a JSON Lines export. The AMQP
``type`` property names the mapping's record type (default: the configured one):

>>> raw = raw_record_of(b'{"txn_id": "T-1", "qty": 5}', source_system="wms",
...                     record_type="transaction", origin="amqp:wms.in#T-1", key_field="txn_id")
>>> raw.record_type, raw.record_key, raw.fields["qty"]
('transaction', 'T-1', 5)
>>> raw_record_of(b"\\xff not json", source_system="wms", record_type="transaction",
...               origin="amqp:wms.in#2").fields   # the mapping rejects it: a dead letter
{}
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]
from sqlalchemy.exc import OperationalError

from tracebridge.ingest.service import IngestService, IngestSummary, RecordMapper
from tracebridge.mapping.records import MappedRecord, RawRecord

log = logging.getLogger(__name__)

PAUSE_ENV = "TRACEBRIDGE_PAUSE_AT"
PAUSE_POINTS = ("received", "in-transaction", "after-commit", "after-ack")
PAUSE_MARKER = "tracebridge-paused-at"


def raw_record_of(
    body: bytes,
    *,
    source_system: str,
    record_type: str,
    origin: str,
    key_field: str | None = None,
    message_id: str | None = None,
) -> RawRecord:
    """One message body as a raw record; a body that is not a JSON object has no fields."""
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        value = None
    fields: dict[str, Any] = value if isinstance(value, dict) else {}
    key = fields.get(key_field) if key_field else message_id
    record_key = None if key is None else str(key)[:200]
    return RawRecord(source_system, record_type, body, origin[:500], fields, record_key)


@dataclass(frozen=True)
class AmqpSettings:
    url: str
    queue: str
    record_type: str
    exchange: str = "tracebridge.in"
    binding_key: str = "#"
    prefetch: int = 500
    max_wait_ms: int = 200
    key_field: str | None = None
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0

    @property
    def connector_name(self) -> str:
        return f"amqp:{self.queue}"


@dataclass
class ConsumeStats:
    messages: int = 0
    batches: int = 0
    redelivered: int = 0
    reconnects: int = 0
    ingest: IngestSummary = field(default_factory=IngestSummary)

    def as_dict(self) -> dict[str, object]:
        return {
            "messages": self.messages,
            "batches": self.batches,
            "redelivered": self.redelivered,
            "reconnects": self.reconnects,
            **self.ingest.as_dict(),
        }


class PauseHook:
    """Crash-injection hook: freeze the process at a named point so a test can SIGKILL it.

    ``TRACEBRIDGE_PAUSE_AT=after-commit:3`` freezes at the third batch committed but not
    yet acknowledged, after printing a marker line the test waits for. Unset, it is off.
    """

    def __init__(self, point: str, occurrence: int = 1, stream: TextIO | None = None) -> None:
        if point not in PAUSE_POINTS:
            raise ValueError(f"pause point '{point}' is not one of {', '.join(PAUSE_POINTS)}")
        self.point = point
        self.occurrence = occurrence
        self.seen = 0
        self.stream = stream or sys.stderr

    @classmethod
    def from_env(cls) -> PauseHook | None:
        spec = os.environ.get(PAUSE_ENV, "").strip()
        if not spec:
            return None
        point, _, nth = spec.partition(":")
        return cls(point, int(nth) if nth else 1)

    def __call__(self, point: str) -> None:
        if point != self.point:
            return
        self.seen += 1
        if self.seen == self.occurrence:
            print(f"{PAUSE_MARKER} {point}", file=self.stream, flush=True)
            while True:  # held here until the test kills the process
                time.sleep(3600)


class _PausingMapper:
    """Delegates to a mapper; pauses while the batch's last record is mapped, i.e. inside
    the open transaction, so a kill there must roll the whole batch back."""

    def __init__(self, inner: RecordMapper, last: RawRecord, pause: Callable[[str], None]):
        self.inner, self.last, self.pause = inner, last, pause
        self.source_system = inner.source_system
        self.mapping_id = inner.mapping_id
        self.version = inner.version

    def read(self, path: Path) -> Iterator[RawRecord]:
        return self.inner.read(path)

    def map(self, raw: RawRecord) -> MappedRecord:
        if raw is self.last:
            self.pause("in-transaction")
        return self.inner.map(raw)


@dataclass(frozen=True)
class _Delivery:
    tag: int
    message_id: str | None
    message_type: str | None
    redelivered: bool
    body: bytes


class AmqpConsumer:
    """Consumes one durable queue into the event store; see the module docstring."""

    def __init__(
        self,
        service: IngestService,
        mapper: RecordMapper,
        settings: AmqpSettings,
        *,
        pause: Callable[[str], None] | None = None,
    ) -> None:
        if settings.prefetch < 1 or settings.max_wait_ms < 1:
            raise ValueError(
                f"prefetch ({settings.prefetch}) and max_wait_ms ({settings.max_wait_ms}) "
                "must be at least 1"
            )
        self.service = service
        self.mapper = mapper
        self.settings = settings
        self.pause = pause
        self.stats = ConsumeStats()
        self._stopping = False
        self._backoff = settings.reconnect_initial_s

    def stop(self) -> None:
        """Finish the batch in hand, then return from :meth:`run` (safe from a signal)."""
        self._stopping = True

    def run(self, *, idle_exit_s: float | None = None) -> ConsumeStats:
        """Consume until :meth:`stop`, or until the queue was empty for ``idle_exit_s``."""
        while not self._stopping:
            try:
                self._session(idle_exit_s)
                break
            except (pika.exceptions.AMQPError, OperationalError) as error:
                # Unacked messages return to the queue when the connection goes; nothing
                # committed is lost and nothing uncommitted was acknowledged.
                self.stats.reconnects += 1
                delay = self._backoff * random.uniform(0.8, 1.2)
                log.warning("connection lost (%s: %s); reconnecting in %.1f s",
                            type(error).__name__, error, delay)
                self._sleep(delay)
                self._backoff = min(self._backoff * 2, self.settings.reconnect_max_s)
        return self.stats

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < end:
            time.sleep(min(0.1, end - time.monotonic()))

    def _session(self, idle_exit_s: float | None) -> None:
        s = self.settings
        connection = pika.BlockingConnection(pika.URLParameters(s.url))
        try:
            channel = connection.channel()
            channel.exchange_declare(s.exchange, exchange_type="topic", durable=True)
            channel.queue_declare(s.queue, durable=True)
            channel.queue_bind(s.queue, s.exchange, routing_key=s.binding_key)
            channel.basic_qos(prefetch_count=s.prefetch)
            self._backoff = s.reconnect_initial_s
            log.info("consuming %s (exchange %s, key %s)", s.queue, s.exchange, s.binding_key)
            self._consume(channel, idle_exit_s)
        finally:
            if connection.is_open:
                # Already going away; the broker requeues whatever was not acknowledged.
                with contextlib.suppress(pika.exceptions.AMQPError):
                    connection.close()

    def _consume(self, channel: Any, idle_exit_s: float | None) -> None:
        s = self.settings
        pending: list[_Delivery] = []
        deadline = 0.0
        idle_since = time.monotonic()
        poll_s = min(0.05, s.max_wait_ms / 1000)
        for method, properties, body in channel.consume(s.queue, inactivity_timeout=poll_s):
            now = time.monotonic()
            if method is not None:
                if not pending:
                    deadline = now + s.max_wait_ms / 1000
                pending.append(_Delivery(method.delivery_tag, properties.message_id,
                                         properties.type, bool(method.redelivered), body))
                idle_since = now
            if pending and (len(pending) >= s.prefetch or now >= deadline or self._stopping):
                self._flush(channel, pending)
                pending = []
                idle_since = time.monotonic()
            if method is None and not pending and (
                self._stopping or (idle_exit_s is not None and now - idle_since >= idle_exit_s)
            ):
                break
        channel.cancel()

    def _flush(self, channel: Any, deliveries: list[_Delivery]) -> None:
        s = self.settings
        records = [
            raw_record_of(
                d.body,
                source_system=self.mapper.source_system,
                record_type=d.message_type or s.record_type,
                origin=f"amqp:{s.queue}#{d.message_id or d.tag}",
                key_field=s.key_field,
                message_id=d.message_id,
            )
            for d in deliveries
        ]
        mapper: RecordMapper = self.mapper
        if self.pause is not None:
            self.pause("received")
            mapper = _PausingMapper(self.mapper, records[-1], self.pause)
        position = json.dumps(
            {"queue": s.queue, "last_message_id": deliveries[-1].message_id,
             "messages": len(deliveries)},
            sort_keys=True,
        )
        summary = self.service.ingest_batch(
            mapper, records, checkpoint=(s.connector_name, position)
        )
        if self.pause is not None:
            self.pause("after-commit")
        channel.basic_ack(delivery_tag=deliveries[-1].tag, multiple=True)
        if self.pause is not None:
            self.pause("after-ack")
        self.stats.messages += len(deliveries)
        self.stats.batches += 1
        self.stats.redelivered += sum(d.redelivered for d in deliveries)
        self.stats.ingest.add(summary)
