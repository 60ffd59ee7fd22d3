"""HIBC LIC UDIs: primary/secondary, mod-43 check and link characters, date flags (REQ-56)."""

from __future__ import annotations

import contextlib
from datetime import date, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tracebridge.domain.udi.hibc import HIBC_CHARACTERS, decode_hibc, hibc_check_character
from tracebridge.domain.udi.parse import check_label_consistency, parse_udi
from tracebridge.errors import InvalidIdentifier

ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
TODAY = date.today()


def primary_symbol(data: str) -> str:
    return data + hibc_check_character(data)


def secondary_symbol(data: str, link: str) -> str:
    return data + link + hibc_check_character(data + link)


def concatenated(data: str) -> str:
    return data + hibc_check_character(data)


licensees = st.tuples(st.sampled_from(ALNUM[10:]), st.text(ALNUM, min_size=3, max_size=3)).map(
    "".join
)
products = st.text(ALNUM, min_size=1, max_size=18)
units = st.integers(0, 9)
lots = st.text(ALNUM + "-.", min_size=1, max_size=18).filter(lambda lot: lot[0] in ALNUM)
window = st.dates(min_value=date(TODAY.year - 49, 1, 1), max_value=date(TODAY.year + 50, 12, 31))


def test_check_character_values() -> None:
    assert hibc_check_character("+A123BJC5D6E71") == "G"
    assert hibc_check_character("+A99912345/$$52001510X3/16D20111212/S77DEFG45") == "7"
    assert len(HIBC_CHARACTERS) == 43


def test_req56_imdrf_example_is_flagged() -> None:
    """REQ-56: the IMDRF example +A999ABC123DE1/$+1234567Y fails its check character."""
    with pytest.raises(InvalidIdentifier, match="check character 'Y', expected 'Z'"):
        parse_udi("+A999ABC123DE1/$+1234567Y")
    fixed = parse_udi("+A999ABC123DE1/$+1234567Z")
    assert (fixed.di, fixed.serial, fixed.lot) == ("+A999ABC123DE1", "1234567", None)


def test_req56_link_character_must_repeat_the_primary_check() -> None:
    """REQ-56: a secondary symbol whose link character is not the primary's check is refused."""
    primary = primary_symbol("+A123BJC5D6E71")
    good = primary + secondary_symbol("+$$3261231LOT1", primary[-1])
    assert parse_udi(good).lot == "LOT1"
    other = "H" if primary[-1] != "H" else "J"
    with pytest.raises(
        InvalidIdentifier, match=f"link character '{other}', expected '{primary[-1]}'"
    ):
        parse_udi(primary + secondary_symbol("+$$3261231LOT1", other))


@pytest.mark.parametrize(
    ("flags", "raw", "expected"),
    [
        ("$$", "1226", date(2026, 12, 1)),
        ("$$2", "123126", date(2026, 12, 31)),
        ("$$3", "261231", date(2026, 12, 31)),
        ("$$4", "26123115", datetime(2026, 12, 31, 15)),
        ("$$5", "26365", date(2026, 12, 31)),
        ("$$6", "2436623", datetime(2024, 12, 31, 23)),
    ],
)
def test_expiry_date_flags(flags: str, raw: str, expected: date) -> None:
    udi = parse_udi(concatenated(f"+A123PROD1/{flags}{raw}LOT9"))
    expected_day = expected.date() if isinstance(expected, datetime) else expected
    assert (udi.expiry_date, udi.lot) == (expected_day, "LOT9")
    assert (udi.elements[3].raw, udi.elements[3].value) == (raw, expected)


def test_quantity_serial_and_supplemental_fields() -> None:
    udi = parse_udi(concatenated("+A123PROD1/$$+9000503261231SER1/16D20250102"))
    assert (udi.serial, udi.expiry_date, udi.production_date, udi.quantity) == (
        "SER1",
        date(2026, 12, 31),
        date(2025, 1, 2),
        50,
    )
    with pytest.raises(InvalidIdentifier, match="quantity given twice"):
        parse_udi(concatenated("+A123PROD1/$$9000503261231SER1/Q7/Q8"))
    assert parse_udi(concatenated("+A123PROD1/$$8057LOT")).quantity == 5


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("+$$3261231LOT1", "secondary data without a primary"),
        ("+1234PROD1", "secondary data without a primary"),
        ("+A1-3PROD1", "primary data 'A1-3PROD1' is not a labeler code"),
        ("+A123PROD1/$$3261331LOT", "does not exist"),
        ("+A123PROD1/$$5263661LOT", "day of year 366, expected 1-365"),
        ("+A123PROD1/$$4261231257LOT", "hour 25"),
        ("+A123PROD1/$$X", "unknown date format flag 'X'"),
        ("+A123PROD1/XX", "starts with no known HIBC flag"),
        ("+A123PROD1/14D20260101/14D20260102", "expiry given twice"),
    ],
)
def test_malformed_hibc_is_refused(data: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier, match=reason):
        parse_udi(concatenated(data))


def test_characters_outside_the_hibc_set_are_refused() -> None:
    with pytest.raises(InvalidIdentifier, match="not in the HIBC character set"):
        parse_udi("+a123PROD1Q")


def test_req43_hibc_label_consistency() -> None:
    """REQ-43: an HIBC label that shows a serial the UDI lacks is reported."""
    udi = parse_udi(concatenated("+A123PROD1/$$3261231LOT1"))
    assert check_label_consistency(
        udi, has_lot=True, has_serial=True, has_expiry=True, has_manufacture_date=False
    ) == ["label shows a serial number but the UDI carries none (HIBCC $+/$$+ or /S serial field)"]


@given(lic=licensees, pcn=products, uom=units, lot=lots, expiry=window, serial=st.none() | lots)
def test_concatenated_round_trip(
    lic: str, pcn: str, uom: int, lot: str, expiry: date, serial: str | None
) -> None:
    """Property: a 2D (concatenated) HIBC built from fields decodes to the same fields."""
    data = f"+{lic}{pcn}{uom}/$$3{expiry:%y%m%d}{lot}" + (f"/S{serial}" if serial else "")
    decoded = decode_hibc(concatenated(data))
    assert decoded.udi_di == f"+{lic}{pcn}{uom}"
    assert (decoded.lot, decoded.serial, decoded.expiry_date) == (lot, serial, expiry)


@given(lic=licensees, pcn=products, uom=units, lot=lots, expiry=window)
def test_linear_pair_round_trip(lic: str, pcn: str, uom: int, lot: str, expiry: date) -> None:
    """Property: a 1D primary + secondary pair, with link character, decodes to its fields."""
    primary = primary_symbol(f"+{lic}{pcn}{uom}")
    julian = f"{expiry:%y}{expiry.timetuple().tm_yday:03d}"
    decoded = decode_hibc(primary + secondary_symbol(f"+$${'5'}{julian}{lot}", primary[-1]))
    assert (decoded.labeler_identification_code, decoded.product_or_catalog_number) == (lic, pcn)
    assert (decoded.unit_of_measure, decoded.lot, decoded.expiry_date) == (uom, lot, expiry)


@given(
    lic=licensees,
    pcn=products,
    uom=units,
    lot=lots,
    position=st.integers(min_value=1),
    replacement=st.sampled_from(HIBC_CHARACTERS),
)
def test_any_single_character_change_is_caught(
    lic: str, pcn: str, uom: int, lot: str, position: int, replacement: str
) -> None:
    """Property: mod 43 catches every single-character substitution (REQ-56)."""
    valid = concatenated(f"+{lic}{pcn}{uom}/$$7{lot}")
    index = position % len(valid)
    assume(index > 0 and valid[index] != replacement)
    corrupted = valid[:index] + replacement + valid[index + 1 :]
    with pytest.raises(InvalidIdentifier):
        decode_hibc(corrupted)


@given(st.text(HIBC_CHARACTERS, max_size=30).map(lambda s: "+" + s))
def test_decoder_fails_only_with_invalid_identifier(text: str) -> None:
    with contextlib.suppress(InvalidIdentifier):
        decode_hibc(text)
