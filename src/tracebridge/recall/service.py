"""The recall use cases: start, impact, contain, notify, respond, status, close, drill, track.

Each use case is one unit of work. Reads (impact, status, drill, track) run in one
read-only snapshot and write nothing; a drill in particular runs scope, impact and the
customer lists exactly as a real recall would, and only measures them.

Containment asks :class:`~tracebridge.quality.service.QualityService` to block each
affected lot for the recall (holding it first when it is still in quarantine, which the
lot state machine does not let a recall block) inside one transaction: every lot decision, the
outbox messages telling WMS and ERP, and the recall's own step commit together or not
at all. Each lot's command id is derived from the recall and the lot, so containing
again is safe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from tracebridge.domain.commands import BlockForRecall, HoldLot, LotCommand
from tracebridge.domain.lot_status import LotStatus
from tracebridge.domain.recall import (
    EffectivenessLevel,
    LotScope,
    RecallPlan,
    ScopeItem,
    SerialScope,
    parse_scope,
    scope_to_dict,
    scope_to_text,
)
from tracebridge.errors import IllegalTransition, InvalidRecallInput
from tracebridge.quality.service import QualityService
from tracebridge.recall import effectiveness, records
from tracebridge.recall.impact import impact as impact_of
from tracebridge.recall.model import (
    ConsigneeStatus,
    ContainmentResult,
    Drill,
    Impact,
    Notification,
    Recall,
    StatusReport,
    Tracking,
)
from tracebridge.recall.notices import (
    customer_csv,
    customer_rows,
    customer_xlsx,
    notice_text,
    safe_name,
)
from tracebridge.recall.reporting import report_due
from tracebridge.recall.scope import ResolvedScope, resolve_scope
from tracebridge.recall.tracking import track_unit
from tracebridge.store import event_log
from tracebridge.store.database import read_snapshot
from tracebridge.trace.reference import resolve


@dataclass(frozen=True)
class _Lists:
    files: dict[str, bytes]
    notice: str


class RecallService:
    def __init__(self, engine: Engine, quality: QualityService, *,
                 system_of_record: str = "wms", holidays: Collection[date] = (),
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.quality = quality
        self.system_of_record = system_of_record
        self.holidays = frozenset(holidays)
        self.clock = clock

    # ---------------------------------------------------------------- writes

    def start(self, plan: RecallPlan, scope: Sequence[ScopeItem], *, actor: str,
              expected_completion: date | None = None) -> Recall:
        """Open a recall (REQ 32) with its 806 due date (REQ 39); the scope must resolve."""
        if not scope:
            raise InvalidRecallInput("A recall needs a scope: given none; expected lots, "
                                     "serials or a criterion")
        now = self.clock()
        with self.engine.begin() as conn:
            resolve_scope(conn, scope)  # refuses lots and serials the store does not know
            recall_id = records.new_id(conn, now)
            records.insert(conn, recall_id=recall_id, plan=plan,
                           scope=[scope_to_dict(item) for item in scope], actor=actor, now=now,
                           due=report_due(now.date(), self.holidays),
                           expected_completion=expected_completion)
        return self.get(recall_id)

    def contain(self, recall_id: str, *, actor: str) -> list[ContainmentResult]:
        """Block every affected lot for the recall, in one transaction with the recall step.

        Each block goes through ``QualityService.decide_in``: the lot state machine, the
        event and the outbox messages for WMS and ERP are the quality service's own.
        """
        with self._snapshot() as conn:
            records.status_of(conn, recall_id).next("contain")  # refuse early when closed
            scope = self._scope(conn, recall_id)
            found = impact_of(conn, scope, system_of_record=self.system_of_record)
        now = self.clock()
        with self.engine.begin() as conn:
            event_log.lock_chain_head(conn)  # one writer: the blocks and the step together
            results = [
                ContainmentResult(lot=f"{lot.gtin}/{lot.lot}", outcome="serials-only",
                                  status_before=lot.status, status_after=lot.status,
                                  detail="only some serials of this lot are recalled: a lot "
                                         "block would stop good units; quarantine the serials")
                if (lot.gtin, lot.lot) in scope.serials
                else self._block(conn, recall_id, lot.gtin, lot.lot, lot.status, actor, now)
                for lot in found.lots]
            outcomes = {r.outcome: sum(x.outcome == r.outcome for x in results) for r in results}
            records.advance(conn, recall_id, "contain", actor=actor, now=now,
                            detail={"outcomes": outcomes})
        return results

    def _block(self, conn: Connection, recall_id: str, gtin: str, lot: str,
               status: str | None, actor: str, now: datetime) -> ContainmentResult:
        label = f"{gtin}/{lot}"
        if status == LotStatus.RECALLED.value:
            return ContainmentResult(lot=label, outcome="already-blocked", status_before=status,
                                     status_after=status)
        # Derived from recall and lot, so containing again decides nothing twice.
        common: dict[str, Any] = {"gtin": gtin, "lot": lot, "reason": f"recall {recall_id}",
                                  "actor": actor, "command_id": f"{recall_id}:{label}"}
        # The state machine lets a recall block only released, held or expired lots: a
        # lot still in quarantine is held first, so every affected lot ends up recalled.
        steps: list[LotCommand] = [BlockForRecall(recall_id=recall_id, **common)]
        if status == LotStatus.QUARANTINE.value:
            steps.insert(0, HoldLot(**common))
        decisions = []
        try:
            for command in steps:
                self.quality.authorize(command)
                decisions.append(self.quality.decide_in(conn, command, now=now,
                                                        details={"recall_id": recall_id}))
        except IllegalTransition as refused:  # decided before anything is written
            return ContainmentResult(lot=label, outcome="refused", status_before=status,
                                     detail=refused.message)
        return ContainmentResult(lot=label, outcome="blocked",
                                 status_before=decisions[0].status_before,
                                 status_after=decisions[-1].status_after,
                                 messages=[m for d in decisions for m in d.messages],
                                 detail="held first: it was in quarantine" if len(steps) > 1
                                 else None)

    def notify(self, recall_id: str, *, actor: str, method: str = "letter",
               out_dir: Path | None = None) -> Notification:
        """Write the per-customer lists and notice; record each consignee as notified."""
        with self._snapshot() as conn:
            records.status_of(conn, recall_id).next("notify")
            recall, scope = records.load(conn, recall_id)
            found = impact_of(conn, resolve_scope(conn, scope),
                              system_of_record=self.system_of_record)
        lists = build_lists(recall, found)
        written: list[str] = []
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            for name, content in lists.files.items():
                (out_dir / name).write_bytes(content)
                written.append(str(out_dir / name))
            (out_dir / f"{recall_id}-notice.txt").write_text(lists.notice, encoding="utf-8")
            written.append(str(out_dir / f"{recall_id}-notice.txt"))
        now = self.clock()
        with self.engine.begin() as conn:
            for customer in found.customers:
                records.add_consignee_row(conn, recall_id=recall_id,
                                          party=customer.consignee.code, kind="notified",
                                          at=now, method=method, actor=actor, now=now)
            records.advance(conn, recall_id, "notify", actor=actor, now=now,
                            detail={"customers": len(found.customers), "method": method})
        return Notification(recall_id=recall_id,
                            customers=[c.consignee.code for c in found.customers],
                            files=written, notice=lists.notice)

    def respond(self, recall_id: str, party: str, *, actor: str, quantity_on_hand: float,
                quantity_returned: float, responded_at: datetime | None = None,
                method: str | None = None, note: str | None = None) -> StatusReport:
        """Record a consignee's response: units on hand and returned or corrected (REQ 37)."""
        if quantity_on_hand < 0 or quantity_returned < 0:
            raise InvalidRecallInput(
                f"Response of {party!r} to {recall_id}: quantities must not be negative, given "
                f"on hand {quantity_on_hand}, returned {quantity_returned}")
        with self._snapshot() as conn:
            records.status_of(conn, recall_id).next("respond")
            found = impact_of(conn, self._scope(conn, recall_id),
                              system_of_record=self.system_of_record)
        known = {c.consignee.code for c in found.customers}
        if party not in known:
            raise InvalidRecallInput(
                f"Response for {party!r} to {recall_id}: not a consignee of this recall; "
                f"expected one of {', '.join(sorted(known)) or 'none (nothing was shipped)'}")
        now = self.clock()
        with self.engine.begin() as conn:
            records.advance(conn, recall_id, "respond", actor=actor, now=now,
                            detail={"party": party})
            records.add_consignee_row(conn, recall_id=recall_id, party=party, kind="response",
                                      at=responded_at or now, method=method,
                                      on_hand=quantity_on_hand, returned=quantity_returned,
                                      note=note, actor=actor, now=now)
        return self.status(recall_id)

    def close(self, recall_id: str, *, reason: str, actor: str) -> Recall:
        if not reason.strip():
            raise InvalidRecallInput(f"Closing {recall_id} needs a reason: given an empty one")
        with self.engine.begin() as conn:
            records.advance(conn, recall_id, "close", actor=actor, now=self.clock(),
                            reason=reason.strip())
        return self.get(recall_id)

    # ---------------------------------------------------------------- reads

    def get(self, recall_id: str) -> Recall:
        with self._snapshot() as conn:
            return records.load(conn, recall_id)[0]

    def impact(self, recall_id: str) -> Impact:
        with self._snapshot() as conn:
            return impact_of(conn, self._scope(conn, recall_id),
                             system_of_record=self.system_of_record)

    def status(self, recall_id: str) -> StatusReport:
        """The recall status report of 21 CFR 7.53(b) (REQ 37)."""
        with self._snapshot() as conn:
            recall, scope = records.load(conn, recall_id)
            found = impact_of(conn, resolve_scope(conn, scope),
                              system_of_record=self.system_of_record)
            states = records.consignee_states(conn, recall_id)
        return status_report(recall, found, states)

    def customer_list(self, recall_id: str, party: str, *, fmt: str = "csv") -> bytes:
        """One consignee's list as CSV or XLSX (the same content ``notify`` writes)."""
        if fmt not in ("csv", "xlsx"):
            raise InvalidRecallInput(f"List format {fmt!r}: expected csv or xlsx")
        with self._snapshot() as conn:
            recall, scope = records.load(conn, recall_id)
            found = impact_of(conn, resolve_scope(conn, scope),
                              system_of_record=self.system_of_record)
        customer = next((c for c in found.customers if c.consignee.code == party), None)
        if customer is None:
            raise InvalidRecallInput(
                f"No list for {party!r} in {recall_id}: not a consignee of this recall; "
                f"expected one of {', '.join(c.consignee.code for c in found.customers)}")
        rows = customer_rows(recall.id, customer, found)
        return customer_csv(rows) if fmt == "csv" else customer_xlsx(recall.id, customer, rows)

    def track(self, gtin: str, serial: str) -> Tracking:
        """Who holds a tracked unit and where, or when and to whom it was shipped (REQ 40, 41)."""
        with self._snapshot() as conn:
            return track_unit(conn, gtin, serial)

    def drill(self, reference: str) -> Drill:
        """A mock recall of a recall number, scope expression or lot/serial reference."""
        seconds: dict[str, float] = {}
        started = time.perf_counter()
        with self._snapshot() as conn:
            recall_id = reference if records.exists(conn, reference) else None
            scope = (self._stored_scope(conn, reference) if recall_id
                     else [drill_scope(conn, reference)])
            resolved = resolve_scope(conn, scope)
            seconds["scope"] = time.perf_counter() - started
            mark = time.perf_counter()
            found = impact_of(conn, resolved, system_of_record=self.system_of_record)
            seconds["impact"] = time.perf_counter() - mark
            recall = (records.load(conn, recall_id)[0] if recall_id else None)
        mark = time.perf_counter()
        lists = build_lists(recall or _mock(found, self.clock()), found)
        seconds["lists"] = time.perf_counter() - mark
        seconds["total"] = time.perf_counter() - started
        return Drill(recall_id=recall_id, scope=[scope_to_text(s) for s in scope],
                     seconds={k: round(v, 4) for k, v in seconds.items()},
                     customer_lists=len(lists.files) // 2,
                     list_bytes=sum(len(b) for b in lists.files.values()), impact=found)

    # ---------------------------------------------------------------- helpers

    def _stored_scope(self, conn: Connection, recall_id: str) -> list[ScopeItem]:
        return records.load(conn, recall_id)[1]

    def _scope(self, conn: Connection, recall_id: str) -> ResolvedScope:
        return resolve_scope(conn, self._stored_scope(conn, recall_id))

    def _snapshot(self) -> AbstractContextManager[Connection]:
        """One consistent read: every query sees the same committed state."""
        return read_snapshot(self.engine)


def drill_scope(conn: Connection, reference: str) -> ScopeItem:
    """A scope expression (``lot:…``, ``supplier-lot:…`` …) or any lot/serial reference."""
    kind = reference.partition(":")[0].lower()
    if kind in {"lot", "serial", "serials", "supplier-lot", "equipment", "operation",
                "inspection"}:
        return parse_scope(reference)
    found = resolve(conn, reference)
    if found.serial is not None:
        return SerialScope(found.gtin, found.serial)
    return LotScope(found.gtin, found.lot)


def build_lists(recall: Recall, found: Impact) -> _Lists:
    """Every customer's CSV and XLSX list, and the general notice, in memory."""
    files: dict[str, bytes] = {}
    for customer in found.customers:
        rows = customer_rows(recall.id, customer, found)
        stem = f"{recall.id}-{safe_name(customer.consignee.code)}"
        files[f"{stem}.csv"] = customer_csv(rows)
        files[f"{stem}.xlsx"] = customer_xlsx(recall.id, customer, rows)
    return _Lists(files, notice_text(recall, found))


def _mock(found: Impact, now: datetime) -> Recall:
    return Recall(id="MOCK", recall_class="II", depth="consumer", public_warning=False,
                  effectiveness_level="A", reason="mock recall drill", product=None,
                  reportable_806=False, initiated_at=now, report_due=now.date(),
                  expected_completion=None, scope=found.scope_lots, status="open",
                  initiated_by="drill", close_reason=None, history=[])


def status_report(recall: Recall, found: Impact,
                  states: dict[str, records.ConsigneeState]) -> StatusReport:
    rows: list[ConsigneeStatus] = []
    parts = []
    for customer in found.customers:
        state = states.get(customer.consignee.code) or records.ConsigneeState()
        shipped = customer.shipped - customer.returned
        part = effectiveness.account(shipped=shipped, on_hand=state.on_hand,
                                     returned=state.returned,
                                     responded=state.responded_at is not None)
        parts.append(part)
        rows.append(ConsigneeStatus(
            consignee=customer.consignee, shipped=round(shipped, 6),
            notified_at=state.notified_at, method=state.method, responded_at=state.responded_at,
            quantity_on_hand=state.on_hand, quantity_returned=state.returned,
            accounted_percent=part.percent, open=part.open))
    whole = effectiveness.total(parts)
    required = effectiveness.consignees_to_check(EffectivenessLevel(recall.effectiveness_level),
                                                 len(rows))
    responded = [r for r in rows if r.responded_at is not None]
    complete = [r for r in responded if not r.open]
    return StatusReport(
        recall=recall, consignees=rows,
        consignees_notified=sum(r.notified_at is not None for r in rows),
        consignees_responded=len(responded),
        non_responders=[r.consignee.code for r in rows if r.responded_at is None],
        quantity_on_hand=round(sum(r.quantity_on_hand for r in rows), 6),
        quantity_returned=round(sum(r.quantity_returned for r in rows), 6),
        units_shipped=round(whole.shipped, 6), units_accounted=round(whole.accounted, 6),
        accounted_percent=whole.percent, effectiveness_checks_required=required,
        effectiveness_checks_done=len(responded),
        effectiveness_results=(f"{len(responded)} of {required} required check(s) done; "
                               f"{len(complete)} consignee(s) accounted for every unit, "
                               f"{len(responded) - len(complete)} still short"),
        open_customers=[r.consignee.code for r in rows if r.open],
        expected_completion=recall.expected_completion)
