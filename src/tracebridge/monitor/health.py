"""Interface health: per connector, is data flowing, how fast, how late, how much fails.

A *connector* is a system TraceBridge talks to, named as its source system (``erp``,
``wms`` …); the outbox backlog of the target of the same name is shown with it. All figures
are read from the store, so every process (API, watcher, consumer) reports the same:

* **last success** — record time of the newest event stored from the system;
* **throughput** — raw records received over the last hour, per minute;
* **lag** — now minus the newest *source* event time (how far behind the source we are);
* **error rate** — dead letters created over the last hour / records received in it;
* **DLQ depth** — open dead letters; **outbox backlog** — outbound messages to the system
  still pending, those dead (refused or out of retries, blocking their lot), and how long
  the oldest pending one has waited — a target that is down shows as a growing age.

>>> ConnectorHealth("wms", records_received=120, received_last_hour=60).throughput_per_minute
1.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from tracebridge.dispatch.outbox import TargetBacklog, target_backlog
from tracebridge.store.tables import dead_letter, event, raw_record

WINDOW = timedelta(hours=1)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass
class ConnectorHealth:
    connector: str
    records_received: int = 0
    received_last_hour: int = 0
    failed_last_hour: int = 0
    last_received: datetime | None = None
    last_success: datetime | None = None
    newest_source_time: datetime | None = None
    dlq_depth: int = 0
    outbox_backlog: int | None = None  # pending messages; None while no outbox exists
    outbox_dead: int | None = None
    outbox_oldest_pending_at: datetime | None = None
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def throughput_per_minute(self) -> float:
        return round(self.received_last_hour / (WINDOW.total_seconds() / 60), 3)

    @property
    def lag_seconds(self) -> float | None:
        if self.newest_source_time is None:
            return None
        return round((self.checked_at - self.newest_source_time).total_seconds(), 3)

    @property
    def outbox_oldest_pending_age_seconds(self) -> float | None:
        backlog = TargetBacklog(oldest_pending_at=self.outbox_oldest_pending_at)
        return backlog.oldest_pending_age_seconds(self.checked_at)

    @property
    def error_rate(self) -> float | None:
        if not self.received_last_hour:
            return None
        return round(self.failed_last_hour / self.received_last_hour, 4)

    def as_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {"connector": self.connector, "last_success": iso(self.last_success),
                "last_received": iso(self.last_received),
                "records_received": self.records_received,
                "received_last_hour": self.received_last_hour,
                "throughput_per_minute": self.throughput_per_minute,
                "lag_seconds": self.lag_seconds, "error_rate": self.error_rate,
                "dlq_depth": self.dlq_depth, "outbox_backlog": self.outbox_backlog,
                "outbox_dead": self.outbox_dead,
                "outbox_oldest_pending_age_seconds": self.outbox_oldest_pending_age_seconds}


def _grouped(conn: Connection, query: Any) -> dict[str, Any]:
    return {row[0]: row[1:] for row in conn.execute(query)}


def outbox_backlog(conn: Connection) -> dict[str, TargetBacklog] | None:
    """The outbox backlog per target, or None while no outbox table exists."""
    if not inspect(conn).has_table("outbox"):
        return None
    return target_backlog(conn)


def connector_health(engine: Engine, *, now: datetime | None = None) -> list[ConnectorHealth]:
    """One :class:`ConnectorHealth` per system that sent records or has outbound messages."""
    now = _utc(now) or datetime.now(UTC)
    since = now - WINDOW
    r, e, d = raw_record.c, event.c, dead_letter.c
    with engine.connect() as conn:
        received = _grouped(conn, select(r.source_system, func.count(), func.max(r.received_at))
                            .group_by(r.source_system))
        recent = _grouped(conn, select(r.source_system, func.count())
                          .where(r.received_at >= since).group_by(r.source_system))
        events = _grouped(conn, select(e.source_system, func.max(e.record_time),
                                       func.max(e.event_time)).group_by(e.source_system))
        failed = _grouped(conn, select(d.source_system, func.count())
                          .where(d.created_at >= since).group_by(d.source_system))
        open_letters = _grouped(conn, select(d.source_system, func.count())
                                .where(d.status == "open").group_by(d.source_system))
        backlog = outbox_backlog(conn)
    names = sorted(set(received) | set(events) | set(open_letters) | set(backlog or {}))
    result = []
    for name in names:
        count, last_received = received.get(name, (0, None))
        last_success, newest_source = events.get(name, (None, None))
        result.append(ConnectorHealth(
            connector=name, records_received=int(count), last_received=_utc(last_received),
            received_last_hour=int(recent.get(name, (0,))[0]),
            failed_last_hour=int(failed.get(name, (0,))[0]),
            last_success=_utc(last_success), newest_source_time=_utc(newest_source),
            dlq_depth=int(open_letters.get(name, (0,))[0]),
            checked_at=now, **_outbox_figures(backlog, name)))
    return result


def _outbox_figures(backlog: dict[str, TargetBacklog] | None, name: str) -> dict[str, Any]:
    if backlog is None:
        return {}
    target = backlog.get(name, TargetBacklog())
    return {"outbox_backlog": target.pending, "outbox_dead": target.dead,
            "outbox_oldest_pending_at": target.oldest_pending_at}


@dataclass(frozen=True)
class Readiness:
    database: bool
    current_revision: str | None
    head_revision: str | None
    error: str | None = None

    @property
    def ready(self) -> bool:
        at_head = self.head_revision is not None and self.current_revision == self.head_revision
        return self.database and at_head

    def as_dict(self) -> dict[str, Any]:
        return {"status": "ready" if self.ready else "not-ready",
                "database": "ok" if self.database else "error",
                "migrations": "at-head" if self.ready else "behind",
                "current_revision": self.current_revision, "head_revision": self.head_revision,
                "error": self.error}


def readiness(engine: Engine) -> Readiness:
    """Ready when the database answers and its schema is at the newest migration."""
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from tracebridge.store.database import MIGRATIONS

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as error:
        return Readiness(False, None, head, f"database unreachable: {type(error).__name__}")
    return Readiness(True, current, head)
