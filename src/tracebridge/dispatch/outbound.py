"""The port every connector out implements, and what a delivery attempt can come to.

A connector gets one :class:`OutboundMessage` at a time and answers with a
:class:`Delivery`: ``done`` (the target acknowledged it), ``retry`` (a failure that may
pass: network, broker, 5xx, 408, 429) or ``dead`` (the target refused the message itself;
sending it again cannot help). Connectors never raise for a failed delivery: the
dispatcher decides what happens next from the outcome, so foreign errors stay in adapters.

>>> Delivery.retry("HTTP 503").outcome
'retry'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

Outcome = Literal["done", "retry", "dead"]
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class OutboundMessage:
    """One outbox row on its way to its target."""

    id: int
    target: str
    kind: str
    gtin: str
    lot: str
    sequence: int
    idempotency_key: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime

    def headers(self) -> dict[str, str]:
        """Metadata every transport carries next to the payload."""
        return {
            IDEMPOTENCY_HEADER: self.idempotency_key,
            "X-TraceBridge-Kind": self.kind,
            "X-TraceBridge-Lot": f"{self.gtin}/{self.lot}",
            "X-TraceBridge-Sequence": str(self.sequence),
        }


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    detail: str = ""

    @classmethod
    def done(cls, detail: str = "") -> Delivery:
        return cls("done", detail)

    @classmethod
    def retry(cls, detail: str) -> Delivery:
        return cls("retry", detail)

    @classmethod
    def dead(cls, detail: str) -> Delivery:
        return cls("dead", detail)


class Outbound(Protocol):
    """A connector out: delivers messages to one target system."""

    def send(self, message: OutboundMessage) -> Delivery: ...

    def close(self) -> None: ...
