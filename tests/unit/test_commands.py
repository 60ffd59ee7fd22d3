"""Quality commands against the lot state machine (REQ-18: only a released lot is shippable)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracebridge.domain.commands import (
    COMMANDS,
    BlockExpired,
    BlockForRecall,
    HoldLot,
    LotCommand,
    ReleaseHold,
    ReleaseLot,
    command_name,
    decide,
)
from tracebridge.domain.events import EventKind
from tracebridge.domain.lot_status import LotState, LotStatus, transition
from tracebridge.errors import IllegalTransition

TODAY = date(2026, 3, 1)
GTIN = "09506000134352"


def make(kind: type[LotCommand], **extra: str) -> LotCommand:
    return kind(gtin=GTIN, lot="A1", reason="because", actor="u.li", **extra)


def test_hold_of_a_released_lot_yields_held() -> None:
    assert decide(make(HoldLot), LotStatus.RELEASED, expiry=None, today=TODAY) is EventKind.HELD


def test_release_hold_requires_a_lot_on_hold() -> None:
    with pytest.raises(IllegalTransition, match=r"from 'quarantine' on 'hold_released'"):
        decide(make(ReleaseHold), LotStatus.QUARANTINE, expiry=None, today=TODAY)


def test_refusal_names_the_lot_and_what_is_allowed() -> None:
    with pytest.raises(IllegalTransition) as caught:
        decide(make(ReleaseLot), LotStatus.SCRAPPED, expiry=None, today=TODAY)
    assert f"{GTIN}/A1" in caught.value.message
    assert "none (final status)" in caught.value.message


def test_req18_an_expired_lot_is_never_made_shippable_again() -> None:
    """REQ-18: lifting a hold on, or releasing, a lot past its expiry is refused."""
    for kind, status in ((ReleaseHold, LotStatus.HOLD), (ReleaseLot, LotStatus.QUARANTINE)):
        with pytest.raises(IllegalTransition, match="expired on 2026-02-28"):
            decide(make(kind), status, expiry=date(2026, 2, 28), today=TODAY)
    assert decide(make(ReleaseHold), LotStatus.HOLD, expiry=TODAY, today=TODAY) is (
        EventKind.HOLD_RELEASED
    )


def test_expiry_block_only_for_a_released_lot_past_its_expiry() -> None:
    past = date(2026, 1, 1)
    assert decide(make(BlockExpired), LotStatus.RELEASED, expiry=past, today=TODAY) is (
        EventKind.HELD
    )
    with pytest.raises(IllegalTransition, match="expiry date is 2026-12-31"):
        decide(make(BlockExpired), LotStatus.RELEASED, expiry=date(2026, 12, 31), today=TODAY)
    with pytest.raises(IllegalTransition, match="none recorded"):
        decide(make(BlockExpired), LotStatus.RELEASED, expiry=None, today=TODAY)
    with pytest.raises(IllegalTransition, match="from 'hold' on 'expiry'"):
        decide(make(BlockExpired), LotStatus.HOLD, expiry=past, today=TODAY)


def test_recall_block_keeps_its_recall_id() -> None:
    command = make(BlockForRecall, recall_id="RC-2026-01")
    assert isinstance(command, BlockForRecall) and command.recall_id == "RC-2026-01"
    assert decide(command, LotStatus.HOLD, expiry=None, today=TODAY) is EventKind.RECALLED


@pytest.mark.parametrize("blank", ["reason", "actor", "lot"])
def test_blank_reason_actor_or_lot_is_refused(blank: str) -> None:
    args = {"gtin": GTIN, "lot": "A1", "reason": "r", "actor": "u", blank: "  "}
    with pytest.raises(IllegalTransition, match=f"{blank} is empty"):
        HoldLot(**args)


def test_overlong_reason_is_refused_with_its_length() -> None:
    with pytest.raises(IllegalTransition, match="reason has 201 characters"):
        HoldLot(gtin=GTIN, lot="A1", reason="x" * 201, actor="u")


def test_every_command_names_a_distinct_permission_and_releases_need_signatures() -> None:
    permissions = [kind.permission for kind in COMMANDS.values()]
    assert len(set(permissions)) == len(permissions)
    signed = {name for name, kind in COMMANDS.items() if kind.needs_signature}
    assert signed == {"release-hold", "release"}
    assert [command_name(make(kind)) for kind in COMMANDS.values()] == list(COMMANDS)


def test_each_request_gets_its_own_command_id_unless_given() -> None:
    assert make(HoldLot).command_id != make(HoldLot).command_id
    assert make(HoldLot, command_id="req-1").command_id == "req-1"


@given(
    status=st.sampled_from(list(LotStatus)),
    kind=st.sampled_from([HoldLot, ReleaseHold, ReleaseLot, BlockForRecall]),
)
def test_decide_agrees_with_the_state_machine(status: LotStatus, kind: type[LotCommand]) -> None:
    """A command is accepted exactly when the state machine allows its event."""
    command = make(kind)
    try:
        transition(LotState(status), command.event_kind)
        allowed = True
    except IllegalTransition:
        allowed = False
    if allowed:
        assert decide(command, status, expiry=None, today=TODAY) is command.event_kind
    else:
        with pytest.raises(IllegalTransition):
            decide(command, status, expiry=None, today=TODAY)
