"""``WebhookOutbound``: POST each message as JSON to a target's HTTPS endpoint, signed.

The signature lets the receiver check the message came from us and was not altered:
``X-TraceBridge-Signature: sha256=<hex>`` is HMAC-SHA256 with the shared secret over
``"<timestamp>.<body>"``, the timestamp (Unix seconds) sent as
``X-TraceBridge-Timestamp`` so a receiver can also refuse stale replays.

>>> body = b'{"LOT_NO":"A1"}'
>>> signature = sign(b"s3cret", "1767225600", body)
>>> verify_signature(b"s3cret", "1767225600", body, signature)
True
>>> verify_signature(b"other", "1767225600", body, signature)
False

Outcomes: 2xx is done; 408, 429 and 5xx (and network errors) are retried by the
dispatcher with exponential backoff; any other 4xx means the target refused the message
itself, which no retry can fix, so the message is dead.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable

import httpx

from tracebridge.dispatch.outbound import Delivery, OutboundMessage

SIGNATURE_HEADER = "X-TraceBridge-Signature"
TIMESTAMP_HEADER = "X-TraceBridge-Timestamp"
RETRYABLE_4XX = frozenset({408, 429})


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify_signature(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver runs: constant-time comparison of the expected signature."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookOutbound:
    def __init__(
        self,
        url: str,
        *,
        secret: bytes,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError(f"webhook {url}: a signing secret is required, got an empty one")
        self.url = url
        self.secret = secret
        self.clock = clock
        self.client = httpx.Client(timeout=timeout, transport=transport)

    def send(self, message: OutboundMessage) -> Delivery:
        body = json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = str(int(self.clock()))
        headers = {
            **message.headers(),
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.secret, timestamp, body),
        }
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            return Delivery.retry(f"POST {self.url}: {type(error).__name__}: {error}")
        status = response.status_code
        summary = f"POST {self.url}: HTTP {status} {response.text[:200]}".rstrip()
        if 200 <= status < 300:
            return Delivery.done(summary)
        if 400 <= status < 500 and status not in RETRYABLE_4XX:
            return Delivery.dead(summary)
        return Delivery.retry(summary)

    def close(self) -> None:
        self.client.close()
