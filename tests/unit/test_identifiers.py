"""GTIN, GLN and SSCC value objects and the GS1 mod-10 check digit (REQ-56)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracebridge.domain.identifiers import Gln, Gtin, Sscc, gs1_check_digit
from tracebridge.errors import InvalidIdentifier

digits = st.text(alphabet="0123456789", min_size=1, max_size=17)


def with_check_digit(payload: str) -> str:
    return payload + str(gs1_check_digit(payload))


def test_check_digit_of_published_keys() -> None:
    assert gs1_check_digit("0950600013435") == 2
    assert gs1_check_digit("10614141234567890") == 8  # SSCC 106141412345678908
    assert gs1_check_digit("629104150021") == 3  # GTIN-13 6291041500213


@pytest.mark.parametrize(
    ("published", "printed_check", "true_check"),
    [("00848486001048", 8, 9), ("00208851107345", 5, 7)],
)
def test_req56_published_gtins_with_wrong_check_digit_are_flagged(
    published: str, printed_check: int, true_check: int
) -> None:
    """REQ-56: the HL7 C-CDA and AccessGUDID example GTINs fail their check digit."""
    with pytest.raises(InvalidIdentifier) as caught:
        Gtin.parse(published)
    assert caught.value.message == (
        f"Invalid GTIN '{published}': check digit {printed_check}, expected {true_check}"
    )


@pytest.mark.parametrize(
    ("raw", "fmt"),
    [
        ("96385074", "GTIN-8"),
        ("614141123452", "GTIN-12"),
        ("5901234123457", "GTIN-13"),
        ("10614141234563", "GTIN-14"),
    ],
)
def test_gtin_lengths_normalise_to_14_digits(raw: str, fmt: str) -> None:
    gtin = Gtin.parse(with_check_digit(raw[:-1]))
    assert len(gtin.value) == 14
    assert gtin.value.endswith(with_check_digit(raw[:-1]))
    assert gtin.format == fmt


@pytest.mark.parametrize(
    "raw", ["", "123", "1234567890", "abcdefgh", "0950600013435２", "095060001343521"]
)
def test_gtin_rejects_wrong_lengths_and_non_digits(raw: str) -> None:
    with pytest.raises(InvalidIdentifier, match="Invalid GTIN"):
        Gtin.parse(raw)


def test_gln_and_sscc_verify_their_check_digit() -> None:
    assert Gln.parse("1234567890128").value == "1234567890128"
    assert Sscc.parse("106141412345678908").value == "106141412345678908"
    with pytest.raises(InvalidIdentifier, match="check digit 7, expected 8"):
        Gln.parse("1234567890127")
    with pytest.raises(InvalidIdentifier, match="check digit 1, expected 0"):
        Sscc.parse("376130321109103421")
    with pytest.raises(InvalidIdentifier, match="17 digits, expected 18"):
        Sscc.parse("10614141234567890")


@given(
    st.sampled_from([7, 11, 12, 13]).flatmap(
        lambda n: st.text("0123456789", min_size=n, max_size=n)
    )
)
def test_any_payload_with_its_check_digit_parses_and_round_trips(payload: str) -> None:
    gtin = Gtin.parse(with_check_digit(payload))
    assert gtin.value.lstrip("0") == with_check_digit(payload).lstrip("0")
    assert Gtin.parse(gtin.value) == gtin


@given(st.text("0123456789", min_size=13, max_size=13), st.integers(0, 13), st.integers(1, 9))
def test_every_single_digit_error_is_caught(payload: str, position: int, shift: int) -> None:
    valid = with_check_digit(payload)
    wrong = valid[:position] + str((int(valid[position]) + shift) % 10) + valid[position + 1 :]
    with pytest.raises(InvalidIdentifier, match="check digit"):
        Gtin.parse(wrong)


@given(st.text(max_size=20))
def test_parse_never_fails_with_anything_but_invalid_identifier(raw: str) -> None:
    with contextlib.suppress(InvalidIdentifier):
        Gtin.parse(raw)
