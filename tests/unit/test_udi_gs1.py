"""GS1 UDIs: element strings, HRI, Digital Link, separators, dates (REQ-42..46, REQ-55)."""

from __future__ import annotations

import contextlib
import json
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracebridge.domain.identifiers import gs1_check_digit
from tracebridge.domain.udi.dates import (
    date_to_yymmdd,
    full_year,
    gs1_date_to_iso,
    iso_to_gs1_date,
    yymmdd_to_date,
)
from tracebridge.domain.udi.gs1 import GS, decode_gs1, gs1_element_string
from tracebridge.domain.udi.parse import (
    check_label_consistency,
    compare_udi_forms,
    detect_agency,
    parse_udi,
)
from tracebridge.errors import InvalidIdentifier

GTIN = "09506000134352"
TODAY = date(2026, 11, 25)
# GS1 encodable characters for lot and serial, minus "(" and ")" which the HRI reserves.
LOT_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-./_"

gtins = st.text("0123456789", min_size=13, max_size=13).map(lambda p: p + str(gs1_check_digit(p)))
lots = st.text(LOT_CHARS, min_size=1, max_size=20)
window_dates = st.dates(
    min_value=date(TODAY.year - 49, 1, 1), max_value=date(TODAY.year + 50, 12, 31)
)


def test_req42_di_and_pi_kept_exactly_as_printed() -> None:
    """REQ-42: DI plus lot/serial/dates, each element's text kept exactly as printed."""
    udi = parse_udi(f"01{GTIN}11250101" + "17271200" + f"100A-1./x{GS}21007")
    assert udi.di == GTIN
    assert (udi.lot, udi.serial) == ("0A-1./x", "007")
    assert udi.production_date == date(2025, 1, 1)
    assert udi.expiry_date == date(2027, 12, 31)
    assert [(e.key, e.raw) for e in udi.elements] == [
        ("01", GTIN),
        ("11", "250101"),
        ("17", "271200"),
        ("10", "0A-1./x"),
        ("21", "007"),
    ]


def test_req43_label_expiry_without_17_fails() -> None:
    """REQ-43: a label showing an expiry whose UDI has no (17) is a finding."""
    udi = parse_udi(f"(01){GTIN}(10)A1")
    assert check_label_consistency(
        udi, has_lot=True, has_serial=False, has_expiry=True, has_manufacture_date=False
    ) == ["label shows an expiry date but the UDI carries none (GS1 AI (17))"]
    assert (
        check_label_consistency(
            parse_udi(f"(01){GTIN}(17)261231(10)A1"),
            has_lot=True,
            has_serial=False,
            has_expiry=True,
            has_manufacture_date=False,
        )
        == []
    )
    assert (
        len(
            check_label_consistency(
                parse_udi(f"(01){GTIN}"),
                has_lot=True,
                has_serial=True,
                has_expiry=True,
                has_manufacture_date=True,
            )
        )
        == 4
    )


def test_req44_plain_text_and_aidc_decode_identically() -> None:
    """REQ-44: the HRI and the GS-separated AIDC form of one label are the same UDI."""
    hri = f"(01){GTIN}(11)250101(17)261231(10)LOT-7(21)SN42"
    aidc = f"]d201{GTIN}1125010117261231" + f"10LOT-7{GS}21SN42"
    assert parse_udi(hri) == parse_udi(aidc)
    assert compare_udi_forms(hri, aidc) == []


def test_req44_mismatching_forms_are_reported() -> None:
    """REQ-44: a label whose plain text and barcode disagree is caught field by field."""
    differences = compare_udi_forms(f"(01){GTIN}(10)A1", f"01{GTIN}10A2")
    assert differences == ["lot: plain text 'A1' vs AIDC 'A2'"]


@given(gtin=gtins, lot=lots, serial=st.none() | lots, expiry=st.none() | window_dates)
def test_req44_hri_and_aidc_round_trip(
    gtin: str, lot: str, serial: str | None, expiry: date | None
) -> None:
    """REQ-44 (property): HRI → UDI → AIDC → UDI gives back the same UDI."""
    today = date.today()
    if expiry is not None and full_year(expiry.year % 100, today=today) != expiry.year:
        expiry = None  # only dates the window of the day the test runs can carry
    hri = f"(01){gtin}" + (f"(17){expiry:%y%m%d}" if expiry else "") + f"(10){lot}"
    hri += f"(21){serial}" if serial else ""
    udi = parse_udi(hri)
    assert (udi.di, udi.lot, udi.serial, udi.expiry_date) == (gtin, lot, serial, expiry)
    assert parse_udi(gs1_element_string(udi)) == udi


@given(window_dates)
def test_req45_iso_to_yymmdd_and_back_is_lossless(day: date) -> None:
    """REQ-45: every label date the GS1 window can carry survives ISO → YYMMDD → ISO."""
    iso = day.isoformat()
    assert gs1_date_to_iso(iso_to_gs1_date(iso, today=TODAY), today=TODAY) == iso


@given(st.integers(0, 99), st.integers(1, 12), st.integers(1, 31))
def test_req45_yymmdd_to_iso_and_back_is_lossless(yy: int, mm: int, dd: int) -> None:
    """REQ-45: every real YYMMDD survives YYMMDD → ISO → YYMMDD."""
    text = f"{yy:02d}{mm:02d}{dd:02d}"
    try:
        iso = gs1_date_to_iso(text, today=TODAY)
    except InvalidIdentifier:
        assert dd > 28  # only impossible days (e.g. 31 April) may be refused
        return
    assert iso_to_gs1_date(iso, today=TODAY) == text


def test_req45_rejects_dates_outside_the_window_and_bad_formats() -> None:
    with pytest.raises(InvalidIdentifier, match="outside the GS1 century window"):
        iso_to_gs1_date("1950-01-01", today=TODAY)
    with pytest.raises(InvalidIdentifier, match="expected YYYY-MM-DD"):
        iso_to_gs1_date("31.12.2026", today=TODAY)
    with pytest.raises(InvalidIdentifier, match="month 13"):
        gs1_date_to_iso("261301", today=TODAY)


def test_req55_dd00_means_last_day_of_month() -> None:
    """REQ-55: DD=00 is the last day of the month, leap years included."""
    assert yymmdd_to_date("240200", today=TODAY) == date(2024, 2, 29)
    assert yymmdd_to_date("250200", today=TODAY) == date(2025, 2, 28)
    assert parse_udi(f"01{GTIN}17261100").expiry_date == date(2026, 11, 30)


def test_req55_century_window_minus_49_plus_50() -> None:
    """REQ-55: two-digit years lie within -49/+50 years of the reading year."""
    assert full_year(76, today=TODAY) == 2076
    assert full_year(77, today=TODAY) == 1977
    assert full_year(0, today=date(2060, 1, 1)) == 2100  # 2000 would be 60 years back
    assert full_year(10, today=date(2060, 1, 1)) == 2110
    assert date_to_yymmdd(date(2076, 1, 1), today=TODAY) == "760101"
    # Through the parser, relative to the year the test runs in.
    year = date.today().year
    ahead, behind = (year + 50) % 100, (year + 51) % 100
    assert parse_udi(f"01{GTIN}17{ahead:02d}0101").expiry_date == date(year + 50, 1, 1)
    assert parse_udi(f"01{GTIN}17{behind:02d}0101").expiry_date == date(year - 49, 1, 1)


@pytest.mark.parametrize(
    "text",
    [
        f"01{GTIN}10A1{GS}17261231",  # GS terminates the variable-length lot
        f"{GS}01{GTIN}10A1{GS}17261231",  # leading GS (FNC1 in first position)
        f"01{GTIN}10A1{GS}17261231{GS}",  # trailing GS
        f"01{GTIN}10A1{GS}{GS}17261231",  # doubled GS
        f"01{GTIN}1726123110A1",  # fixed-length (17) needs no separator
        f"]C101{GTIN}1726123110A1",  # GS1-128 symbology identifier
        f"]d201{GTIN}1726123110A1",  # GS1 DataMatrix
        f"]Q301{GTIN}1726123110A1",  # GS1 QR Code
        f"https://id.gs1.org/01/{GTIN}/10/A1?17=261231",  # GS1 Digital Link URI
        f"(01){GTIN}(17)261231(10)A1",  # plain text
    ],
)
def test_req55_separators_symbologies_and_forms(text: str) -> None:
    """REQ-55: fixed vs variable AIs and GS terminators, in every position."""
    udi = parse_udi(text)
    assert (udi.di, udi.lot, udi.expiry_date) == (GTIN, "A1", date(2026, 12, 31))


def test_req55_missing_gs_runs_lot_into_next_ai() -> None:
    """REQ-55: without GS after a lot the next AI is part of the lot (the data's fault)."""
    assert parse_udi(f"01{GTIN}10A117261231").lot == "A117261231"


def test_element_string_form_refuses_what_a_scan_may_read_as_ean8() -> None:
    assert decode_gs1("11120230").gtin == "11120230"  # a valid EAN-8 when scanned
    with pytest.raises(InvalidIdentifier, match=r"AI \(11\) date"):
        decode_gs1("11120230", form="element_string")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"01{GTIN[:-1]}3", "check digit 3, expected 2"),
        ("0100848486001048", "check digit 8, expected 9"),  # REQ-56: HL7 C-CDA example
        ("0100208851107345", "check digit 5, expected 7"),  # REQ-56: AccessGUDID example
        (f"01{GTIN}10A1{GS}10A2", r"AI \(10\) appears twice"),
        (f"01{GTIN}17261331", r"AI \(17\) pattern"),
        (f"01{GTIN}17260231", r"AI \(17\) date"),
        ("00106141412345678908", r"no GTIN \(01\) device identifier"),
        ("(17)261231(10)A1", r"no GTIN \(01\)"),
        (f"(01){GTIN}(99999)X", "Unknown GS1 Application Identifier"),
    ],
)
def test_req56_invalid_gs1_udis_are_flagged(text: str, reason: str) -> None:
    """REQ-56: check-digit failures and malformed GS1 data never pass silently."""
    with pytest.raises(InvalidIdentifier, match=reason):
        parse_udi(text)


@pytest.mark.parametrize(
    ("text", "agency"),
    [
        (f"01{GTIN}", "GS1"),
        (f"(01){GTIN}", "GS1"),
        ("https://id.gs1.org/01/1", "GS1"),
        (f"]d2{GS}01{GTIN}", "GS1"),
        ("+A123BJC5D6E71G", "HIBCC"),
        ("]d1+A123", "HIBCC"),
        ("=/A9999XYZ100T0944", "ICCBBA"),
        ("&,1", "ICCBBA"),
    ],
)
def test_req46_agency_is_identified(text: str, agency: str) -> None:
    """REQ-46: the issuing agency follows from the syntax."""
    assert detect_agency(text) == agency


@pytest.mark.parametrize("text", ["", "ABC123", "*A123*", "urn:epc:id:sgtin:1.2.3", "#01", " "])
def test_req46_strings_of_no_agency_are_rejected(text: str) -> None:
    """REQ-46: a string that fits no issuing agency is refused with the expectation."""
    with pytest.raises(InvalidIdentifier, match="not a UDI of any issuing agency"):
        parse_udi(text)


def test_bare_gtin_is_a_udi_without_pi_and_sscc_alone_is_not() -> None:
    udi = parse_udi("]E05901234123457")
    assert (udi.di, udi.has_pi, udi.human_readable) == (
        "05901234123457",
        False,
        "(01)05901234123457",
    )
    assert parse_udi(f"00106141412345678908{GS}01{GTIN}3712").sscc == "106141412345678908"


def test_as_dict_is_json_ready() -> None:
    udi = parse_udi(f"(01){GTIN}(11)250101(17)261200(10)A1(30)12")
    data = json.loads(json.dumps(udi.as_dict()))
    assert data["expiry_date"] == "2026-12-31" and data["production_date"] == "2025-01-01"
    assert data["quantity"] == 12
    assert data["elements"][2] == {
        "key": "17",
        "name": "USE BY or EXPIRY",
        "raw": "261200",
        "value": "2026-12-31",
    }


@given(st.text(max_size=40))
def test_parser_fails_only_with_invalid_identifier(text: str) -> None:
    with contextlib.suppress(InvalidIdentifier):
        parse_udi(text)

