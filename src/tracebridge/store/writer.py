"""The one write path for new events: append, project, react — in the caller's transaction.

Ingest batches, dead-letter retries and TraceBridge's own decisions (holds, releases)
all store events the same way, so every one of them updates the projections and runs
the same reactions (outbox messages now, rule firings later) before the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection

from tracebridge.domain.master import MasterRecord
from tracebridge.store import event_log, master_data, projections
from tracebridge.store.event_log import AppendResult, ChainHead, PendingEvent, StoredEvent


class Reaction(Protocol):
    """Work done in the transaction that stored events (outbox messages, rule firings)."""

    def __call__(self, conn: Connection, stored: Sequence[StoredEvent]) -> None: ...


@dataclass(frozen=True, slots=True)
class Recorded:
    result: AppendResult
    master_versions: int


def record(
    conn: Connection,
    pending: Sequence[PendingEvent],
    *,
    now: datetime,
    head: ChainHead | None = None,
    reactions: Sequence[Reaction] = (),
    masters: Sequence[tuple[MasterRecord, int | None]] = (),
) -> Recorded:
    """Store ``pending`` events (and master-data versions) and everything they imply."""
    result = event_log.append(conn, pending, now=now, head=head)
    projections.apply(conn, result.stored)
    if result.stored:
        for reaction in reactions:
            reaction(conn, result.stored)
    versions = master_data.append_versions(conn, masters, record_time=now) if masters else 0
    return Recorded(result=result, master_versions=versions)
