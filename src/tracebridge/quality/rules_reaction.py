"""Rules in the ingest transaction: evaluate, act, and keep a firing record of why.

:class:`RulesReaction` is a store ``Reaction``: ``writer.record`` calls it after the
projections of a batch were updated, in the same transaction. For each stored event it
picks the rules its kind triggers (the newest version in effect on the event's date),
builds their CEL input *as of that event* (``quality/context.py``), and for each rule
that fires:

* takes its actions — ``hold`` and ``block_shipment`` through
  ``QualityService.decide_in`` (a HELD event plus outbox rows, exactly like a person's
  hold), ``open_nonconformance`` as a ``nonconformance_raised`` event, ``alert`` and
  ``propose_recall`` as rows of the alert inbox;
* stores a ``rule_firing`` row: rule id and version, the event, the exact inputs the
  condition saw, and what each action came to.

**No endless re-triggering.** Events a rule produces carry ``rule_id`` in their details
and are never evaluated by rules, and the ``QualityService`` a rule acts through runs only
the forwarding reaction, not this one: a rule's consequences are at most one step deep.

A condition that fails on real data (e.g. comparing a null) does not stop the ingest: it
raises a ``rule-evaluation-failed`` alert naming the rule and the event.

:func:`dry_run` replays stored history through the same evaluation without any side
effect and returns what would have fired (``tracebridge rules test``).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select

from tracebridge.alerts.inbox import NewAlert, raise_alert
from tracebridge.domain.commands import HoldLot
from tracebridge.domain.events import CanonicalEvent, EventKind, LotRef, Source
from tracebridge.errors import IllegalTransition, NotFound
from tracebridge.quality.completeness import finished_lots, lot_completeness
from tracebridge.quality.context import ContextBuilder, Needs
from tracebridge.quality.master_cache import MasterCache
from tracebridge.quality.service import SOURCE_SYSTEM, DecisionBatch, QualityService
from tracebridge.quality.watermarks import Watermarks, streams_of, watermark_key
from tracebridge.rules.evaluation import (
    CompiledRule,
    ConditionFailed,
    Lazy,
    evaluate_all,
    select_versions,
)
from tracebridge.rules.model import Action, ActionType, Target
from tracebridge.store import writer
from tracebridge.store.event_log import PendingEvent, StoredEvent, utc
from tracebridge.store.tables import alert, event, rule_firing

RULE_MAPPING = "quality-rule"
EVALUATION_FAILED = "rule-evaluation-failed"


@dataclass
class Firing:
    """One rule firing on one event: what it saw and what it did (or would do)."""

    rule: CompiledRule
    item: StoredEvent
    inputs: dict[str, Any]
    actions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def lot_key(self) -> tuple[str | None, str | None]:
        lot = self.inputs.get("lot") or {}
        if lot.get("present"):
            return lot.get("gtin"), lot.get("lot")
        refs = self.item.event.lots or self.item.event.inputs
        return (refs[0].gtin, refs[0].lot) if refs else (None, None)

    def summary(self) -> dict[str, Any]:
        gtin, lot = self.lot_key
        event_ = self.item.event
        return {
            "rule_id": self.rule.id, "rule_version": self.rule.version,
            "code": self.rule.rule.code, "severity": self.rule.rule.severity.value,
            "event_seq": self.item.seq, "event_kind": event_.kind.value,
            "source": f"{event_.source.system}:{event_.source.record_id}",
            "event_time": event_.event_time.isoformat(), "gtin": gtin, "lot": lot,
            "actions": self.actions,
        }


class RuleEvaluator:
    """Chooses the rules an event triggers and evaluates them; reads only."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self.rules = [r for r in rules if not r.rule.scheduled]
        self.by_kind: dict[str, list[CompiledRule]] = defaultdict(list)
        for rule in self.rules:
            for kind in rule.rule.trigger.events:
                self.by_kind[kind.value].append(rule)
        self.needs = {kind: Needs.of(rules) for kind, rules in self.by_kind.items()}
        self.defaults: dict[str, Any] = {}
        for rule in self.rules:
            self.defaults.update(rule.params)

    def evaluate(self, conn: Connection, stored: Sequence[StoredEvent], *,
                 builder: ContextBuilder,
                 on_error: Callable[[StoredEvent, ConditionFailed], None],
                 since: datetime | None = None) -> Iterator[Firing]:
        streams = streams_of(conn, [s.seq for s in stored])
        builder.prefetch(stored)
        builder.watermarks.prefetch(
            {watermark_key(s.event, streams.get(s.seq, s.event.source.mapping_id))
             for s in stored})
        in_effect: dict[tuple[str, date], list[CompiledRule]] = {}
        for item in stored:
            ev = item.event
            stream = streams.get(item.seq, ev.source.mapping_id)
            if made_by_rule(ev) or (since is not None and utc(item.record_time) < since):
                chosen = []
            else:
                day = (ev.kind.value, ev.event_time.date())
                if day not in in_effect:
                    in_effect[day] = select_versions(self.by_kind.get(day[0], []), day[1])
                chosen = in_effect[day]
            if chosen:
                inputs = builder.build(item, stream=stream, needs=self.needs[ev.kind.value])
                for rule, fired in evaluate_all(chosen, inputs):
                    if isinstance(fired, ConditionFailed):
                        on_error(item, fired)
                        continue
                    if fired:
                        used = seen_inputs(rule, inputs)
                        yield Firing(rule=rule, item=item,
                                     inputs={**used, "params": rule.params})
            builder.watermarks.advance(watermark_key(ev, stream), ev.event_time)


def seen_inputs(rule: CompiledRule, inputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs the condition read: its variables, lazy ones only if they were reached."""
    out: dict[str, Any] = {}
    for name in sorted(rule.variables):
        value = inputs.get(name)
        if isinstance(value, Lazy):
            if value.done:
                out[name] = value.get()
        elif name in inputs:
            out[name] = value
    return out


def made_by_rule(ev: CanonicalEvent) -> bool:
    return ev.source.system == SOURCE_SYSTEM and "rule_id" in ev.details


class RulesReaction:
    """The reaction evaluating ``rules`` on every stored batch and executing their actions."""

    def __init__(self, rules: Sequence[CompiledRule], *, quality: QualityService,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.evaluator = RuleEvaluator(rules)
        self.quality = quality
        self.clock = clock
        # open alerts per (code, gtin, lot), looked up once per reaction call
        self._open: dict[tuple[str, str | None, str | None], int | None] = {}
        self._masters = MasterCache()

    def __call__(self, conn: Connection, stored: Sequence[StoredEvent]) -> None:
        now = self.clock()
        self._open = {}
        builder = ContextBuilder(conn, defaults=self.evaluator.defaults,
                                 watermarks=Watermarks(conn), masters=self._masters)

        def failed(item: StoredEvent, problem: ConditionFailed) -> None:
            raise_alert(conn, NewAlert(
                code=EVALUATION_FAILED, severity="warning",
                title_en="A rule condition failed on real data",
                title_zh="规则条件在实际数据上计算失败",
                detail={"message": problem.message}, event_seq=item.seq,
            ), now=now)

        decisions = self.quality.batch_in(conn, now=now)
        acted: list[tuple[Firing, list[int]]] = []
        for firing in self.evaluator.evaluate(conn, stored, builder=builder, on_error=failed):
            acted.append((firing, self._act(conn, firing, now, decisions)))
            for action in firing.actions:  # a later event of the batch must see the hold
                if action.get("outcome") == "held":
                    builder.note_hold(action["gtin"], action["lot"], now,
                                      serials=action.get("serials", ()))
        for planned in decisions.store():
            outcome = planned.outcome
            assert planned.decision is not None and outcome is not None
            outcome.update(event_seq=planned.decision.event_seq,
                           messages=planned.decision.messages)
        _store_firings(conn, acted, now)
        builder.watermarks.save(conn)

    def _act(self, conn: Connection, firing: Firing, now: datetime,
             decisions: DecisionBatch) -> list[int]:
        """Take the firing's actions; returns the ids of the alerts it raised."""
        alert_ids: list[int] = []
        for action in firing.rule.rule.actions:
            if action.type in (ActionType.HOLD, ActionType.BLOCK_SHIPMENT):
                for gtin, lot, serials in hold_targets(firing, action):
                    firing.actions.append(
                        self._hold(firing, action, gtin, lot, serials, decisions))
            elif action.type is ActionType.OPEN_NONCONFORMANCE:
                firing.actions.append(self._nonconformance(conn, firing, action, now))
            else:
                fresh = new_alert(firing, action)
                earlier = self._open_alert(conn, fresh)
                if earlier is not None:  # one open alert per code and lot: no alert fatigue
                    firing.actions.append({"type": action.type.value, "outcome": "already-open",
                                           "alert_id": earlier})
                    continue
                alert_id = raise_alert(conn, fresh, now=now)
                self._open[(fresh.code, fresh.gtin, fresh.lot)] = alert_id
                alert_ids.append(alert_id)
                firing.actions.append({"type": action.type.value, "outcome": "raised",
                                       "alert_id": alert_id})
        return alert_ids

    def _open_alert(self, conn: Connection, fresh: NewAlert) -> int | None:
        if fresh.lot is None:
            return None
        key = (fresh.code, fresh.gtin, fresh.lot)
        if key not in self._open:
            found = conn.execute(select(alert.c.id).where(
                alert.c.gtin == fresh.gtin, alert.c.lot == fresh.lot,
                alert.c.code == fresh.code, alert.c.status != "resolved",
            ).limit(1)).scalar()
            self._open[key] = int(found) if found is not None else None
        return self._open[key]

    def _hold(self, firing: Firing, action: Action, gtin: str, lot: str,
              serials: tuple[str, ...], decisions: DecisionBatch) -> dict[str, Any]:
        rule = firing.rule
        blocking = action.type is ActionType.BLOCK_SHIPMENT
        reason = f"{rule.rule.code}: {rule.rule.title.en}"[:200]
        command = HoldLot(gtin=gtin, lot=lot, reason=reason, actor=f"rule:{rule.id}",
                          command_id=_command_id(firing, action, gtin, lot), serials=serials)
        outcome: dict[str, Any] = {"type": action.type.value, "gtin": gtin, "lot": lot}
        if serials:
            outcome["serials"] = list(serials)
        try:
            planned = decisions.decide(command, details={
                "rule_id": rule.id, "rule_version": rule.version,
                "trigger_seq": firing.item.seq,
                "block": "shipment" if blocking else "rule-hold",
            })
        except (IllegalTransition, NotFound) as refused:
            # Already held, rejected or recalled: the lot is blocked, nothing to add.
            return {**outcome, "outcome": "skipped", "why": refused.message}
        # The hold is stored with the batch's other decisions; its event number and
        # messages are filled in then, before the firing row is written.
        planned.outcome = {**outcome, "outcome": "held", "event_seq": None, "messages": []}
        return planned.outcome

    def _nonconformance(self, conn: Connection, firing: Firing, action: Action,
                        now: datetime) -> dict[str, Any]:
        rule = firing.rule
        lots = tuple(LotRef(gtin=g, lot=lot) for g, lot in targets(firing, action))
        nc = CanonicalEvent(
            kind=EventKind.NONCONFORMANCE_RAISED, event_time=now,
            event_time_zone_offset="+00:00", lots=lots, operator=f"rule:{rule.id}",
            details={"rule_id": rule.id, "rule_version": rule.version,
                     "trigger_seq": firing.item.seq,
                     "reason": f"{rule.rule.code}: {rule.rule.title.en}"[:200]},
            source=Source(system=SOURCE_SYSTEM,
                          record_id=f"nc:{_command_id(firing, action, '', '')}",
                          mapping_id=RULE_MAPPING),
        )
        result = writer.record(conn, [PendingEvent(nc)], now=now,
                               reactions=self.quality.reactions).result
        seq = result.stored[0].seq if result.stored else None
        return {"type": action.type.value, "outcome": "opened", "event_seq": seq,
                "lots": [f"{r.gtin}/{r.lot}" for r in lots]}


def _store_firings(conn: Connection, acted: list[tuple[Firing, list[int]]],
                   now: datetime) -> None:
    """One row per firing — rule version, the inputs it saw, what its actions came to —
    and each alert it raised linked to it."""
    if not acted:
        return
    rows = []
    for firing, _ in acted:
        lot_gtin, lot_number = firing.lot_key
        rows.append({
            "rule_id": firing.rule.id, "rule_version": firing.rule.version,
            "code": firing.rule.rule.code, "severity": firing.rule.rule.severity.value,
            "event_seq": firing.item.seq, "gtin": lot_gtin, "lot": lot_number,
            "inputs": firing.inputs, "actions": firing.actions, "fired_at": now,
        })
    ids = conn.execute(rule_firing.insert().returning(rule_firing.c.id,
                                                      sort_by_parameter_order=True),
                       rows).scalars().all()
    links = [{"alert_id": alert_id, "firing": int(firing_id)}
             for (_, alert_ids), firing_id in zip(acted, ids, strict=True)
             for alert_id in alert_ids]
    if links:
        conn.execute(alert.update().where(alert.c.id == bindparam("alert_id"))
                     .values(firing_id=bindparam("firing")), links)


def hold_targets(firing: Firing, action: Action) -> list[tuple[str, str, tuple[str, ...]]]:
    """(GTIN, lot, serials) per lot a hold applies to; no serials: the whole lot."""
    if not action.target.units:
        return [(gtin, lot, ()) for gtin, lot in targets(firing, action)]
    flagged = set((firing.inputs.get("checks") or {}).get("duplicate_serials") or ())
    out = []
    for ref in firing.item.event.lots:
        units = tuple(s for s in ref.serials
                      if action.target is Target.EVENT_SERIALS or s in flagged)
        if units:
            out.append((ref.gtin, ref.lot, units))
    return out


def targets(firing: Firing, action: Action) -> list[tuple[str, str]]:
    ev = firing.item.event
    if action.target is Target.LOCATION_LOTS:
        return [(x["gtin"], x["lot"]) for x in firing.inputs.get("stock") or []]
    refs = ev.inputs if action.target is Target.INPUT_LOTS else (ev.lots or ev.inputs)
    return list(dict.fromkeys(r.key for r in refs))


def new_alert(firing: Firing, action: Action) -> NewAlert:
    rule = firing.rule.rule
    gtin, lot = firing.lot_key
    severity = (action.severity or rule.severity).value
    if action.type is ActionType.PROPOSE_RECALL:
        severity = "critical"
    return NewAlert(
        code=rule.code, severity=severity, title_en=rule.title.en, title_zh=rule.title.zh_cn,
        gtin=gtin, lot=lot, rule_id=rule.id, rule_version=rule.version,
        event_seq=firing.item.seq,
        detail={"source": firing.summary()["source"], "event_kind": firing.item.event.kind.value,
                "proposal": "recall" if action.type is ActionType.PROPOSE_RECALL else None,
                "checks": firing.inputs.get("checks")},
    )


def _command_id(firing: Firing, action: Action, gtin: str, lot: str) -> str:
    # Deterministic: re-evaluating the same event never takes the same action twice.
    key = f"{firing.rule.id}|{firing.rule.version}|{firing.item.seq}|{action.type}|{gtin}|{lot}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def dry_run(engine: Engine, rules: Sequence[CompiledRule], *,
            since: datetime | None = None, chunk: int = 2000) -> list[dict[str, Any]]:
    """What ``rules`` would have fired on the stored history (from ``since``), with no side
    effect: nothing is written, no action is taken; each action is described instead."""
    evaluator = RuleEvaluator(rules)
    out: list[dict[str, Any]] = []
    e = event.c
    with engine.connect() as conn:
        builder = ContextBuilder(conn, defaults=evaluator.defaults, watermarks=Watermarks())

        def failed(item: StoredEvent, problem: ConditionFailed) -> None:
            out.append({"code": EVALUATION_FAILED, "event_seq": item.seq,
                        "message": problem.message})

        after = 0
        while True:
            rows = list(conn.execute(
                select(e.seq, e.body, e.record_time, e.version, e.supersedes_seq)
                .where(e.seq > after).order_by(e.seq).limit(chunk)))
            if not rows:
                break
            after = int(rows[-1].seq)
            stored = [StoredEvent(seq=int(r.seq), event=CanonicalEvent.model_validate_json(r.body),
                                  record_time=utc(r.record_time), version=int(r.version),
                                  supersedes_seq=r.supersedes_seq) for r in rows]
            for firing in evaluator.evaluate(conn, stored, builder=builder, on_error=failed,
                                             since=since):
                firing.actions = [
                    {"type": a.type.value, "outcome": "would",
                     "lots": [f"{g}/{lot}" + (f" ({len(units)} units)" if units else "")
                              for g, lot, units in hold_targets(firing, a)]}
                    for a in firing.rule.rule.actions
                ]
                out.append({**firing.summary(), "inputs": firing.inputs})
        conn.rollback()
    return out


def run_scheduled(conn: Connection, rules: Sequence[CompiledRule], *, now: datetime,
                  act: bool) -> list[dict[str, Any]]:
    """Evaluate the ``schedule: daily`` rules over every finished lot's genealogy.

    With ``act`` the firings are stored and their alerts raised (one open alert per rule
    and lot: a gap found again tomorrow does not raise a second one); without, nothing is
    written (``tracebridge rules gaps`` and ``rules test``). Scheduled rules act through
    alerts only; other actions are reported as skipped.
    """
    chosen = select_versions([r for r in rules if r.rule.scheduled], now.date())
    if not chosen:
        return []
    evaluator = RuleEvaluator([])
    builder = ContextBuilder(conn, defaults=evaluator.defaults, watermarks=Watermarks())
    out: list[dict[str, Any]] = []
    for gtin, lot in finished_lots(conn):
        complete = lot_completeness(conn, gtin, lot)
        inputs = {
            "event": {"kind": "schedule", "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                      "lots": [], "inputs": [], "sensors": [], "details": {}},
            "lot": builder.lot(gtin, lot, (0, now), now),
            "checks": {"completeness": complete.score, "gaps": list(complete.gaps)},
        }
        for rule in chosen:
            if not rule.fires(inputs):
                continue
            used = seen_inputs(rule, inputs)
            record = {"rule_id": rule.id, "rule_version": rule.version,
                      "code": rule.rule.code, "severity": rule.rule.severity.value,
                      "event_seq": None, "gtin": gtin, "lot": lot,
                      "inputs": {**used, "params": rule.params}, "actions": []}
            if act:
                record["actions"] = _act_scheduled(conn, rule, record, now)
            out.append(record)
    return out


def _act_scheduled(conn: Connection, rule: CompiledRule, record: dict[str, Any],
                   now: datetime) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = []
    open_already = conn.execute(
        select(alert.c.id).where(alert.c.code == rule.rule.code, alert.c.gtin == record["gtin"],
                                 alert.c.lot == record["lot"], alert.c.status != "resolved")
    ).first()
    if open_already is not None:
        return []  # still open from an earlier run: nothing new to say
    for action in rule.rule.actions:
        if action.type not in (ActionType.ALERT, ActionType.PROPOSE_RECALL):
            actions.append({"type": action.type.value, "outcome": "skipped",
                            "why": "scheduled rules act through alerts"})
            continue
        severity = "critical" if action.type is ActionType.PROPOSE_RECALL else (
            action.severity or rule.rule.severity).value
        alert_id = raise_alert(conn, NewAlert(
            code=rule.rule.code, severity=severity, title_en=rule.rule.title.en,
            title_zh=rule.rule.title.zh_cn, gtin=record["gtin"], lot=record["lot"],
            rule_id=rule.id, rule_version=rule.version,
            detail={"checks": record["inputs"].get("checks"), "schedule": "daily"},
        ), now=now)
        actions.append({"type": action.type.value, "outcome": "raised", "alert_id": alert_id})
    conn.execute(rule_firing.insert().values(
        rule_id=rule.id, rule_version=rule.version, code=rule.rule.code,
        severity=rule.rule.severity.value, event_seq=None, gtin=record["gtin"],
        lot=record["lot"], inputs=record["inputs"], actions=actions, fired_at=now,
    ))
    return actions
