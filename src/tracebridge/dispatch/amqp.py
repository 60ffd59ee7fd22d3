"""``AmqpOutbound``: publish each message to a RabbitMQ exchange, confirmed by the broker.

The channel runs in publisher-confirm mode and messages are persistent and ``mandatory``:
a message counts as delivered only when the broker confirmed it was routed to at least
one queue and taken over; an unroutable, nacked or interrupted publish is retried by
the dispatcher (on a fresh connection). A broker that blocks publishers (memory or disk
alarm) would otherwise hold the publish — and every other target — forever, so unless
the URL sets ``blocked_connection_timeout`` the connection gives up after 60 s and the
message is retried. The routing key is ``lot.<kind>`` (``lot.held``)
so a WMS can bind to just the decisions it acts on; the idempotency key is the AMQP
``message_id`` and also a header.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pika  # type: ignore[import-untyped]
from pika.exceptions import AMQPError  # type: ignore[import-untyped]

from tracebridge.dispatch.outbound import Delivery, OutboundMessage

PERSISTENT = 2
BLOCKED_TIMEOUT_SECONDS = 60.0


class AmqpOutbound:
    def __init__(self, url: str, *, exchange: str, exchange_type: str = "topic") -> None:
        if not exchange:
            raise ValueError(f"AMQP target {url}: an exchange name is required")
        self.parameters = pika.URLParameters(url)
        if self.parameters.blocked_connection_timeout is None:
            self.parameters.blocked_connection_timeout = BLOCKED_TIMEOUT_SECONDS
        self.exchange = exchange
        self.exchange_type = exchange_type
        self._connection: Any = None
        self._channel: Any = None

    def _open(self) -> Any:
        if self._channel is None or not self._channel.is_open:
            self.close()
            self._connection = pika.BlockingConnection(self.parameters)
            channel = self._connection.channel()
            channel.exchange_declare(
                exchange=self.exchange, exchange_type=self.exchange_type, durable=True
            )
            channel.confirm_delivery()
            self._channel = channel
        return self._channel

    def send(self, message: OutboundMessage) -> Delivery:
        body = json.dumps(message.payload, ensure_ascii=False).encode("utf-8")
        properties = pika.BasicProperties(
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=PERSISTENT,
            message_id=message.idempotency_key,
            type=message.kind,
            headers=message.headers(),
        )
        routing_key = f"lot.{message.kind}"
        try:
            self._open().basic_publish(
                exchange=self.exchange,
                routing_key=routing_key,
                body=body,
                properties=properties,
                mandatory=True,
            )
        except (AMQPError, OSError) as error:
            self.close()
            return Delivery.retry(
                f"publish to {self.exchange}/{routing_key}: {type(error).__name__}: {error}"
            )
        return Delivery.done(f"confirmed by {self.exchange}/{routing_key}")

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(AMQPError, OSError):  # already broken: nothing to release
                connection.close()
