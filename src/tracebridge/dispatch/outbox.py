"""The transactional outbox: messages written with the change that caused them, sent later.

``enqueue`` runs inside the caller's transaction (the one that appended the event), so a
decision and the messages announcing it are committed together or not at all; the broker
never holds the only copy. Each message gets the next ``sequence`` of its (target, gtin,
lot): :func:`ready` hands out only a lot's oldest unacknowledged message, so message n+1
of a lot never overtakes message n, and a dead message stops its lot's queue for that
target until someone deals with it (:func:`requeue_dead`).

The idempotency key is derived from the target, the event and the lot, so the same
decision always carries the same key, however often it is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select, update
from sqlalchemy.orm import aliased

from tracebridge.dispatch.outbound import OutboundMessage
from tracebridge.domain.events import sha256_hex
from tracebridge.store.driver import Statement
from tracebridge.store.event_log import utc
from tracebridge.store.tables import outbox

PENDING, DONE, DEAD = "pending", "done", "dead"


@dataclass(frozen=True)
class NewMessage:
    target: str
    kind: str
    gtin: str
    lot: str
    event_id: str
    event_seq: int | None
    payload: dict[str, Any]

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(self.target, self.event_id, self.gtin, self.lot)


def idempotency_key(target: str, event_id: str, gtin: str, lot: str) -> str:
    """Stable key a receiver deduplicates on: same target, event and lot, same key."""
    return sha256_hex(f"{target}\x00{event_id}\x00{gtin}\x00{lot}")


def enqueue(conn: Connection, messages: Sequence[NewMessage], *, now: datetime) -> int:
    """Add ``messages`` (in order) to the outbox; already queued keys are skipped."""
    if not messages:
        return 0
    keys = [m.idempotency_key for m in messages]
    known = set(
        conn.execute(
            select(outbox.c.idempotency_key).where(outbox.c.idempotency_key.in_(keys))
        ).scalars()
    )
    last = _last_sequences(conn, {(m.target, m.gtin, m.lot) for m in messages})
    rows: list[dict[str, Any]] = []
    for message, key in zip(messages, keys, strict=True):
        if key in known:
            continue
        known.add(key)
        lot_key = (message.target, message.gtin, message.lot)
        last[lot_key] += 1
        rows.append(
            {
                "created_at": now,
                "target": message.target,
                "kind": message.kind,
                "gtin": message.gtin,
                "lot": message.lot,
                "sequence": last[lot_key],
                "idempotency_key": key,
                "event_seq": message.event_seq,
                "payload": message.payload,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
            }
        )
    if rows:
        conn.execute(outbox.insert(), rows)
    return len(rows)


def _last_sequences(conn: Connection, keys: set[tuple[str, str, str]]
                    ) -> dict[tuple[str, str, str], int]:
    """The last sequence number per (target, GTIN, lot); 0 where none was queued yet.

    A few reads per batch (one per target and GTIN), not one per lot: a rule pack's holds
    and alerts queue messages for hundreds of lots in one transaction.
    """
    last = dict.fromkeys(keys, 0)
    wanted: dict[tuple[str, str], list[str]] = {}
    for target, gtin, lot in keys:
        wanted.setdefault((target, gtin), []).append(lot)
    for (target, gtin), lots in wanted.items():
        lots.sort()
        for start in range(0, len(lots), 900):
            for lot, sequence in _LAST_SEQUENCES.rows(conn, target=target, gtin=gtin,
                                                     lots=lots[start : start + 900]):
                last[(target, gtin, lot)] = int(sequence or 0)
    return last


_LAST_SEQUENCES = Statement(
    "SELECT lot, MAX(sequence) FROM outbox WHERE target = :target AND gtin = :gtin"
    " AND lot IN :lots GROUP BY lot",
    lists=("lots",),
)


def ready(
    conn: Connection, *, now: datetime, limit: int = 100, targets: Sequence[str] | None = None
) -> list[OutboundMessage]:
    """Pending messages due by ``now`` that are the oldest unacknowledged of their lot."""
    earlier = aliased(outbox)
    blocked = (
        select(earlier.c.id)
        .where(
            earlier.c.target == outbox.c.target,
            earlier.c.gtin == outbox.c.gtin,
            earlier.c.lot == outbox.c.lot,
            earlier.c.sequence < outbox.c.sequence,
            earlier.c.status != DONE,
        )
        .exists()
    )
    query = (
        select(outbox)
        .where(and_(outbox.c.status == PENDING, outbox.c.next_attempt_at <= now, ~blocked))
        .order_by(outbox.c.id)
        .limit(limit)
    )
    if targets is not None:
        query = query.where(outbox.c.target.in_(list(targets)))
    return [_message(row) for row in conn.execute(query)]


def _message(row: Any) -> OutboundMessage:
    return OutboundMessage(
        id=int(row.id),
        target=row.target,
        kind=row.kind,
        gtin=row.gtin,
        lot=row.lot,
        sequence=int(row.sequence),
        idempotency_key=row.idempotency_key,
        payload=dict(row.payload),
        attempts=int(row.attempts),
        created_at=utc(row.created_at),
    )


def mark_done(conn: Connection, message_id: int, *, now: datetime) -> None:
    conn.execute(
        update(outbox)
        .where(outbox.c.id == message_id)
        .values(status=DONE, attempts=outbox.c.attempts + 1, dispatched_at=now, last_error=None)
    )


def mark_failed(
    conn: Connection, message_id: int, *, error: str, retry_at: datetime | None
) -> None:
    """Record a failed attempt: retry at ``retry_at``, or dead when it is ``None``."""
    values: dict[str, Any] = {"attempts": outbox.c.attempts + 1, "last_error": error[:2000]}
    if retry_at is None:
        values["status"] = DEAD
    else:
        values["next_attempt_at"] = retry_at
    conn.execute(update(outbox).where(outbox.c.id == message_id).values(**values))


def requeue_dead(conn: Connection, *, target: str | None = None, now: datetime) -> int:
    """Put dead messages back in line (after the target was fixed); returns how many."""
    query = update(outbox).where(outbox.c.status == DEAD)
    if target is not None:
        query = query.where(outbox.c.target == target)
    return conn.execute(query.values(status=PENDING, next_attempt_at=now)).rowcount or 0


@dataclass(frozen=True)
class TargetBacklog:
    """What still waits for one target: pending and dead messages, and the oldest pending."""

    pending: int = 0
    dead: int = 0
    oldest_pending_at: datetime | None = None

    def oldest_pending_age_seconds(self, now: datetime) -> float | None:
        """How long the oldest pending message has waited (None: nothing pending)."""
        if self.oldest_pending_at is None:
            return None
        return round(max(0.0, (now - self.oldest_pending_at).total_seconds()), 3)


def target_backlog(conn: Connection) -> dict[str, TargetBacklog]:
    """Per target with anything not done: its :class:`TargetBacklog`."""
    query = (
        select(outbox.c.target, outbox.c.status, func.count(), func.min(outbox.c.created_at))
        .where(outbox.c.status != DONE)
        .group_by(outbox.c.target, outbox.c.status)
    )
    counts: dict[str, dict[str, int]] = {}
    oldest: dict[str, datetime] = {}
    for target, status, count, first in conn.execute(query):
        counts.setdefault(target, {PENDING: 0, DEAD: 0})[status] = int(count)
        if status == PENDING and first is not None:
            oldest[target] = utc(first)
    return {target: TargetBacklog(pending=c[PENDING], dead=c[DEAD],
                                  oldest_pending_at=oldest.get(target))
            for target, c in counts.items()}


def backlog(conn: Connection) -> dict[str, dict[str, int]]:
    """Per target, how many messages are pending and dead (the interface-health figure)."""
    return {target: {PENDING: b.pending, DEAD: b.dead}
            for target, b in target_backlog(conn).items()}


def messages_of_lot(conn: Connection, gtin: str, lot: str) -> list[dict[str, Any]]:
    """Every message about one lot, oldest first (what did we tell WMS and ERP, and when)."""
    query = (
        select(outbox)
        .where(outbox.c.gtin == gtin, outbox.c.lot == lot)
        .order_by(outbox.c.target, outbox.c.sequence)
    )
    return [
        {
            **row._asdict(),
            "created_at": utc(row.created_at),
            "dispatched_at": utc(row.dispatched_at) if row.dispatched_at else None,
        }
        for row in conn.execute(query)
    ]


def now_utc() -> datetime:
    return datetime.now(UTC)
