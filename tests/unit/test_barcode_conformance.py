"""Every vector of the shared ``conformance/barcodes.json`` (REQ-55, REQ-56).

Valid vectors must decode to the fields they state; invalid ones must be refused with an
``InvalidIdentifier`` that names the same fault. Each vector is run the way its
``input_kind`` says it was captured: element strings as element strings, scans as scans.

Known differences from the vectors' sources, kept visible rather than special-cased:

* udi-gs1-017: the vector follows the GS1 century window (1999); its original source test
  said 2099. We follow GS1, as the vector does.
* udi-hibc-016/017: MMYY expiries resolve to the first day of the month, as the vectors
  (and their source) expect; it is also the conservative reading for an expiry.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tracebridge.domain.udi.gs1 import Gs1Data, decode_gs1, udi_from_gs1
from tracebridge.domain.udi.hibc import decode_hibc, udi_from_hibc
from tracebridge.domain.udi.model import UdiElement, UdiResult, json_value
from tracebridge.domain.udi.parse import detect_agency, parse_udi
from tracebridge.errors import InvalidIdentifier

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "barcodes.json"

FIELD_AIS = {
    "gtin": "01",
    "content_gtin": "02",
    "lot": "10",
    "production_date": "11",
    "best_before_date": "15",
    "expiry_date": "17",
    "serial": "21",
    "sscc": "00",
}
DATE_AIS = ("11", "15", "17")


def _load_cases() -> list[dict[str, Any]]:
    if not VECTORS.is_file():
        # Collected before any test runs: a missing file fails the whole module loudly.
        raise FileNotFoundError(f"conformance vectors not found at {VECTORS}")
    cases: list[dict[str, Any]] = json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]
    return cases


CASES = _load_cases()


def test_vector_file_is_complete() -> None:
    document = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert len(CASES) == document["count"] > 100


def _decode_gs1_case(case: dict[str, Any]) -> Gs1Data:
    return decode_gs1(
        case["input"],
        form="element_string" if case["input_kind"] == "gs1_element_string" else "scan",
        separators=case.get("separator_chars", ["\x1d"]),
        verify_dates="verify_date=False" not in case.get("parse_config_note", ""),
    )


def _field_value(element: UdiElement) -> object:
    if element.key in DATE_AIS:
        return json_value(element.value)
    return element.raw


def _check_element(actual: UdiElement, expected: dict[str, Any]) -> None:
    assert actual.key == expected["ai"]
    assert actual.raw == expected["value"]
    if "data_title" in expected:
        assert actual.name == expected["data_title"]
    for kind in ("gtin", "sscc"):
        if kind in expected:
            assert actual.value == expected[kind].zfill(14 if kind == "gtin" else 18)
    if "datetime" in expected:
        assert json_value(actual.value) == expected["datetime"]
    elif "date" in expected:
        assert json_value(actual.value) == expected["date"]


def _check_gs1(case: dict[str, Any], data: Gs1Data) -> None:
    expected = case["expected"]
    elements = data.elements
    if "hri" in expected:
        assert data.hri == expected["hri"]
    if "normalized_value" in expected:
        assert data.element_string == expected["normalized_value"]
    if "element_strings" in expected:
        assert len(elements) == len(expected["element_strings"])
        for actual, wanted in zip(elements, expected["element_strings"], strict=False):
            _check_element(actual, wanted)
    if "fields" in expected:
        by_ai = {element.key: element for element in elements}
        for name, value in expected["fields"].items():
            if name == "count":
                element = by_ai.get("30") or by_ai.get("37")
                assert element is not None and element.raw == value
            else:
                assert _field_value(by_ai[FIELD_AIS[name]]) == value
        stated = {FIELD_AIS[name] for name in expected["fields"] if name != "count"}
        assert stated >= {ai for ai in by_ai if ai in FIELD_AIS.values()}
    if "date" in expected and "element_strings" not in expected:
        assert _date_of(elements[0]) == expected["date"]
        if "datetime" in expected:
            assert json_value(elements[0].value) == expected["datetime"]
    if "gtin" in expected:
        assert data.gtin == expected["gtin"]
        if "gtin_format" in expected:
            assert data.gtin_format == expected["gtin_format"].replace("_", "-")
    if "sscc" in expected:
        assert data.sscc == expected["sscc"]
    if "symbology_identifier" in expected:
        assert data.symbology_identifier == expected["symbology_identifier"]
    if "gs1_symbology" in expected:
        assert data.symbology == expected["gs1_symbology"]
    if "gs1_digital_link_uri" in expected:
        assert data.digital_link_uri == expected["gs1_digital_link_uri"]
    # The *_error keys record interpretations the source rejected; we must not adopt them.
    if "gtin_error" in expected:
        assert data.gtin is None
    if "sscc_error" in expected:
        assert data.sscc is None
    if "gs1_message_error" in expected and case["input_kind"] != "gs1_digital_link_uri":
        assert data.element_string is None or data.digital_link_uri is not None


def _date_of(element: UdiElement) -> str | None:
    value = json_value(element.value)
    return value[:10] if isinstance(value, str) else None


def _check_udi_fields(case: dict[str, Any], udi: UdiResult) -> None:
    expected = case["expected"]
    fields = expected.get("fields", expected)
    if "gtin" in fields:
        assert udi.di == fields["gtin"].zfill(14)
    if "udi_di" in fields:
        assert udi.di == fields["udi_di"]
    for name in ("lot", "serial", "quantity"):
        if name in fields:
            assert getattr(udi, name) == fields[name]
    for name in ("expiry_date", "production_date"):
        if name in fields:
            assert json_value(getattr(udi, name)) == fields[name]


def _assert_rejection_names_the_fault(case: dict[str, Any], error: InvalidIdentifier) -> None:
    message = error.message
    stated = [*case.get("expected_errors", []), case.get("expected_error", "")]
    stated.append(case.get("expected_error_prefix", ""))
    for text in filter(None, stated):
        check_digit = re.search(r"check digit for '(\d+)': Expected (\d), got (\d)", text)
        character = re.search(
            r"(Check|Link) Character did not match: expected '(.)' but got '(.)'", text
        )
        if check_digit:
            value, wanted, got = check_digit.groups()
            assert f"'{value}': check digit {got}, expected {wanted}" in message
        elif character:
            kind, wanted, got = character.groups()
            assert f"{kind.lower()} character '{got}', expected '{wanted}'" in message
        else:
            assert text.rstrip(".") in message


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_req55_req56_conformance_vector(case: dict[str, Any]) -> None:
    """REQ-55/REQ-56: each shared vector decodes as stated, or is refused for its fault."""
    if case["scheme"] == "GS1":
        assert detect_agency(case["input"]) == "GS1"
        if not case["valid"]:
            with pytest.raises(InvalidIdentifier) as caught:
                _decode_gs1_case(case)
            _assert_rejection_names_the_fault(case, caught.value)
            return
        data = _decode_gs1_case(case)
        _check_gs1(case, data)
        if data.gtin is not None:
            _check_udi_fields(case, udi_from_gs1(data, text=case["input"]))
        return
    assert case["scheme"] == "HIBCC"
    assert detect_agency(case["input"]) == "HIBCC"
    if not case["valid"]:
        with pytest.raises(InvalidIdentifier) as caught:
            parse_udi(case["input"])
        _assert_rejection_names_the_fault(case, caught.value)
        return
    hibc = decode_hibc(case["input"])
    expected = case["expected"]
    assert hibc.labeler_identification_code == expected["labeler_identification_code"]
    assert hibc.product_or_catalog_number == expected["product_or_catalog_number"]
    assert hibc.unit_of_measure == expected["unit_of_measure"]
    assert hibc.udi_di == expected["udi_di"]
    assert hibc.expiry_raw == expected.get("expiry_raw")
    if "expiry_raw_format" in expected:
        # The vectors annotate the /14D format as "YYYYMMDD (/14D)"; the format is the first word.
        assert hibc.expiry_raw_format == expected["expiry_raw_format"].split()[0]
    for name in ("lot", "serial", "quantity", "expiry_date", "production_date"):
        assert json_value(getattr(hibc, name)) == expected.get(name)
    udi = parse_udi(case["input"])
    assert udi == udi_from_hibc(hibc)
    _check_udi_fields(case, udi)
