"""Recompute every projection from the event log (``tracebridge rebuild``).

Runs in one transaction: readers see the old projections or the new, never a half.
The same ``projections.apply`` used on ingest replays the log in order, so the
rebuilt state equals the incrementally maintained one.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, delete, select

from tracebridge.domain.events import CanonicalEvent
from tracebridge.store import projections
from tracebridge.store.event_log import StoredEvent, utc
from tracebridge.store.tables import PROJECTION_TABLES, event


def clear_projections(conn: Connection) -> None:
    for table in reversed(PROJECTION_TABLES):
        conn.execute(delete(table))


def rebuild(
    engine: Engine, *, batch: int = 5000, progress: Callable[[int], None] | None = None
) -> int:
    """Replay the whole log into fresh projections; return the number of events replayed."""
    replayed = 0
    with engine.begin() as conn:
        clear_projections(conn)
        last = 0
        while True:
            rows = conn.execute(
                select(
                    event.c.seq,
                    event.c.body,
                    event.c.record_time,
                    event.c.version,
                    event.c.supersedes_seq,
                )
                .where(event.c.seq > last)
                .order_by(event.c.seq)
                .limit(batch)
            ).all()
            if not rows:
                break
            stored = [
                StoredEvent(
                    int(r.seq),
                    CanonicalEvent.model_validate_json(r.body),
                    utc(r.record_time),
                    int(r.version),
                    None if r.supersedes_seq is None else int(r.supersedes_seq),
                )
                for r in rows
            ]
            projections.apply(conn, stored)
            last = stored[-1].seq
            replayed += len(stored)
            if progress:
                progress(len(stored))
    return replayed


def total_events(engine: Engine) -> int:
    from sqlalchemy import func

    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(event)).scalar_one())
