"""Source formats: CSV in UTF-8, UTF-8 with BOM and GB18030 (declared or detected), JSON,
JSON Lines, XML and XLSX — and malformed files only ever yield rejected records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook  # type: ignore[import-untyped]

from tracebridge.errors import MappingError
from tracebridge.mapping.engine import Mapping, load_mapping
from tracebridge.mapping.records import RecordRejected

GTIN = "09506000134352"


def mapping(tmp_path: Path, head: str, record_type: str) -> Mapping:
    path = tmp_path / "m.yaml"
    path.write_text(f"""\
id: formats
version: "3"
source_system: lab
timezone: Asia/Shanghai
{head}
record_types:
  receipt:
{record_type}
""", encoding="utf-8")
    return load_mapping(path)


CN_TYPE = """\
    files: "入库*"
    record_id: "{单号}"
    required: [单号, 条码, 批号, 日期]
    time: {field: 日期, format: "%Y年%m月%d日 %H:%M"}
    events:
      - kind: received
        lots: [{gtin: 条码, lot: 批号, quantity: {field: 数量, type: float}}]
"""
CN_TEXT = f"单号,条码,批号,日期,数量\r\nRK-1,{GTIN},批A-01,2026年03月02日 09:30,12\r\n"


@pytest.mark.parametrize(("declared", "encoded"), [
    ("utf-8", CN_TEXT.encode("utf-8")),
    ("utf-8", b"\xef\xbb\xbf" + CN_TEXT.encode("utf-8")),
    ("utf-8-sig", b"\xef\xbb\xbf" + CN_TEXT.encode("utf-8")),
    ("gb18030", CN_TEXT.encode("gb18030")),
    ("gbk", CN_TEXT.encode("gbk")),
    ("auto", CN_TEXT.encode("gb18030")),
    ("auto", b"\xef\xbb\xbf" + CN_TEXT.encode("utf-8")),
    ("auto", CN_TEXT.encode("utf-8")),
])
def test_chinese_csv_in_every_common_encoding_maps_the_same(tmp_path: Path, declared: str,
                                                            encoded: bytes) -> None:
    m = mapping(tmp_path, f"format: csv\nencoding: {declared}", CN_TYPE)
    sample = tmp_path / "入库单.csv"
    sample.write_bytes(encoded)
    [raw] = list(m.read(sample))
    [event] = m.map(raw).events
    assert (event.lots[0].lot, event.lots[0].quantity) == ("批A-01", 12.0)
    assert event.event_time.isoformat() == "2026-03-02T01:30:00+00:00"
    assert event.event_time_zone_offset == "+08:00"


def test_gb18030_read_as_utf8_is_rejected_with_the_encoding_named(tmp_path: Path) -> None:
    m = mapping(tmp_path, "format: csv\nencoding: utf-8", CN_TYPE)
    sample = tmp_path / "入库单.csv"
    sample.write_bytes(CN_TEXT.encode("gb18030"))
    [raw] = list(m.read(sample))
    with pytest.raises(RecordRejected, match=r"not utf-8 text.*declare the file's encoding"):
        m.map(raw)


def test_unknown_encoding_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"m\.yaml:6: unknown encoding 'big6'"):
        mapping(tmp_path, "format: csv\nencoding: big6", CN_TYPE)


NESTED_TYPE = """\
    files: "receipts*"
    record_id: "{header.no}-{line.no}"
    split: {each: lines, as: line}
    time: {field: header.at, format: iso}
    events:
      - kind: received
        lots: [{gtin: line.item.gtin, lot: line.lot, quantity: {field: line.qty, type: float}}]
        source_party: header.supplier
"""


def test_json_records_path_nested_fields_and_lines(tmp_path: Path) -> None:
    m = mapping(tmp_path, "format: json\njson: {records: result.receipts}", NESTED_TYPE)
    sample = tmp_path / "receipts.json"
    sample.write_text(json.dumps({"result": {"receipts": [{
        "header": {"no": "R1", "at": "2026-03-02T09:30:00+01:00", "supplier": "S-9"},
        "lines": [{"no": 1, "item": {"gtin": GTIN}, "lot": "A", "qty": 5},
                  {"no": 2, "item": {"gtin": GTIN}, "lot": "B", "qty": 7}]}]}}))
    [raw] = list(m.read(sample))
    events = m.map(raw).events
    assert [(e.lots[0].lot, e.source.record_id) for e in events] == [("A", "R1-1/1"),
                                                                     ("B", "R1-2/2")]
    assert events[0].event_time_zone_offset == "+01:00"  # an ISO offset beats the zone
    assert events[0].source_party == "S-9"


def test_xml_elements_attributes_namespaces_and_repeated_lines(tmp_path: Path) -> None:
    m = mapping(tmp_path, "format: xml\nxml: {records: Receipt}", NESTED_TYPE.replace(
        "header.no", "no").replace("header.at", "at").replace("header.supplier", "supplier")
        .replace("each: lines", "each: Lines.Line").replace("line.item.gtin", "line.Item.gtin"))
    sample = tmp_path / "receipts.xml"
    sample.write_text(f"""<?xml version="1.0"?>
<Receipts xmlns="urn:example:wms">
  <Receipt no="R7"><at>2026-03-02T09:30:00</at><supplier>S-1</supplier>
    <Lines>
      <Line no="1"><Item gtin="{GTIN}"/><lot>X1</lot><qty>3</qty></Line>
      <Line no="2"><Item gtin="{GTIN}"/><lot>X2</lot><qty>4</qty></Line>
    </Lines>
  </Receipt>
</Receipts>""", encoding="utf-8")
    [raw] = list(m.read(sample))
    assert raw.payload.startswith(b"<Receipt no=\"R7\">")
    events = m.map(raw).events
    assert [(e.lots[0].lot, e.lots[0].quantity) for e in events] == [("X1", 3.0), ("X2", 4.0)]
    assert events[0].event_time_zone_offset == "+08:00"  # no offset: the mapping's zone


def test_xlsx_rows_with_date_cells(tmp_path: Path) -> None:
    from datetime import datetime

    m = mapping(tmp_path, "format: xlsx\nxlsx: {sheet: 收货, header_row: 2}", """\
    files: "*.xlsx"
    record_id: 单号
    time: {field: 时间, format: "%Y-%m-%d %H:%M:%S"}
    events:
      - kind: received
        lots: [{gtin: 条码, lot: 批号, expiry: {date: 有效期}}]
""")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "收货"
    sheet.append(["导出 2026-03"])
    sheet.append(["单号", "条码", "批号", "时间", "有效期"])
    sheet.append(["R1", GTIN, "L1", datetime(2026, 3, 2, 9, 30), datetime(2029, 3, 1)])
    sheet.append([None, None, None, None, None])
    book.save(tmp_path / "in.xlsx")
    [raw] = list(m.read(tmp_path / "in.xlsx"))
    assert raw.origin.endswith("in.xlsx:3")
    [event] = m.map(raw).events
    assert event.lots[0].expiry == "2029-03-01"
    assert event.event_time.isoformat() == "2026-03-02T01:30:00+00:00"


JSONL_TYPE = """\
    files: "*"
    record_id: id
    required: [id, gtin, lot, ts]
    time: {epoch_s: ts}
    events:
      - kind: received
        lots: [{gtin: gtin, lot: lot, quantity: {field: qty, type: float}}]
"""


@pytest.mark.parametrize("kind", ["csv", "jsonl", "json", "xml", "xlsx"])
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_malformed_files_only_yield_rejected_records(tmp_path: Path, kind: str,
                                                     data: bytes) -> None:
    m = mapping(tmp_path, f"format: {kind}\nencoding: auto", JSONL_TYPE)
    sample = tmp_path / f"data.{kind}"
    sample.write_bytes(data)
    for raw in m.read(sample):
        try:
            m.map(raw)
        except RecordRejected as rejected:
            assert rejected.reason and rejected.errors and str(rejected)


@settings(max_examples=60)
@given(record=st.dictionaries(st.sampled_from(["id", "gtin", "lot", "ts", "qty", "x"]),
                              st.one_of(st.none(), st.booleans(), st.integers(),
                                        st.floats(allow_nan=True), st.text(max_size=30),
                                        st.lists(st.integers(), max_size=3),
                                        st.dictionaries(st.text(max_size=3), st.integers(),
                                                        max_size=2))))
def test_wrong_types_in_json_records_only_raise_record_rejected(record: dict[str, object]
                                                                 ) -> None:
    from tracebridge.mapping.records import RawRecord

    m = _JSONL_MAPPING
    raw = RawRecord("lab", "receipt", json.dumps(record).encode(), "x:1", record)
    try:
        m.map(raw)
    except RecordRejected as rejected:
        assert rejected.errors


def _jsonl_mapping() -> Mapping:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return mapping(Path(folder), "format: jsonl", JSONL_TYPE)


_JSONL_MAPPING = _jsonl_mapping()


def test_a_kept_payload_of_every_format_parses_back_to_the_same_fields(tmp_path: Path) -> None:
    from datetime import datetime

    for kind, name, data in [
        ("csv", "in.csv", "单号,条码,批号\nR1,G,L1\n".encode("gb18030")),
        ("jsonl", "in.jsonl", b'{"a": {"b": 1}}\n'),
        ("json", "in.json", b'{"data": [{"a": 1}, {"a": 2}]}'),
        ("xml", "in.xml", b'<r xmlns="urn:x"><L no="1"><lot>A</lot></L></r>'),
        ("xlsx", "in.xlsx", None),
    ]:
        m = mapping(tmp_path, f"format: {kind}\nencoding: auto\njson: {{records: data}}\n"
                              "xml: {records: L}", JSONL_TYPE)
        if data is None:
            book = Workbook()
            sheet = book.active
            assert sheet is not None
            sheet.append(["a", "t"])
            sheet.append([1, datetime(2026, 3, 2, 9, 30)])
            book.save(tmp_path / name)
        else:
            (tmp_path / name).write_bytes(data)
        for raw in m.read(tmp_path / name):
            again = m.parse_payload(raw.record_type, raw.payload)
            assert (again.fields, again.problem) == (raw.fields, None), kind


# ---------------------------------------------------------------- CSV records over several lines


def _csv_records_of(text: bytes, delimiter: str = ",") -> list[tuple[int, dict[str, object],
                                                                   str | None]]:
    import io

    from tracebridge.mapping.sources import csv_chunks

    return [(number, fields, problem)
            for _, number, fields, problem in csv_chunks(io.BytesIO(text), "utf-8", delimiter)]


def test_a_quoted_field_may_hold_line_breaks_and_the_next_record_keeps_its_line() -> None:
    text = (b'id,note,qty\r\n'
            b'NC-1,"Burr on the luer lock\r\nfound at final inspection, ""rework"" ordered",5\r\n'
            b'NC-2,plain,7\r\n')
    assert _csv_records_of(text) == [
        (2, {"id": "NC-1", "note": 'Burr on the luer lock\r\nfound at final inspection, '
                                   '"rework" ordered', "qty": "5"}, None),
        (4, {"id": "NC-2", "note": "plain", "qty": "7"}, None),
    ]


def test_a_stray_quote_spoils_only_its_own_line() -> None:
    from tracebridge.mapping.sources import MAX_RECORD_LINES

    lines = ['id,note', 'A1,"never closed'] + [f"A{n},fine" for n in range(2, MAX_RECORD_LINES + 5)]
    found = _csv_records_of(("\n".join(lines) + "\n").encode())
    assert found[0][0] == 2 and found[0][1] == {} and "unbalanced quotes" in str(found[0][2])
    assert [(n, f) for n, f, _ in found[1:]] == [
        (n + 1, {"id": f"A{n}", "note": "fine"}) for n in range(2, MAX_RECORD_LINES + 5)]


def test_a_quote_inside_an_unquoted_field_is_a_character_as_csv_reads_it() -> None:
    text = b'id,size,qty\nP1,5" screen,2\nP2,7,3\n'
    assert [f for _, f, _ in _csv_records_of(text)] == [
        {"id": "P1", "size": '5" screen', "qty": "2"}, {"id": "P2", "size": "7", "qty": "3"}]


def test_a_multi_line_record_kept_as_a_dead_letter_parses_back_the_same(tmp_path: Path) -> None:
    m = mapping(tmp_path, "format: csv", JSONL_TYPE)
    (tmp_path / "in.csv").write_bytes(b'id,note\nR1,"two\nlines"\nR2,x\n')
    raws = list(m.read(tmp_path / "in.csv"))
    assert [r.origin.rsplit("/", 1)[-1] for r in raws] == ["in.csv:2", "in.csv:4"]
    again = m.parse_payload(raws[0].record_type, raws[0].payload)
    assert (again.fields, again.problem) == ({"id": "R1", "note": "two\nlines"}, None)


_CELL = st.text(alphabet=st.sampled_from(list('ab ,;"\r\n\t批号')), max_size=12)


@settings(max_examples=200)
@given(rows=st.lists(st.lists(_CELL, min_size=3, max_size=3), min_size=1, max_size=8),
       delimiter=st.sampled_from([",", ";", "\t"]))
def test_csv_written_by_the_csv_module_reads_back_record_by_record(
        rows: list[list[str]], delimiter: str) -> None:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["c1", "c2", "c3"])
    writer.writerows(rows)
    found = _csv_records_of(out.getvalue().encode(), delimiter)
    assert [problem for _, _, problem in found] == [None] * len(rows)
    assert [fields for _, fields, _ in found] == [
        dict(zip(["c1", "c2", "c3"], row, strict=True)) for row in rows]
