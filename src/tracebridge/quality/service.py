"""Quality decisions on lots: hold, lift a hold, release, recall block, expiry block.

One use case per command, each one transaction: take the event log's writer lock, read
the lot's current status from the ``lot`` projection, ask the state machine whether the
command is allowed (``IllegalTransition`` if not), append the canonical event (source
system ``tracebridge``), update the projections, and run the reactions — the forwarding
policy writes the outbox messages for WMS and ERP — before committing. Either the
decision and every message announcing it are stored, or none of them is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, select

from tracebridge.domain.commands import (
    BlockExpired,
    BlockForRecall,
    HoldLot,
    LotCommand,
    ReleaseHold,
    ReleaseLot,
    command_name,
    decide,
    decide_serials,
)
from tracebridge.domain.events import CanonicalEvent, EventKind, LotRef, Source
from tracebridge.domain.lot_status import LotState, LotStatus, transition
from tracebridge.errors import NotFound
from tracebridge.store import event_log, writer
from tracebridge.store.event_log import PendingEvent
from tracebridge.store.tables import event as event_table
from tracebridge.store.tables import lot as lot_table
from tracebridge.store.tables import outbox
from tracebridge.store.tables import serial as serial_table
from tracebridge.store.tables import serial_fact as serial_fact_table
from tracebridge.store.writer import Reaction

SOURCE_SYSTEM = "tracebridge"
MAPPING_ID = "quality-command"


class Authorizer(Protocol):
    """Decides whether ``command.actor`` may issue ``command`` (roles, e-signatures).

    Raises a ``TraceBridgeError`` to refuse. Access control plugs in here; until it
    exists every actor is allowed and the actor id is recorded with the decision.
    """

    def __call__(self, command: LotCommand) -> None: ...


def allow_everyone(command: LotCommand) -> None:
    """The authoriser used until access control exists: records the actor, checks nothing."""


@dataclass(frozen=True)
class Decision:
    """What a command came to: the lot's status before and after, and what was queued."""

    command: str
    gtin: str
    lot: str
    event_kind: str
    status_before: str
    status_after: str
    event_id: str
    event_seq: int | None  # None: the same command was already decided (a retried request)
    messages: list[str]  # targets an outbox message was written for
    serials: list[str] = field(default_factory=list)  # the units held or freed; []: the lot

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class QualityService:
    def __init__(
        self,
        engine: Engine,
        *,
        reactions: Sequence[Reaction] = (),
        authorize: Authorizer = allow_everyone,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.reactions = tuple(reactions)
        self.authorize = authorize
        self.clock = clock

    def hold(self, gtin: str, lot: str, *, reason: str, actor: str,
             command_id: str | None = None, serials: Sequence[str] = ()) -> Decision:
        """Hold the lot — or, with ``serials``, only those units of it."""
        return self.execute(HoldLot(serials=tuple(serials),
                                    **_args(gtin, lot, reason, actor, command_id)))

    def release_hold(self, gtin: str, lot: str, *, reason: str, actor: str,
                     command_id: str | None = None, serials: Sequence[str] = ()) -> Decision:
        return self.execute(ReleaseHold(serials=tuple(serials),
                                        **_args(gtin, lot, reason, actor, command_id)))

    def release(self, gtin: str, lot: str, *, reason: str, actor: str,
                command_id: str | None = None) -> Decision:
        return self.execute(ReleaseLot(**_args(gtin, lot, reason, actor, command_id)))

    def block_for_recall(self, gtin: str, lot: str, *, recall_id: str, reason: str, actor: str,
                         command_id: str | None = None) -> Decision:
        return self.execute(
            BlockForRecall(recall_id=recall_id, **_args(gtin, lot, reason, actor, command_id))
        )

    def block_expired(self, gtin: str, lot: str, *, reason: str, actor: str,
                      command_id: str | None = None) -> Decision:
        return self.execute(BlockExpired(**_args(gtin, lot, reason, actor, command_id)))

    def batch_in(self, conn: Connection, *, now: datetime) -> DecisionBatch:
        """Decisions taken in the caller's transaction and stored in one write (rules)."""
        return DecisionBatch(conn, now=now, reactions=self.reactions)

    def execute(self, command: LotCommand) -> Decision:
        """Decide ``command`` and store it with its outbox messages, in one transaction."""
        self.authorize(command)
        now = self.clock()
        with self.engine.begin() as conn:
            head = event_log.lock_chain_head(conn)  # serialises decisions on the same lot
            return self.decide_in(conn, command, now=now, head=head)

    def decide_in(
        self,
        conn: Connection,
        command: LotCommand,
        *,
        now: datetime,
        head: event_log.ChainHead | None = None,
        details: dict[str, str | int | float | bool | None] | None = None,
    ) -> Decision:
        """Decide ``command`` inside the caller's transaction (a rule acting on an event).

        The caller owns the transaction and has authorised the command; ``head`` is the
        chain head it locked, if it still holds (``None`` re-reads it under the lock).
        ``details`` are added to the event (a rule names itself there).
        """
        status, expiry = _current(conn, command)
        earlier = _earlier_decision(conn, command)
        if earlier is not None:  # a retried request: answer it, decide nothing twice
            return Decision(
                command=command_name(command), gtin=command.gtin, lot=command.lot,
                event_kind=earlier[1], status_before=status.value,
                status_after=status.value, event_id=earlier[0], event_seq=None,
                messages=[], serials=list(command.serials),
            )
        kind = _decide(conn, command, status, expiry, now)
        event = _event(command, kind, now, extra=details or {})
        recorded = writer.record(
            conn, [PendingEvent(event)], now=now, head=head, reactions=self.reactions
        )
        result = recorded.result
        after = _current(conn, command)[0]
        targets = _queued_targets(conn, result.stored[0].seq) if result.stored else []
        return Decision(
            command=command_name(command),
            gtin=command.gtin,
            lot=command.lot,
            event_kind=kind.value,
            status_before=status.value,
            status_after=after.value,
            event_id=event.event_id,
            event_seq=result.stored[0].seq if result.stored else None,
            messages=targets,
            serials=list(command.serials),
        )


@dataclass
class Planned:
    """A decision taken in a :class:`DecisionBatch`, complete once the batch is stored."""

    command: LotCommand
    event: CanonicalEvent
    status_before: LotStatus
    decision: Decision | None = None
    outcome: dict[str, Any] | None = None  # the caller's record of it (a rule's action)


class DecisionBatch:
    """Many decisions in one transaction: each decided at once, all stored in one write.

    A rule pack reacting to a batch of events may hold hundreds of lots. Deciding each
    with :meth:`QualityService.decide_in` stores each alone (append, projections,
    outbox); here each command is still checked against the state machine the moment it
    is taken — against the lot's status as the earlier commands of this batch left it,
    so a second hold of the same lot is refused as it would be after the first — and
    :meth:`store` then appends every event with one ``writer.record``.
    """

    def __init__(self, conn: Connection, *, now: datetime,
                 reactions: Sequence[Reaction]) -> None:
        self.conn = conn
        self.now = now
        self.reactions = reactions
        self.planned: list[Planned] = []
        self._status: dict[tuple[str, str], tuple[LotStatus, date | None]] = {}
        # per lot: serials looked up, those of the lot, those on hold (as this batch left them)
        self._units: dict[tuple[str, str], tuple[set[str], set[str], set[str]]] = {}

    def decide(self, command: LotCommand, *,
               details: dict[str, str | int | float | bool | None]) -> Planned:
        """Take ``command`` now (``IllegalTransition`` / ``NotFound`` as ``decide_in``)."""
        key = (command.gtin, command.lot)
        if key not in self._status:
            self._status[key] = _current(self.conn, command)
        status, expiry = self._status[key]
        if command.serials:
            looked, known, held = self._units.setdefault(key, (set(), set(), set()))
            unseen = [s for s in command.serials if s not in looked]
            if unseen:  # read each unit once; later commands see this batch's holds
                found, on_hold = _units(self.conn, command, unseen)
                looked.update(unseen)
                known.update(found)
                held.update(on_hold)
            kind = decide_serials(command, lot_status=status, known=known, held=held)
            if isinstance(command, HoldLot):
                held.update(command.serials)
            else:
                held.difference_update(command.serials)
        else:
            kind = decide(command, status, expiry=expiry, today=self.now.date())
            self._status[key] = (transition(LotState(status), kind).status, expiry)
        planned = Planned(command, _event(command, kind, self.now, extra=details), status)
        self.planned.append(planned)
        return planned

    def store(self) -> list[Planned]:
        """Append the batch's events (a retried command is not decided twice)."""
        if not self.planned:
            return []
        earlier = _earlier_decisions(self.conn, [_record_id(p.command) for p in self.planned])
        pending = [PendingEvent(p.event) for p in self.planned
                   if _record_id(p.command) not in earlier]
        stored = writer.record(self.conn, pending, now=self.now,
                               reactions=self.reactions).result.stored
        seqs = {s.event.event_id: s.seq for s in stored}
        targets = _queued_targets_of(self.conn, list(seqs.values()))
        after = _statuses(self.conn, {(p.command.gtin, p.command.lot) for p in self.planned})
        for p in self.planned:
            seq = seqs.get(p.event.event_id)
            if _record_id(p.command) in earlier:  # a retried command: decided before
                event_id, kind = earlier[_record_id(p.command)]
                p.decision = Decision(
                    command=command_name(p.command), gtin=p.command.gtin, lot=p.command.lot,
                    event_kind=kind, status_before=p.status_before.value,
                    status_after=p.status_before.value, event_id=event_id, event_seq=None,
                    messages=[], serials=list(p.command.serials))
                continue
            p.decision = Decision(
                command=command_name(p.command), gtin=p.command.gtin, lot=p.command.lot,
                event_kind=p.event.kind.value, status_before=p.status_before.value,
                status_after=after.get((p.command.gtin, p.command.lot), p.status_before).value,
                event_id=p.event.event_id, event_seq=seq,
                messages=targets.get(seq, []) if seq is not None else [],
                serials=list(p.command.serials),
            )
        return self.planned


def _args(gtin: str, lot: str, reason: str, actor: str, command_id: str | None) -> dict[str, Any]:
    args: dict[str, Any] = {"gtin": gtin, "lot": lot, "reason": reason, "actor": actor}
    if command_id is not None:
        args["command_id"] = command_id
    return args


def _current(conn: Connection, command: LotCommand) -> tuple[LotStatus, date | None]:
    row = conn.execute(
        select(lot_table.c.status, lot_table.c.expiry).where(
            lot_table.c.gtin == command.gtin, lot_table.c.lot == command.lot
        )
    ).one_or_none()
    if row is None:
        raise NotFound(
            f"Cannot {command.verb} lot {command.gtin}/{command.lot}: no such lot in the "
            "store; expected a lot that was received, produced or taken over as opening balance"
        )
    expiry = date.fromisoformat(row.expiry) if row.expiry else None
    return LotStatus(row.status), expiry


def _decide(conn: Connection, command: LotCommand, status: LotStatus, expiry: date | None,
            now: datetime) -> EventKind:
    if not command.serials:
        return decide(command, status, expiry=expiry, today=now.date())
    known, held = _units(conn, command, command.serials)
    return decide_serials(command, lot_status=status, known=known, held=held)


def _units(conn: Connection, command: LotCommand,
           serials: Sequence[str]) -> tuple[set[str], set[str]]:
    """Which of ``serials`` were produced or received in the command's lot, and which are
    on hold. Membership comes from the unit's facts, not its current row: a serial
    repeated in two lots is one row (GTIN + serial), naming the lot that came last."""
    f, c = serial_fact_table.c, serial_table.c
    known: set[str] = set()
    held: set[str] = set()
    wanted = list(serials)
    for start in range(0, len(wanted), 900):
        part = wanted[start : start + 900]
        known.update(str(s) for s in conn.execute(
            select(f.serial).distinct().where(
                f.gtin == command.gtin, f.lot == command.lot, f.serial.in_(part),
                f.retracted_at.is_(None))).scalars())
        held.update(str(s) for s in conn.execute(
            select(c.serial).where(c.gtin == command.gtin, c.serial.in_(part),
                                   c.on_hold.is_(True))).scalars())
    return known, held


def _record_id(command: LotCommand) -> str:
    return f"{command_name(command)}:{command.command_id}"


def _earlier_decision(conn: Connection, command: LotCommand) -> tuple[str, str] | None:
    row = conn.execute(
        select(event_table.c.event_id, event_table.c.kind).where(
            event_table.c.source_system == SOURCE_SYSTEM,
            event_table.c.source_record_id == _record_id(command),
        )
    ).first()
    return (str(row.event_id), str(row.kind)) if row is not None else None


def _earlier_decisions(conn: Connection, record_ids: list[str]) -> dict[str, tuple[str, str]]:
    e = event_table.c
    out: dict[str, tuple[str, str]] = {}
    for start in range(0, len(record_ids), 900):
        query = select(e.source_record_id, e.event_id, e.kind).where(
            e.source_system == SOURCE_SYSTEM,
            e.source_record_id.in_(record_ids[start : start + 900]))
        for record_id, event_id, kind in conn.execute(query):
            out.setdefault(str(record_id), (str(event_id), str(kind)))
    return out


def _event(
    command: LotCommand,
    kind: Any,
    now: datetime,
    *,
    extra: dict[str, str | int | float | bool | None],
) -> CanonicalEvent:
    details: dict[str, str | int | float | bool | None] = {
        **extra,
        "reason": command.reason,
        "command": command_name(command),
    }
    if isinstance(command, BlockForRecall) and command.recall_id:
        details["recall_id"] = command.recall_id
    if isinstance(command, BlockExpired):
        details["block"] = "expired"
    if command.serials:
        details["scope"] = "units"
    return CanonicalEvent(
        kind=kind,
        event_time=now,
        event_time_zone_offset="+00:00",
        lots=(LotRef(gtin=command.gtin, lot=command.lot, serials=command.serials),),
        operator=command.actor,
        details=details,
        source=Source(
            system=SOURCE_SYSTEM,
            record_id=_record_id(command),
            mapping_id=MAPPING_ID,
            mapping_version="1",
        ),
    )


def _statuses(conn: Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], LotStatus]:
    c = lot_table.c
    out: dict[tuple[str, str], LotStatus] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), 400):
        part = ordered[start : start + 400]
        query = select(c.gtin, c.lot, c.status).where(
            c.gtin.in_({g for g, _ in part}), c.lot.in_({lot for _, lot in part}))
        for gtin, lot, status in conn.execute(query):
            if (gtin, lot) in keys:
                out[(gtin, lot)] = LotStatus(status)
    return out


def _queued_targets_of(conn: Connection, seqs: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for start in range(0, len(seqs), 900):
        query = (select(outbox.c.event_seq, outbox.c.target)
                 .where(outbox.c.event_seq.in_(seqs[start : start + 900])).order_by(outbox.c.id))
        for seq, target in conn.execute(query):
            out.setdefault(int(seq), []).append(str(target))
    return out


def _queued_targets(conn: Connection, event_seq: int) -> list[str]:
    query = select(outbox.c.target).where(outbox.c.event_seq == event_seq).order_by(outbox.c.id)
    return list(conn.execute(query).scalars())
