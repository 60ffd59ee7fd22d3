"""The lot status state machine: which acceptance status a lot is in, and what may change it.

A lot starts in quarantine (待检/隔离) when it is received or produced. Only a
*released* lot may be picked, shipped or used (REQ-18, ISO 13485 7.5.8); every
other status blocks it. Status changes arrive as events, so the current status is
a fold over the lot's status-changing events:

>>> from tracebridge.domain.events import EventKind
>>> state = transition(LotState(LotStatus.QUARANTINE), EventKind.RELEASED)
>>> state = transition(state, EventKind.HELD)
>>> state
LotState(status=<LotStatus.HOLD: 'hold'>, before_hold=<LotStatus.RELEASED: 'released'>)
>>> transition(state, EventKind.HOLD_RELEASED).status
<LotStatus.RELEASED: 'released'>

A hold remembers where it came from, so lifting it restores that status instead of
silently releasing a lot that was never released.

An event the machine does not allow raises :class:`~tracebridge.errors.IllegalTransition`;
:func:`fold` instead skips it and reports it, because a projection over a log written by
other systems must not stop at the first out-of-order record:

>>> final, problems = fold([EventKind.RELEASED, EventKind.REJECTED, EventKind.RECALLED])
>>> final.status, len(problems)
(<LotStatus.RECALLED: 'recalled'>, 1)
>>> print(problems[0])
Illegal lot status transition from 'released' on 'rejected'; allowed: held, recalled, expiry
>>> is_shippable(final.status)
False
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from tracebridge.domain.events import EventKind
from tracebridge.errors import IllegalTransition


class LotStatus(StrEnum):
    """Acceptance status of a lot; the values are the codes of the ``lot_status`` code list."""

    QUARANTINE = "quarantine"
    RELEASED = "released"
    HOLD = "hold"
    REJECTED = "rejected"
    RECALLED = "recalled"
    EXPIRED = "expired"
    SCRAPPED = "scrapped"


@dataclass(frozen=True)
class LotState:
    """A lot's status, plus the status a hold interrupted (``None`` when not on hold)."""

    status: LotStatus
    before_hold: LotStatus | None = None


STATUS_CHANGING_KINDS: frozenset[EventKind] = frozenset(
    {
        EventKind.RELEASED,
        EventKind.HELD,
        EventKind.HOLD_RELEASED,
        EventKind.REJECTED,
        EventKind.RECALLED,
        EventKind.SCRAPPED,
    }
)

# HOLD_RELEASED is absent on purpose: its target depends on ``before_hold``.
_NEXT: dict[LotStatus, dict[EventKind, LotStatus]] = {
    LotStatus.QUARANTINE: {
        EventKind.RELEASED: LotStatus.RELEASED,
        EventKind.HELD: LotStatus.HOLD,
        EventKind.REJECTED: LotStatus.REJECTED,
    },
    LotStatus.RELEASED: {
        EventKind.HELD: LotStatus.HOLD,
        EventKind.RECALLED: LotStatus.RECALLED,
    },
    LotStatus.HOLD: {
        EventKind.REJECTED: LotStatus.REJECTED,
        EventKind.RECALLED: LotStatus.RECALLED,
    },
    LotStatus.EXPIRED: {
        EventKind.RECALLED: LotStatus.RECALLED,
        EventKind.SCRAPPED: LotStatus.SCRAPPED,
    },
    LotStatus.REJECTED: {EventKind.SCRAPPED: LotStatus.SCRAPPED},
    LotStatus.RECALLED: {EventKind.SCRAPPED: LotStatus.SCRAPPED},
    LotStatus.SCRAPPED: {},
}

# Expiry is not an event anyone sends: it happens when the expiry date passes.
_EXPIRY = "expiry"
_EXPIRABLE = frozenset({LotStatus.RELEASED})


def allowed_events(status: LotStatus) -> list[str]:
    """The event kinds (and ``"expiry"``) that may change a lot in ``status``, in a stable order."""
    allowed = [kind.value for kind in _NEXT[status]]
    if status is LotStatus.HOLD:
        allowed.insert(0, EventKind.HOLD_RELEASED.value)
    if status in _EXPIRABLE:
        allowed.append(_EXPIRY)
    return allowed


def _illegal(status: LotStatus, event: str) -> IllegalTransition:
    allowed = ", ".join(allowed_events(status)) or "none (final status)"
    return IllegalTransition(
        f"Illegal lot status transition from {status.value!r} on {event!r}; allowed: {allowed}"
    )


def transition(state: LotState, kind: EventKind) -> LotState:
    """The state after ``kind``; raises ``IllegalTransition`` if ``kind`` is not allowed now."""
    if kind is EventKind.HOLD_RELEASED and state.status is LotStatus.HOLD:
        # A lot whose hold predates our history (opening balance) has no known earlier
        # status; quarantine is the only choice that cannot make it shippable by accident.
        return LotState(state.before_hold or LotStatus.QUARANTINE)
    target = _NEXT[state.status].get(kind)
    if target is None:
        raise _illegal(state.status, kind.value)
    if target is LotStatus.HOLD:
        return LotState(LotStatus.HOLD, before_hold=state.status)
    return LotState(target)


def expire(state: LotState) -> LotState:
    """The state after the lot's expiry date has passed: released → expired."""
    if state.status not in _EXPIRABLE:
        raise _illegal(state.status, _EXPIRY)
    return LotState(LotStatus.EXPIRED)


def fold(
    kinds: Iterable[EventKind], initial: LotStatus = LotStatus.QUARANTINE
) -> tuple[LotState, list[IllegalTransition]]:
    """Apply ``kinds`` in order; illegal steps are skipped and returned, never raised.

    Kinds that do not change status (received, shipped, inspected …) are passed over.
    """
    state = LotState(initial)
    problems: list[IllegalTransition] = []
    for kind in kinds:
        if kind not in STATUS_CHANGING_KINDS:
            continue
        try:
            state = transition(state, kind)
        except IllegalTransition as problem:
            problems.append(problem)
    return state, problems


def is_shippable(status: LotStatus) -> bool:
    """Whether a lot in ``status`` may be picked, shipped or used (REQ-18: released only)."""
    return status is LotStatus.RELEASED
