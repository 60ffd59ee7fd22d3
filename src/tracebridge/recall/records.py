"""Reading and writing the recall tables: the record, its transitions, consignee rows.

Status changes go through :meth:`RecallStatus.next` and are stored with who, when and
why, in the caller's transaction. Consignee rows are append-only: a later notification
or response of the same consignee supersedes the earlier one, which stays on record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from tracebridge.domain.recall import (
    RecallPlan,
    RecallStatus,
    ScopeItem,
    scope_from_dict,
    scope_to_text,
)
from tracebridge.errors import RecallNotFound
from tracebridge.recall.model import Recall, Transition
from tracebridge.store import tables as t
from tracebridge.store.event_log import utc


def new_id(conn: Connection, now: datetime) -> str:
    prefix = f"RCL-{now:%Y%m%d}-"
    count = conn.execute(select(func.count()).select_from(t.recall)
                         .where(t.recall.c.id.like(f"{prefix}%"))).scalar_one()
    return f"{prefix}{count + 1:03d}"


def insert(conn: Connection, *, recall_id: str, plan: RecallPlan, scope: list[dict[str, Any]],
           actor: str, now: datetime, due: date, expected_completion: date | None) -> None:
    conn.execute(t.recall.insert().values(
        id=recall_id, recall_class=plan.recall_class.value, depth=plan.depth.value,
        public_warning=plan.public_warning, effectiveness_level=plan.effectiveness_level.value,
        reason=plan.reason, product=plan.product, reportable_806=plan.reduces_health_risk,
        initiated_at=now, report_due=due.isoformat(),
        expected_completion=expected_completion.isoformat() if expected_completion else None,
        scope=scope, status=RecallStatus.OPEN.value, initiated_by=actor))
    conn.execute(t.recall_transition.insert().values(
        recall_id=recall_id, action="start", from_status=None, to_status=RecallStatus.OPEN.value,
        actor=actor, reason=plan.reason, at=now))


def status_of(conn: Connection, recall_id: str, *, lock: bool = False) -> RecallStatus:
    query = select(t.recall.c.status).where(t.recall.c.id == recall_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    found = conn.execute(query).scalar_one_or_none()
    if found is None:
        raise RecallNotFound(f"No recall {recall_id!r}: expected a recall number such as "
                             "RCL-20261125-001 (see `tracebridge recall status`)")
    return RecallStatus(found)


def advance(conn: Connection, recall_id: str, action: str, *, actor: str, now: datetime,
            reason: str | None = None, detail: Mapping[str, Any] | None = None) -> RecallStatus:
    """Apply ``action`` to the recall's status and record the transition."""
    before = status_of(conn, recall_id, lock=True)
    after = before.next(action)
    values: dict[str, Any] = {"status": after.value}
    if after is RecallStatus.CLOSED:
        values["close_reason"] = reason
    conn.execute(t.recall.update().where(t.recall.c.id == recall_id).values(**values))
    conn.execute(t.recall_transition.insert().values(
        recall_id=recall_id, action=action, from_status=before.value, to_status=after.value,
        actor=actor, reason=reason, detail=dict(detail) if detail else None, at=now))
    return after


def load(conn: Connection, recall_id: str) -> tuple[Recall, list[ScopeItem]]:
    row = conn.execute(select(t.recall).where(t.recall.c.id == recall_id)).first()
    if row is None:
        status_of(conn, recall_id)  # raises the explanatory RecallNotFound
        raise AssertionError("unreachable")
    r = t.recall_transition.c
    history = [Transition(action=h.action, from_status=h.from_status, to_status=h.to_status,
                          actor=h.actor, at=utc(h.at), reason=h.reason)
               for h in conn.execute(select(t.recall_transition)
                                     .where(r.recall_id == recall_id).order_by(r.id))]
    scope = [scope_from_dict(item) for item in row.scope]
    recall = Recall(
        id=row.id, recall_class=row.recall_class, depth=row.depth,
        public_warning=bool(row.public_warning), effectiveness_level=row.effectiveness_level,
        reason=row.reason, product=row.product, reportable_806=bool(row.reportable_806),
        initiated_at=utc(row.initiated_at), report_due=date.fromisoformat(row.report_due),
        expected_completion=(date.fromisoformat(row.expected_completion)
                             if row.expected_completion else None),
        scope=[scope_to_text(item) for item in scope], status=row.status,
        initiated_by=row.initiated_by, close_reason=row.close_reason, history=history)
    return recall, scope


def exists(conn: Connection, recall_id: str) -> bool:
    return conn.execute(select(t.recall.c.id).where(t.recall.c.id == recall_id)).first() \
        is not None


def add_consignee_row(conn: Connection, *, recall_id: str, party: str, kind: str, at: datetime,
                      actor: str, now: datetime, method: str | None = None,
                      on_hand: float | None = None, returned: float | None = None,
                      note: str | None = None) -> None:
    conn.execute(t.recall_consignee.insert().values(
        recall_id=recall_id, party=party, kind=kind, at=at, method=method,
        quantity_on_hand=on_hand, quantity_returned=returned, note=note, actor=actor,
        recorded_at=now))


@dataclass
class ConsigneeState:
    notified_at: datetime | None = None
    method: str | None = None
    responded_at: datetime | None = None
    on_hand: float = 0.0
    returned: float = 0.0


def consignee_states(conn: Connection, recall_id: str) -> dict[str, ConsigneeState]:
    """Per party, the newest notification and the newest response (each response is cumulative)."""
    c = t.recall_consignee.c
    out: dict[str, ConsigneeState] = {}
    for row in conn.execute(select(t.recall_consignee).where(c.recall_id == recall_id)
                            .order_by(c.id)):
        state = out.setdefault(row.party, ConsigneeState())
        if row.kind == "notified":
            state.notified_at, state.method = utc(row.at), row.method
        else:
            state.responded_at = utc(row.at)
            state.on_hand = row.quantity_on_hand or 0.0
            state.returned = row.quantity_returned or 0.0
            if row.method and state.method is None:
                state.method = row.method
    return out
