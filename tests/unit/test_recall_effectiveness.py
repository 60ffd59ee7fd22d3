"""Effectiveness-check counts (REQ 33) and units accounted for (21 CFR 7.42)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracebridge.domain.recall import EffectivenessLevel
from tracebridge.recall.effectiveness import account, consignees_to_check, total

A, B, C, D, E = (EffectivenessLevel(x) for x in "ABCDE")


@pytest.mark.parametrize(("level", "consignees", "expected"), [
    (A, 200, 200), (C, 200, 20), (D, 200, 4), (E, 200, 0), (B, 200, 100),
    (C, 7, 1), (D, 7, 1), (A, 0, 0), (B, 0, 0), (B, 1, 1), (B, 2, 1), (B, 10, 5)])
def test_req33_consignees_to_contact_per_level(level: EffectivenessLevel, consignees: int,
                                               expected: int) -> None:
    """REQ-33: A = 100 %, B between 10 % and 100 % (we take half), C = 10 %, D = 2 %, E = 0."""
    assert consignees_to_check(level, consignees) == expected


@given(st.integers(min_value=2, max_value=100_000))
def test_req33_level_b_is_strictly_between_level_c_and_all(consignees: int) -> None:
    """REQ-33: level B is more than 10 % and less than 100 % of the consignees."""
    b = consignees_to_check(B, consignees)
    assert b < consignees
    assert b > consignees * 0.10 or (consignees < 10 and b == math.ceil(consignees * 0.10))


@given(st.integers(min_value=0, max_value=100_000))
def test_req33_levels_are_ordered(consignees: int) -> None:
    counts = [consignees_to_check(level, consignees) for level in (A, B, C, D, E)]
    assert counts == sorted(counts, reverse=True) and counts[0] == consignees
    assert counts[-1] == 0


def test_negative_consignee_count_is_refused() -> None:
    with pytest.raises(ValueError, match="given -1"):
        consignees_to_check(A, -1)


def test_accounting_caps_at_shipped_and_stays_open_without_response() -> None:
    part = account(shipped=10, on_hand=8, returned=5, responded=True)
    assert (part.accounted, part.percent, part.open) == (10, 100.0, False)
    silent = account(shipped=4, on_hand=0, returned=0, responded=False)
    assert silent.open and silent.percent == 0.0
    both = total([part, silent])
    assert (both.shipped, both.accounted, both.percent, both.open) == (14, 10, 71.43, True)
