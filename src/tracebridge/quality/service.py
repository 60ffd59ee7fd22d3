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
from dataclasses import dataclass
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
)
from tracebridge.domain.events import CanonicalEvent, LotRef, Source
from tracebridge.domain.lot_status import LotStatus
from tracebridge.errors import NotFound
from tracebridge.store import event_log, writer
from tracebridge.store.event_log import PendingEvent
from tracebridge.store.tables import event as event_table
from tracebridge.store.tables import lot as lot_table
from tracebridge.store.tables import outbox
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
             command_id: str | None = None) -> Decision:
        return self.execute(HoldLot(**_args(gtin, lot, reason, actor, command_id)))

    def release_hold(self, gtin: str, lot: str, *, reason: str, actor: str,
                     command_id: str | None = None) -> Decision:
        return self.execute(ReleaseHold(**_args(gtin, lot, reason, actor, command_id)))

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
                messages=[],
            )
        kind = decide(command, status, expiry=expiry, today=now.date())
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
        )


def _args(gtin: str, lot: str, reason: str, actor: str, command_id: str | None) -> dict[str, str]:
    args = {"gtin": gtin, "lot": lot, "reason": reason, "actor": actor}
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
    return CanonicalEvent(
        kind=kind,
        event_time=now,
        event_time_zone_offset="+00:00",
        lots=(LotRef(gtin=command.gtin, lot=command.lot),),
        operator=command.actor,
        details=details,
        source=Source(
            system=SOURCE_SYSTEM,
            record_id=_record_id(command),
            mapping_id=MAPPING_ID,
            mapping_version="1",
        ),
    )


def _queued_targets(conn: Connection, event_seq: int) -> list[str]:
    query = select(outbox.c.target).where(outbox.c.event_seq == event_seq).order_by(outbox.c.id)
    return list(conn.execute(query).scalars())
