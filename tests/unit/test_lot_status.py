"""The lot status state machine: every allowed step, every forbidden one, and folds over logs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracebridge.domain.events import EventKind
from tracebridge.domain.lot_status import (
    STATUS_CHANGING_KINDS,
    LotState,
    LotStatus,
    expire,
    fold,
    is_shippable,
    transition,
)
from tracebridge.errors import IllegalTransition

S = LotStatus
K = EventKind

# The transition table as the QA process describes it, written out independently of the
# implementation: (from, event) -> to. HOLD_RELEASED is covered separately.
ALLOWED: dict[tuple[LotStatus, EventKind], LotStatus] = {
    (S.QUARANTINE, K.RELEASED): S.RELEASED,
    (S.QUARANTINE, K.HELD): S.HOLD,
    (S.QUARANTINE, K.REJECTED): S.REJECTED,
    (S.RELEASED, K.HELD): S.HOLD,
    (S.RELEASED, K.RECALLED): S.RECALLED,
    (S.HOLD, K.REJECTED): S.REJECTED,
    (S.HOLD, K.RECALLED): S.RECALLED,
    (S.EXPIRED, K.RECALLED): S.RECALLED,
    (S.EXPIRED, K.SCRAPPED): S.SCRAPPED,
    (S.REJECTED, K.SCRAPPED): S.SCRAPPED,
    (S.RECALLED, K.SCRAPPED): S.SCRAPPED,
}

FORBIDDEN = [
    (status, kind)
    for status in LotStatus
    for kind in sorted(STATUS_CHANGING_KINDS)
    if (status, kind) not in ALLOWED and not (status is S.HOLD and kind is K.HOLD_RELEASED)
]


def test_status_values_are_the_lowercase_names() -> None:
    assert [s.value for s in LotStatus] == [s.name.lower() for s in LotStatus]


def test_status_changing_kinds_are_exactly_the_six_decisions() -> None:
    assert {K.RELEASED, K.HELD, K.HOLD_RELEASED, K.REJECTED, K.RECALLED, K.SCRAPPED} == (
        STATUS_CHANGING_KINDS
    )


@pytest.mark.parametrize(("start", "kind", "end"), [(s, k, e) for (s, k), e in ALLOWED.items()])
def test_allowed_transition(start: LotStatus, kind: EventKind, end: LotStatus) -> None:
    assert transition(LotState(start), kind).status is end


@pytest.mark.parametrize("start", [S.QUARANTINE, S.RELEASED])
def test_hold_remembers_and_hold_released_restores_the_previous_status(start: LotStatus) -> None:
    held = transition(LotState(start), K.HELD)
    assert held == LotState(S.HOLD, before_hold=start)
    assert transition(held, K.HOLD_RELEASED) == LotState(start)


def test_lifting_a_hold_of_unknown_origin_returns_to_quarantine_not_released() -> None:
    assert transition(LotState(S.HOLD), K.HOLD_RELEASED) == LotState(S.QUARANTINE)


def test_states_other_than_hold_forget_before_hold() -> None:
    held = transition(LotState(S.RELEASED), K.HELD)
    assert transition(held, K.RECALLED) == LotState(S.RECALLED)


def test_every_pair_is_either_allowed_or_forbidden() -> None:
    pairs = len(LotStatus) * len(STATUS_CHANGING_KINDS)
    assert len(ALLOWED) + len(FORBIDDEN) + 1 == pairs  # +1: hold → hold_released


@pytest.mark.parametrize(("start", "kind"), FORBIDDEN)
def test_forbidden_transition_raises_with_from_event_and_allowed(
    start: LotStatus, kind: EventKind
) -> None:
    with pytest.raises(IllegalTransition) as raised:
        transition(LotState(start), kind)
    message = str(raised.value)
    assert repr(start.value) in message
    assert repr(kind.value) in message
    assert "allowed:" in message
    assert raised.value.code == "illegal-transition"


def test_forbidden_message_lists_what_is_allowed() -> None:
    with pytest.raises(IllegalTransition, match=r"allowed: released, held, rejected$"):
        transition(LotState(S.QUARANTINE), K.SCRAPPED)
    with pytest.raises(IllegalTransition, match=r"allowed: none \(final status\)"):
        transition(LotState(S.SCRAPPED), K.RECALLED)


def test_release_of_a_rejected_lot_is_refused() -> None:
    with pytest.raises(IllegalTransition):
        transition(LotState(S.REJECTED), K.RELEASED)


def test_expire_turns_a_released_lot_expired() -> None:
    assert expire(LotState(S.RELEASED)) == LotState(S.EXPIRED)


@pytest.mark.parametrize("start", [s for s in LotStatus if s is not S.RELEASED])
def test_expire_is_only_for_released_lots(start: LotStatus) -> None:
    with pytest.raises(IllegalTransition, match="'expiry'"):
        expire(LotState(start))


def test_fold_skips_and_reports_illegal_steps() -> None:
    final, problems = fold([K.RELEASED, K.RELEASED, K.HELD, K.HOLD_RELEASED, K.SCRAPPED])
    assert final == LotState(S.RELEASED)
    assert len(problems) == 2
    assert all(isinstance(p, IllegalTransition) for p in problems)


def test_fold_ignores_kinds_that_do_not_change_status() -> None:
    final, problems = fold([K.RECEIVED, K.INSPECTED, K.RELEASED, K.PICKED, K.SHIPPED])
    assert final == LotState(S.RELEASED)
    assert problems == []


def test_fold_from_a_given_initial_status() -> None:
    final, problems = fold([K.SCRAPPED], initial=S.REJECTED)
    assert (final.status, problems) == (S.SCRAPPED, [])


@given(st.lists(st.sampled_from(list(EventKind))), st.sampled_from(list(LotStatus)))
def test_fold_never_raises_and_always_yields_a_status(
    kinds: list[EventKind], initial: LotStatus
) -> None:
    final, problems = fold(kinds, initial=initial)
    assert isinstance(final.status, LotStatus)
    assert (final.before_hold is not None) <= (final.status is S.HOLD)
    assert len(problems) <= sum(1 for k in kinds if k in STATUS_CHANGING_KINDS)


@given(st.lists(st.sampled_from(sorted(STATUS_CHANGING_KINDS))))
def test_fold_equals_applying_each_legal_step(kinds: list[EventKind]) -> None:
    state, skipped = LotState(S.QUARANTINE), 0
    for kind in kinds:
        try:
            state = transition(state, kind)
        except IllegalTransition:
            skipped += 1
    final, problems = fold(kinds)
    assert (final, len(problems)) == (state, skipped)


@given(st.lists(st.sampled_from(sorted(STATUS_CHANGING_KINDS))))
def test_scrapped_is_final(kinds: list[EventKind]) -> None:
    final, _ = fold(kinds, initial=S.SCRAPPED)
    assert final.status is S.SCRAPPED


@pytest.mark.parametrize("status", list(LotStatus))
def test_req18_only_released_lots_are_shippable(status: LotStatus) -> None:
    """REQ-18: only passed/released lots may be picked, shipped or used."""
    assert is_shippable(status) is (status is S.RELEASED)


def test_req18_a_held_released_lot_is_not_shippable_until_the_hold_is_lifted() -> None:
    """REQ-18: a hold blocks shipping; lifting it restores the released status."""
    held, _ = fold([K.RELEASED, K.HELD])
    assert not is_shippable(held.status)
    assert is_shippable(transition(held, K.HOLD_RELEASED).status)
