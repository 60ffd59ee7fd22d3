"""ISBT 128 (ICCBBA) UDIs for HCT/P devices (REQ-42, REQ-46)."""

from __future__ import annotations

import contextlib
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracebridge.domain.udi.iccbba import decode_iccbba
from tracebridge.domain.udi.parse import check_label_consistency, parse_udi
from tracebridge.errors import InvalidIdentifier

DI = "=/A9999XYZ100T0944"
FULL = f"{DI}=,000025=A99971312345600=>014032=}}013032&,1000000000000XYZ123"


def test_req42_full_udi_with_distinct_identification_code() -> None:
    """REQ-42: DI plus serial, DIN (distinct identification code), dates and lot, as printed."""
    udi = parse_udi(FULL)
    assert udi.agency == "ICCBBA"
    assert udi.di == "A9999XYZ100T0944"
    assert (udi.serial, udi.lot) == ("000025", "000000000000XYZ123")
    assert udi.distinct_identification_code == "A99971312345600"
    assert (udi.expiry_date, udi.production_date) == (date(2014, 2, 1), date(2013, 2, 1))
    assert [e.key for e in udi.elements] == ["=/", "=,", "=", "=>", "=}", "&,1"]
    assert udi.human_readable == FULL


def test_dates_with_time_and_century_digit() -> None:
    udi = parse_udi(f"{DI}&>0263651430&}}9993651200")
    assert udi.expiry_date == date(2026, 12, 31)
    assert udi.elements[1].value == datetime(2026, 12, 31, 14, 30)
    assert udi.production_date == date(1999, 12, 31)


def test_compound_message_header_is_accepted() -> None:
    assert parse_udi(f"=+02001{DI}=>026001").expiry_date == date(2026, 1, 1)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("=,000025=>026001", "no '=/' Processor Product Identification Code"),
        ("=/A9999XYZ100", "expected 16 characters"),
        (f"{DI}=>026400", "day of year 400, expected 1-365"),
        (f"{DI}&>0260012460", "time 24:60"),
        (f"{DI}=>026001=>026002", "repeats a value"),
        (f"{DI}=#123456", "unknown data identifier '=#'"),
        (f"{DI}=O9997131234560", "DONATION IDENTIFICATION NUMBER at position 19"),
    ],
)
def test_invalid_isbt128_is_refused(text: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier, match=reason):
        parse_udi(text)


def test_req43_iccbba_label_consistency() -> None:
    """REQ-43: the label shows a lot number the ISBT 128 UDI does not carry."""
    udi = parse_udi(f"{DI}=>026001")
    assert check_label_consistency(
        udi, has_lot=True, has_serial=False, has_expiry=True, has_manufacture_date=False
    ) == ["label shows a lot number but the UDI carries none (ICCBBA &,1 MPHO lot number)"]


@given(
    serial=st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=6, max_size=6),
    expiry=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
)
def test_round_trip(serial: str, expiry: date) -> None:
    julian = f"{expiry.year % 1000 // 100 % 10}{expiry:%y}{expiry.timetuple().tm_yday:03d}"
    data = decode_iccbba(f"{DI}=,{serial}=>{julian}")
    assert (data.serial, data.expiry_date) == (serial, expiry)


@given(st.text("=&/,>}+0123456789ABCXYZ", max_size=40))
def test_decoder_fails_only_with_invalid_identifier(text: str) -> None:
    with contextlib.suppress(InvalidIdentifier):
        decode_iccbba(text)
