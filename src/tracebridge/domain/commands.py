"""Quality commands: what a person (later, a rule) asks TraceBridge to do to a lot.

A command is imperative (``HoldLot``); if the lot state machine allows it, it becomes a
past-tense event (``held``) that the log keeps and the outbox carries to WMS and ERP.
Who may issue which command is an access-control question, so every command names the
permission it needs and whether it must be e-signed (releasing a lot or lifting a hold
makes product shippable again: 21 CFR 11 / ISO 13485 7.5.8 want a signed decision).

>>> from datetime import date
>>> from tracebridge.domain.lot_status import LotStatus
>>> hold = HoldLot(gtin="09506000134352", lot="A1", reason="NC-7 open", actor="u.li")
>>> decide(hold, LotStatus.RELEASED, expiry=None, today=date(2026, 3, 1)).value
'held'
>>> ReleaseHold.permission, ReleaseHold.needs_signature
('lot.release-hold', True)
>>> decide(ReleaseLot(gtin="09506000134352", lot="A1", reason="QA ok", actor="u.li"),
...        LotStatus.RECALLED, expiry=None, today=date(2026, 3, 1))
Traceback (most recent call last):
...
tracebridge.errors.IllegalTransition: Cannot release lot 09506000134352/A1: Illegal lot status \
transition from 'recalled' on 'released'; allowed: scrapped
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from typing import ClassVar

from tracebridge.domain.events import EventKind
from tracebridge.domain.lot_status import LotState, LotStatus, expire, transition
from tracebridge.errors import IllegalTransition

MAX_REASON = 200  # the lot_event.reason column


def _new_command_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, kw_only=True)
class LotCommand:
    """A decision about one lot (GTIN + lot number), with why and by whom.

    ``command_id`` identifies the request: the same id sent twice (a client retrying) is
    one decision, because the event it yields has the same identity.
    """

    gtin: str
    lot: str
    reason: str
    actor: str  # user id; roles and signatures are checked by the caller's authoriser
    command_id: str = field(default_factory=_new_command_id)
    # Hold or release only these units of the lot (UDI-PI serials); empty: the whole lot.
    serials: tuple[str, ...] = ()

    event_kind: ClassVar[EventKind]
    verb: ClassVar[str]
    permission: ClassVar[str]
    needs_signature: ClassVar[bool] = False

    def __post_init__(self) -> None:
        for name in ("gtin", "lot", "reason", "actor", "command_id"):
            if not getattr(self, name).strip():
                raise IllegalTransition(
                    f"Cannot {self.verb} lot {self.gtin}/{self.lot}: {name} is empty; "
                    f"expected a non-blank {name}"
                )
        if len(self.reason) > MAX_REASON:
            raise IllegalTransition(
                f"Cannot {self.verb} lot {self.gtin}/{self.lot}: reason has {len(self.reason)} "
                f"characters; expected at most {MAX_REASON}"
            )
        if self.serials and not self.serial_scoped:
            raise IllegalTransition(
                f"Cannot {self.verb} serials of lot {self.gtin}/{self.lot}: only a hold and "
                "its release apply to single units; expected no serials"
            )
        if any(not s.strip() for s in self.serials) or len(set(self.serials)) != len(
                self.serials):
            raise IllegalTransition(
                f"Cannot {self.verb} serials of lot {self.gtin}/{self.lot}: a serial is blank "
                "or named twice; expected distinct serial numbers"
            )

    serial_scoped: ClassVar[bool] = False


@dataclass(frozen=True, kw_only=True)
class HoldLot(LotCommand):
    """Stop a lot from being picked, shipped or used until the hold is released."""

    event_kind = EventKind.HELD
    verb = "hold"
    permission = "lot.hold"
    serial_scoped = True


@dataclass(frozen=True, kw_only=True)
class ReleaseHold(LotCommand):
    """Lift a hold: the lot returns to the status the hold interrupted."""

    event_kind = EventKind.HOLD_RELEASED
    verb = "release the hold on"
    permission = "lot.release-hold"
    needs_signature = True
    serial_scoped = True


@dataclass(frozen=True, kw_only=True)
class ReleaseLot(LotCommand):
    """Batch release: a quarantined lot becomes shippable."""

    event_kind = EventKind.RELEASED
    verb = "release"
    permission = "lot.release"
    needs_signature = True


@dataclass(frozen=True, kw_only=True)
class BlockForRecall(LotCommand):
    """Block a lot because it is in a recall's scope; ``recall_id`` names the recall."""

    recall_id: str = ""
    event_kind = EventKind.RECALLED
    verb = "block for recall"
    permission = "lot.recall-block"


@dataclass(frozen=True, kw_only=True)
class BlockExpired(LotCommand):
    """Block a released lot whose expiry date has passed.

    The event log has no ``expired`` event kind (expiry is a date, not something a system
    reports), so the block travels as a hold whose ``block`` detail is ``expired``; lifting
    it is refused for as long as the lot is past its expiry date (see :func:`decide`).
    """

    event_kind = EventKind.HELD
    verb = "block as expired"
    permission = "lot.expiry-block"


COMMANDS: dict[str, type[LotCommand]] = {
    "hold": HoldLot,
    "release-hold": ReleaseHold,
    "release": ReleaseLot,
    "recall-block": BlockForRecall,
    "expiry-block": BlockExpired,
}


def command_name(command: LotCommand) -> str:
    """``hold``, ``release-hold`` … — the key of ``COMMANDS`` for this command's type."""
    return next(name for name, kind in COMMANDS.items() if isinstance(command, kind))


def decide(
    command: LotCommand, status: LotStatus, *, expiry: date | None, today: date
) -> EventKind:
    """The event kind ``command`` yields for a lot in ``status``, or ``IllegalTransition``."""
    where = f"Cannot {command.verb} lot {command.gtin}/{command.lot}"
    state = LotState(status)
    expired = expiry is not None and expiry < today
    try:
        if isinstance(command, BlockExpired):
            if not expired:
                shown = expiry.isoformat() if expiry else "none recorded"
                raise IllegalTransition(
                    f"expiry date is {shown}; expected a date before {today.isoformat()}"
                )
            expire(state)
        elif isinstance(command, ReleaseHold | ReleaseLot) and expired:
            assert expiry is not None
            raise IllegalTransition(
                f"the lot expired on {expiry.isoformat()}; an expired lot is never made "
                "shippable again"
            )
        transition(state, command.event_kind)
    except IllegalTransition as error:
        raise IllegalTransition(f"{where}: {error.message}") from None
    return command.event_kind


def decide_serials(
    command: LotCommand, *, lot_status: LotStatus, known: Collection[str], held: Collection[str]
) -> EventKind:
    """The event a hold (or its release) of single units yields, or ``IllegalTransition``.

    The lot's own status does not change: the units are blocked, the rest of the lot is
    not. ``known`` are the serials produced or received in this lot, ``held`` those of
    them on hold now.

    >>> from tracebridge.domain.lot_status import LotStatus
    >>> hold = HoldLot(gtin="09506000134352", lot="A1", reason="duplicate serial",
    ...                actor="rule:duplicate-serial", serials=("S1",))
    >>> decide_serials(hold, lot_status=LotStatus.RELEASED, known={"S1", "S2"}, held=()).value
    'held'
    >>> decide_serials(hold, lot_status=LotStatus.RELEASED, known={"S1"}, held={"S1"})
    Traceback (most recent call last):
    ...
    tracebridge.errors.IllegalTransition: Cannot hold serials of lot 09506000134352/A1: S1 \
already on hold
    """
    where = f"Cannot {command.verb} serials of lot {command.gtin}/{command.lot}"
    if lot_status is LotStatus.SCRAPPED:
        raise IllegalTransition(f"{where}: the lot is scrapped; no unit of it can move again")
    unknown = [s for s in command.serials if s not in known]
    if unknown:
        raise IllegalTransition(
            f"{where}: {_listed(unknown)} not produced or received in this lot; expected "
            "serials of this lot"
        )
    if isinstance(command, HoldLot):
        again = [s for s in command.serials if s in held]
        if again:
            raise IllegalTransition(f"{where}: {_listed(again)} already on hold")
    else:
        free = [s for s in command.serials if s not in held]
        if free:
            raise IllegalTransition(f"{where}: {_listed(free)} not on hold")
    return command.event_kind


def _listed(serials: list[str]) -> str:
    shown = ", ".join(serials[:5])
    return shown + (f" and {len(serials) - 5} more" if len(serials) > 5 else "")
