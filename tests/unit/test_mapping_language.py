"""The mapping language's transforms: CEL computed fields and conditions, routing one
record to several events, skips, joins of header + line files, code lists with an
explicit unknown-code policy, defaults, unit conversion, and the data dictionary's
required fields — each failing at load with file:line when written wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracebridge.domain.events import EventKind
from tracebridge.errors import MappingError
from tracebridge.mapping.engine import Mapping, load_mapping
from tracebridge.mapping.records import RawRecord, RecordRejected

GTIN = "09506000134352"

BASE = """\
id: lang
version: "7"
source_system: plant
format: csv
timezone: Europe/Berlin
code_lists:
  status: {unknown: default, default: other, values: {"10": ok, "20": blocked}}
  yes_no: {unknown: reject, values: {Y: "true", N: "false"}}
units: {target: EA, factors: {EA: 1, BX: 50}}
lookups:
  headers: {files: "head*.csv", key: DOC}
record_types:
  line:
    files: "line*.csv"
    record_id: "{DOC}-{POS}"
    required: [DOC, POS, GTIN, LOT, QTY]
    join: [{lookup: headers, field: DOC, as: head, unmatched: reject}]
    computed:
      each: "double(r.QTY) * (r.UNIT == 'BX' ? 50.0 : 1.0)"
      big: "double(r.QTY) * (r.UNIT == 'BX' ? 50.0 : 1.0) >= 100.0"
    time: {field: head.AT, format: "%d.%m.%Y %H:%M"}
    dictionary:
      entity: lot
      fields: {expiry_date: {date: EXP, format: "%d.%m.%Y"}}
      context: {product.sterile: {field: STERILE, map: yes_no, type: bool}}
    route:
      cases:
        - when: "r.head.TYPE == 'VOID'"
          skip: voided documents are reversed by their own lines
        - when: {head.TYPE: [IN, RET]}
          events:
            - kind: received
              lots:
                - {gtin: GTIN, lot: LOT, quantity: {quantity: QTY, unit: UNIT}, uom: {const: EA},
                   expiry: {date: EXP, format: "%d.%m.%Y"}}
              source_party: head.PARTY
              details: {status: {field: STATUS, map: status}, big: {expr: "r.big"},
                        note: {field: NOTE, default: none given}}
            - kind: held
              when: "r.big && r.head.TYPE == 'RET'"
              lots: [{gtin: GTIN, lot: LOT}]
              details: {reason: {const: large return}}
"""

HEAD = "DOC,TYPE,AT,PARTY\nD1,IN,02.03.2026 09:30,SUP-1\nD2,RET,02.03.2026 10:00,CUS-9\n" \
       "D3,VOID,02.03.2026 11:00,SUP-1\n"
LINES_HEADER = "DOC,POS,GTIN,LOT,QTY,UNIT,EXP,STERILE,STATUS,NOTE\n"


def build(tmp_path: Path, text: str = BASE, lines: str = "", head: str = HEAD) -> tuple[
        Mapping, list[RawRecord]]:
    (tmp_path / "m.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "head_1.csv").write_text(head, encoding="utf-8")
    (tmp_path / "line_1.csv").write_text(LINES_HEADER + lines, encoding="utf-8")
    mapping = load_mapping(tmp_path / "m.yaml")
    return mapping, list(mapping.read(tmp_path / "line_1.csv"))


def test_header_joined_units_converted_code_default_and_field_default(tmp_path: Path) -> None:
    mapping, [raw] = build(tmp_path, lines=f"D1,1,{GTIN},L1,2,BX,01.01.2029,Y,99,\n")
    [event] = mapping.map(raw).events
    assert event.kind is EventKind.RECEIVED and event.source_party == "SUP-1"
    assert event.lots[0].quantity == 100.0 and event.lots[0].expiry == "2029-01-01"
    assert event.details == {"status": "other", "big": True, "note": "none given"}
    assert event.event_time.isoformat() == "2026-03-02T08:30:00+00:00"
    assert event.source.mapping_id == "lang" and event.source.mapping_version == "7"


def test_one_record_routes_to_two_event_kinds_when_a_cel_condition_holds(
        tmp_path: Path) -> None:
    mapping, raws = build(tmp_path, lines=f"D2,1,{GTIN},L1,3,BX,01.01.2029,N,10,\n"
                                          f"D2,2,{GTIN},L2,3,EA,01.01.2029,N,10,\n")
    big, small = (mapping.map(raw).events for raw in raws)
    assert [e.kind for e in big] == [EventKind.RECEIVED, EventKind.HELD]
    assert [e.source.record_id for e in big] == ["D2-1#1", "D2-1#2"]
    assert [e.kind for e in small] == [EventKind.RECEIVED]


def test_a_skipped_case_yields_nothing_and_is_not_an_error(tmp_path: Path) -> None:
    mapping, [raw] = build(tmp_path, lines=f"D3,1,{GTIN},L1,1,EA,,N,10,\n")
    mapped = mapping.map(raw)
    assert mapped.events == [] and mapped.master == []


def test_a_line_whose_header_is_missing_is_rejected_naming_the_lookup(tmp_path: Path) -> None:
    mapping, [raw] = build(tmp_path, lines=f"D9,1,{GTIN},L1,1,EA,,N,10,\n")
    with pytest.raises(RecordRejected) as caught:
        mapping.map(raw)
    assert caught.value.reason == "unmatched-join"
    assert "no 'headers' record with DOC = 'D9'" in caught.value.errors[0].message


def test_joined_payload_keeps_the_header_text_so_a_changed_header_is_a_new_version(
        tmp_path: Path) -> None:
    line = f"D1,1,{GTIN},L1,1,EA,01.01.2029,N,10,\n"
    mapping, [before] = build(tmp_path, lines=line)
    assert b"SUP-1" in before.payload and b"L1" in before.payload
    mapping, [after] = build(tmp_path, lines=line, head=HEAD.replace("SUP-1", "SUP-2"))
    assert before.payload != after.payload
    assert mapping.map(after).events[0].source_party == "SUP-2"


def test_req43_sterile_lot_without_expiry_is_rejected_by_the_data_dictionary(
        tmp_path: Path) -> None:
    """REQ-43: a sterile device's lot must carry its expiry date."""
    mapping, [sterile, plain] = build(tmp_path, lines=f"D1,1,{GTIN},L1,1,EA,,Y,10,\n"
                                                      f"D1,2,{GTIN},L2,1,EA,,N,10,\n")
    with pytest.raises(RecordRejected) as caught:
        mapping.map(sterile)
    assert caught.value.reason == "dictionary-required"
    error = caught.value.errors[0]
    assert error.field == "EXP" and "有效期至 / expiry date" in error.message
    assert "product.sterile == true" in error.message
    assert mapping.map(plain).events[0].lots[0].expiry is None


def test_a_failing_expression_names_itself(tmp_path: Path) -> None:
    mapping, [raw] = build(tmp_path, lines=f"D1,1,{GTIN},L1,lots,EA,,N,10,\n")
    with pytest.raises(RecordRejected) as caught:
        mapping.map(raw)
    assert caught.value.reason == "invalid-value" and caught.value.errors[0].field == "each"
    assert "double(r.QTY)" in caught.value.errors[0].message


@pytest.mark.parametrize(("old", "new", "line", "message"), [
    ('each: "double(r.QTY)', 'each: "double(r.QTY +', 19, "not a valid CEL expression"),
    ('big: "double', 'big: "rec.QTY + double', 20, "unknown variable 'rec'"),
    ("lookup: headers,", "lookup: header,", 17, "unknown lookup 'header'"),
    ("fields: {expiry_date:", "fields: {expiry:", 24, "Unknown field of 'lot' 'expiry'"),
    ("entity: lot", "entity: lots", 23, "Unknown entity 'lots'"),
    ("{unknown: default, default: other,", "{unknown: default,", 7, "give 'default: CODE'"),
    ("unmatched: reject", "unmatched: ignore", 17, "unmatched must be reject or keep"),
    ("skip: voided documents are reversed by their own lines", "skip: ''", 29,
     "skip needs the reason"),
    ('when: "r.big && r.head.TYPE', 'when: "r.big &&& r.head.TYPE', 40,
     "not a valid CEL expression"),
    ("join: [{lookup", "join: [{on: DOC, lookup", 17, "keys must be text, got True"),
    ("format: csv", "format: csv\njson: {path: x}", 5, "unknown key 'path' in json"),
])
def test_bad_new_features_fail_at_load_with_file_line_and_problem(
        tmp_path: Path, old: str, new: str, line: int, message: str) -> None:
    assert old in BASE
    with pytest.raises(MappingError) as caught:
        build(tmp_path, BASE.replace(old, new, 1))
    text = str(caught.value)
    assert f"m.yaml:{line}:" in text and message in text, text


@settings(max_examples=80)
@given(qty=st.text(max_size=12), unit=st.sampled_from(["EA", "BX", "KG", ""]),
       exp=st.text(max_size=12), sterile=st.sampled_from(["Y", "N", "?", ""]),
       status=st.text(max_size=4))
def test_any_field_values_only_ever_raise_record_rejected(qty: str, unit: str, exp: str,
                                                          sterile: str, status: str) -> None:
    fields = {"DOC": "D1", "POS": "1", "GTIN": GTIN, "LOT": "L", "QTY": qty, "UNIT": unit,
              "EXP": exp, "STERILE": sterile, "STATUS": status, "NOTE": "",
              "head": {"DOC": "D1", "TYPE": "RET", "AT": "02.03.2026 09:30", "PARTY": "C"}}
    try:
        _LANG.map(RawRecord("plant", "line", b"x", "line_1.csv:2", fields))
    except RecordRejected as rejected:
        assert rejected.reason in {"missing-field", "invalid-value", "unknown-code",
                                   "dictionary-required", "invalid-event"}
        assert rejected.errors


def _lang_mapping() -> Mapping:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return build(Path(folder))[0]


_LANG = _lang_mapping()


def test_a_joined_payload_parses_back_with_its_header_for_a_retry(tmp_path: Path) -> None:
    mapping, [raw] = build(tmp_path, lines=f"D1,1,{GTIN},L1,2,BX,01.01.2029,Y,99,\n")
    again = mapping.parse_payload("line", raw.payload)
    assert again.fields == raw.fields and again.record_key == "D1-1"
    assert mapping.map(again).events == mapping.map(raw).events
