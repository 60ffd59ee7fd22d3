"""Alert table access: raise, list, acknowledge, assign, resolve — each action logged.

An alert moves ``open → acknowledged → assigned → resolved`` (acknowledging or assigning
may be skipped; assigning again hands it to someone else). Every change appends an
``alert_action`` row (who, when, why) and nothing is ever deleted, so the inbox's history
is an audit trail of its own. ``raise_alert`` works in the caller's transaction — a rule
raises its alert in the ingest transaction of the event that fired it — and queues the
alert's delivery (webhook, e-mail) in that same transaction (:mod:`tracebridge.alerts.delivery`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from tracebridge.alerts.delivery import enqueue_delivery
from tracebridge.errors import AlertTransitionError, NotFound, ReasonRequired
from tracebridge.store.event_log import utc
from tracebridge.store.tables import alert, alert_action

STATUSES = ("open", "acknowledged", "assigned", "resolved")
SEVERITIES = ("info", "warning", "major", "critical")
_ALLOWED: dict[str, frozenset[str]] = {
    "acknowledged": frozenset({"open"}),
    "assigned": frozenset({"open", "acknowledged", "assigned"}),
    "resolved": frozenset({"open", "acknowledged", "assigned"}),
}


@dataclass(frozen=True)
class NewAlert:
    code: str
    severity: str
    title_en: str
    title_zh: str
    detail: dict[str, Any]
    gtin: str | None = None
    lot: str | None = None
    rule_id: str | None = None
    rule_version: int | None = None
    event_seq: int | None = None
    firing_id: int | None = None


@dataclass(frozen=True)
class Alert:
    id: int
    code: str
    severity: str
    title_en: str
    title_zh: str
    gtin: str | None
    lot: str | None
    rule_id: str | None
    rule_version: int | None
    event_seq: int | None
    detail: dict[str, Any]
    status: str
    assignee: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for name in ("created_at", "updated_at", "resolved_at"):
            value = out[name]
            out[name] = value.isoformat() if value is not None else None
        return out


def raise_alert(conn: Connection, new: NewAlert, *, now: datetime,
                actor: str = "tracebridge") -> int:
    """Store an open alert and its ``raised`` action, queue its delivery to the channels
    of ``conn``'s engine; returns the alert id."""
    inserted = conn.execute(
        alert.insert().values(
            code=new.code, severity=new.severity, title_en=new.title_en[:300],
            title_zh=new.title_zh[:300], gtin=new.gtin, lot=new.lot, rule_id=new.rule_id,
            rule_version=new.rule_version, event_seq=new.event_seq, firing_id=new.firing_id,
            detail=new.detail, status="open", assignee=None, created_at=now, updated_at=now,
        )
    ).inserted_primary_key
    assert inserted is not None
    alert_id = int(inserted[0])
    _log(conn, alert_id, "raised", actor, None, "open", None, now)
    enqueue_delivery(conn, alert_id, new, now=now)
    return alert_id


def _log(conn: Connection, alert_id: int, action: str, actor: str, note: str | None,
         status_after: str, assignee: str | None, now: datetime) -> None:
    conn.execute(alert_action.insert().values(
        alert_id=alert_id, action=action, actor=actor, note=note, status_after=status_after,
        assignee=assignee, at=now,
    ))


def _row(row: Any) -> Alert:
    return Alert(
        id=int(row.id), code=row.code, severity=row.severity, title_en=row.title_en,
        title_zh=row.title_zh, gtin=row.gtin, lot=row.lot, rule_id=row.rule_id,
        rule_version=row.rule_version, event_seq=row.event_seq, detail=dict(row.detail or {}),
        status=row.status, assignee=row.assignee, created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
        resolved_at=utc(row.resolved_at) if row.resolved_at is not None else None,
    )


class AlertInbox:
    """Use cases on alerts; each opens its own transaction."""

    def __init__(self, engine: Engine, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.clock = clock

    def find(self, *, status: str | None = None, severity: str | None = None,
             code: str | None = None, lot: str | None = None, limit: int = 100) -> list[Alert]:
        for name, value, allowed in (("status", status, STATUSES),
                                     ("severity", severity, SEVERITIES)):
            if value is not None and value not in allowed:
                raise AlertTransitionError(
                    f"alert filter {name}={value!r}; expected one of {', '.join(allowed)}"
                )
        query = select(alert).order_by(alert.c.id.desc()).limit(max(1, min(limit, 10_000)))
        if status:
            query = query.where(alert.c.status == status)
        if severity:
            query = query.where(alert.c.severity == severity)
        if code:
            query = query.where(alert.c.code == code)
        if lot:
            query = query.where(alert.c.lot == lot)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query)]

    def get(self, alert_id: int) -> Alert:
        with self.engine.connect() as conn:
            return self._get(conn, alert_id)

    def history(self, alert_id: int) -> list[dict[str, Any]]:
        c = alert_action.c
        with self.engine.connect() as conn:
            self._get(conn, alert_id)
            rows = conn.execute(select(alert_action).where(c.alert_id == alert_id)
                                .order_by(c.id))
            return [{"action": r.action, "actor": r.actor, "note": r.note,
                     "status_after": r.status_after, "assignee": r.assignee,
                     "at": utc(r.at).isoformat()} for r in rows]

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(alert.c.status, func.count()).group_by(alert.c.status))
            return {str(s): int(n) for s, n in rows}

    def acknowledge(self, alert_id: int, *, actor: str, note: str | None = None) -> Alert:
        return self._move(alert_id, "acknowledged", actor=actor, note=note)

    def assign(self, alert_id: int, *, actor: str, assignee: str,
               note: str | None = None) -> Alert:
        if not assignee.strip():
            raise ReasonRequired(f"assigning alert {alert_id}: assignee is empty; "
                                 "expected a user id")
        return self._move(alert_id, "assigned", actor=actor, note=note, assignee=assignee)

    def resolve(self, alert_id: int, *, actor: str, note: str) -> Alert:
        if not note.strip():
            raise ReasonRequired(f"resolving alert {alert_id}: no resolution note given; "
                                 "expected why it is resolved")
        return self._move(alert_id, "resolved", actor=actor, note=note)

    def _get(self, conn: Connection, alert_id: int) -> Alert:
        row = conn.execute(select(alert).where(alert.c.id == alert_id)).first()
        if row is None:
            raise NotFound(f"alert {alert_id}: no such alert")
        return _row(row)

    def _move(self, alert_id: int, status: str, *, actor: str, note: str | None,
              assignee: str | None = None) -> Alert:
        if not actor.strip():
            raise ReasonRequired(f"alert {alert_id}: actor is empty; expected a user id")
        now = self.clock()
        with self.engine.begin() as conn:
            current = self._get(conn, alert_id)
            if current.status not in _ALLOWED[status]:
                raise AlertTransitionError(
                    f"alert {alert_id} is {current.status}; cannot mark it {status} "
                    f"(allowed from: {', '.join(sorted(_ALLOWED[status]))})"
                )
            values: dict[str, Any] = {"status": status, "updated_at": now}
            if assignee is not None:
                values["assignee"] = assignee
            if status == "resolved":
                values["resolved_at"] = now
            conn.execute(alert.update().where(alert.c.id == alert_id).values(**values))
            _log(conn, alert_id, status, actor, note, status,
                 assignee if assignee is not None else current.assignee, now)
            return self._get(conn, alert_id)
