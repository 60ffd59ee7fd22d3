"""The dead-letter store: records that could not be mapped, and what people did about them.

A dead letter points at its raw record, so the exact bytes are never lost. Three things
can happen to an open dead letter, each written to the append-only ``dead_letter_action``
log (who, when, why):

* **retry** re-runs the raw record through the current mapping (after a mapping fix).
  Success stores the events — linked to the *original* raw record, nothing is re-received —
  and closes the letter as ``retried``; failure counts an attempt and keeps the new error.
* **discard** closes it as ``discarded``; it needs an actor and a reason.

A closed letter stays in the store for the audit trail; only its status changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from sqlalchemy import Connection, Engine, func, insert, select, update

from tracebridge.domain.master import MasterRecord
from tracebridge.errors import (
    DeadLetterClosed,
    NotFound,
    ReasonRequired,
    TraceBridgeError,
    UnsupportedSource,
)
from tracebridge.ingest.service import RecordMapper
from tracebridge.mapping.records import FieldError, RawRecord, RecordRejected
from tracebridge.store import event_log, writer
from tracebridge.store.event_log import PendingEvent
from tracebridge.store.tables import dead_letter, dead_letter_action, raw_record
from tracebridge.store.writer import Reaction

Status = Literal["open", "retried", "discarded"]
STATUSES: tuple[Status, ...] = ("open", "retried", "discarded")


class RetryMapper(RecordMapper, Protocol):
    """A mapping that can both map a record and parse a kept payload again."""

    def parse_payload(self, record_type: str, payload: bytes) -> RawRecord: ...


@dataclass(frozen=True)
class DeadLetterSummary:
    id: int
    source_system: str
    record_type: str
    origin: str
    reason: str
    status: str
    attempts: int
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "source_system": self.source_system,
                "record_type": self.record_type, "origin": self.origin, "reason": self.reason,
                "status": self.status, "attempts": self.attempts,
                "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class Action:
    action: str
    actor: str
    reason: str | None
    at: datetime
    detail: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "actor": self.actor, "reason": self.reason,
                "at": self.at.isoformat(), "detail": self.detail}


@dataclass(frozen=True)
class DeadLetterDetail:
    summary: DeadLetterSummary
    raw_record_id: int
    record_key: str | None
    payload: bytes
    errors: list[dict[str, Any]]
    actions: list[Action] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**self.summary.as_dict(), "raw_record_id": self.raw_record_id,
                "record_key": self.record_key,
                "payload": self.payload.decode("utf-8", errors="replace"),
                "payload_hex": self.payload.hex(), "errors": self.errors,
                "actions": [a.as_dict() for a in self.actions]}


@dataclass(frozen=True)
class RetryOutcome:
    id: int
    succeeded: bool
    events_stored: int = 0
    duplicates: int = 0
    reason: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "succeeded": self.succeeded, "events_stored": self.events_stored,
                "duplicates": self.duplicates, "reason": self.reason, "errors": self.errors}


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_SUMMARY_COLUMNS = (dead_letter.c.id, dead_letter.c.source_system, raw_record.c.record_type,
                    raw_record.c.origin, dead_letter.c.reason, dead_letter.c.status,
                    dead_letter.c.attempts, dead_letter.c.created_at)


def _summary(row: Any) -> DeadLetterSummary:
    return DeadLetterSummary(id=int(row.id), source_system=row.source_system,
                             record_type=row.record_type, origin=row.origin, reason=row.reason,
                             status=row.status, attempts=int(row.attempts),
                             created_at=_utc(row.created_at))


class DeadLetterService:
    """List, show, retry and discard dead letters; each change is one transaction."""

    def __init__(self, engine: Engine, *, reactions: Sequence[Reaction] = (),
                 clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.reactions = tuple(reactions)
        self._clock = clock or (lambda: datetime.now(UTC))

    def find(self, *, source: str | None = None, reason: str | None = None,
             status: str | None = None, limit: int = 1000) -> list[DeadLetterSummary]:
        query = select(*_SUMMARY_COLUMNS).join(
            raw_record, raw_record.c.id == dead_letter.c.raw_record_id)
        if source:
            query = query.where(dead_letter.c.source_system == source)
        if reason:
            query = query.where(dead_letter.c.reason == reason)
        if status:
            query = query.where(dead_letter.c.status == status)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(dead_letter.c.id).limit(limit)).all()
        return [_summary(r) for r in rows]

    def count(self, *, source: str | None = None, status: str = "open") -> int:
        query = select(func.count()).select_from(dead_letter).where(dead_letter.c.status == status)
        if source:
            query = query.where(dead_letter.c.source_system == source)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def show(self, letter_id: int) -> DeadLetterDetail:
        with self.engine.connect() as conn:
            return self._detail(conn, letter_id)

    def _detail(self, conn: Connection, letter_id: int) -> DeadLetterDetail:
        row = conn.execute(
            select(*_SUMMARY_COLUMNS, dead_letter.c.raw_record_id, dead_letter.c.errors,
                   raw_record.c.record_key, raw_record.c.payload)
            .join(raw_record, raw_record.c.id == dead_letter.c.raw_record_id)
            .where(dead_letter.c.id == letter_id)
        ).one_or_none()
        if row is None:
            raise NotFound(f"no dead letter {letter_id}: expected the id of one listed by "
                           "'tracebridge dlq list'")
        a = dead_letter_action.c
        actions = [
            Action(action=r.action, actor=r.actor, reason=r.reason, at=_utc(r.at),
                   detail=r.detail)
            for r in conn.execute(select(dead_letter_action).where(a.dead_letter_id == letter_id)
                                  .order_by(a.id))
        ]
        return DeadLetterDetail(summary=_summary(row), raw_record_id=int(row.raw_record_id),
                                record_key=row.record_key, payload=bytes(row.payload),
                                errors=list(row.errors or []), actions=actions)

    def open_ids(self, *, source: str | None = None) -> list[int]:
        query = select(dead_letter.c.id).where(dead_letter.c.status == "open")
        if source:
            query = query.where(dead_letter.c.source_system == source)
        with self.engine.connect() as conn:
            return [int(i) for i in conn.execute(query.order_by(dead_letter.c.id)).scalars()]

    def retry(self, letter_id: int, mapper: RetryMapper, *, actor: str = "system") -> RetryOutcome:
        """Re-map the letter's raw record with ``mapper``; store its events or count the attempt."""
        now = self._clock()
        with self.engine.begin() as conn:
            head = event_log.lock_chain_head(conn)  # the same writer order as IngestService
            detail = self._open_detail(conn, letter_id, "retried")
            if detail.summary.source_system != mapper.source_system:
                raise UnsupportedSource(
                    f"dead letter {letter_id} came from source '{detail.summary.source_system}', "
                    f"the mapping given is for '{mapper.source_system}'")
            parsed = mapper.parse_payload(detail.summary.record_type, detail.payload)
            raw = replace(parsed, origin=detail.summary.origin,
                          record_key=detail.record_key or parsed.record_key)
            used = {"mapping_id": mapper.mapping_id, "mapping_version": mapper.version}
            try:
                mapped = mapper.map(raw)
            except RecordRejected as rejected:
                return self._failed(conn, detail, rejected.reason, rejected.errors, used,
                                    actor, now)
            except (TraceBridgeError, ValueError) as error:  # a mapping bug keeps the letter open
                errors = [FieldError("*", f"{type(error).__name__}: {error}")]
                return self._failed(conn, detail, "mapping-error", errors, used, actor, now)
            pending = [PendingEvent(e, detail.raw_record_id) for e in mapped.events]
            masters: list[tuple[MasterRecord, int | None]] = [
                (m, detail.raw_record_id) for m in mapped.master]
            result = writer.record(conn, pending, now=now, head=head, reactions=self.reactions,
                                   masters=masters).result
            conn.execute(update(dead_letter).where(dead_letter.c.id == letter_id)
                         .values(status="retried", attempts=dead_letter.c.attempts + 1))
            outcome = RetryOutcome(id=letter_id, succeeded=True,
                                   events_stored=len(result.stored), duplicates=result.duplicates)
            self._record(conn, letter_id, "retried", actor, None,
                         {**used, "events_stored": outcome.events_stored,
                          "duplicates": outcome.duplicates}, now)
        return outcome

    def retry_all(self, mapper: RetryMapper, *, actor: str = "system") -> list[RetryOutcome]:
        """Retry every open letter of the mapping's source, one transaction each."""
        return [self.retry(i, mapper, actor=actor)
                for i in self.open_ids(source=mapper.source_system)]

    def discard(self, letter_id: int, *, reason: str, actor: str) -> DeadLetterDetail:
        if not reason.strip() or not actor.strip():
            raise ReasonRequired(
                f"discarding dead letter {letter_id} needs who and why: got actor {actor!r}, "
                f"reason {reason!r}; expected both non-empty")
        now = self._clock()
        with self.engine.begin() as conn:
            self._open_detail(conn, letter_id, "discarded")
            conn.execute(update(dead_letter).where(dead_letter.c.id == letter_id)
                         .values(status="discarded"))
            self._record(conn, letter_id, "discarded", actor.strip(), reason.strip(), None, now)
            return self._detail(conn, letter_id)

    # ------------------------------------------------------------ helpers
    def _open_detail(self, conn: Connection, letter_id: int, verb: str) -> DeadLetterDetail:
        detail = self._detail(conn, letter_id)
        if detail.summary.status != "open":
            raise DeadLetterClosed(f"dead letter {letter_id} is {detail.summary.status}, so it "
                                   f"cannot be {verb}; expected an open one")
        return detail

    def _failed(self, conn: Connection, detail: DeadLetterDetail, reason: str,
                errors: list[FieldError], used: dict[str, Any], actor: str,
                now: datetime) -> RetryOutcome:
        as_dicts = [e.as_dict() for e in errors]
        conn.execute(update(dead_letter).where(dead_letter.c.id == detail.summary.id).values(
            attempts=dead_letter.c.attempts + 1, reason=reason, errors=as_dicts))
        self._record(conn, detail.summary.id, "retry-failed", actor, None,
                     {**used, "reason": reason, "errors": as_dicts,
                      "previous_reason": detail.summary.reason,
                      "previous_errors": detail.errors}, now)
        return RetryOutcome(id=detail.summary.id, succeeded=False, reason=reason, errors=as_dicts)

    @staticmethod
    def _record(conn: Connection, letter_id: int, action: str, actor: str, reason: str | None,
                detail: dict[str, Any] | None, now: datetime) -> None:
        conn.execute(insert(dead_letter_action).values(
            dead_letter_id=letter_id, action=action, actor=actor, reason=reason, detail=detail,
            at=now))


