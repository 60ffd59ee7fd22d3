"""A malformed mapping file fails at load with file:line and what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tracebridge.errors import MappingError
from tracebridge.mapping.engine import load_mapping
from tracebridge.mapping.records import RawRecord, RecordRejected

GOOD = """\
id: tiny
version: "2"
source_system: lab
format: csv
timezone: Europe/Berlin
code_lists:
  result: {unknown: reject, values: {OK: pass, NOK: fail}}
record_types:
  sample:
    files: "samples_*.csv"
    record_id: "{ID}"
    required: [ID, GTIN, LOT, AT]
    time: {field: AT, format: "%Y-%m-%d %H:%M"}
    events:
      - kind: inspected
        lots: [{gtin: GTIN, lot: LOT}]
        inspection: {stage: {const: final}, characteristic: {const: bioburden},
                     result: {field: RES, map: result}}
      - kind: held
        lots: [{gtin: GTIN, lot: LOT}]
        details: {reason: {const: awaiting review}}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_user_mapping_loads_and_numbers_the_events_of_one_record(tmp_path: Path) -> None:
    mapping = load_mapping(_write(tmp_path, GOOD))
    data = tmp_path / "samples_1.csv"
    data.write_text("ID,GTIN,LOT,AT,RES\nS1,09506000134352,L7,2026-07-01 10:00,OK\n",
                    encoding="utf-8")
    [raw] = list(mapping.read(data))
    assert raw.origin == f"{tmp_path.name}/samples_1.csv:2"
    assert raw.payload == b"ID,GTIN,LOT,AT,RES\nS1,09506000134352,L7,2026-07-01 10:00,OK"
    events = mapping.map(raw).events
    assert [e.source.record_id for e in events] == ["S1#1", "S1#2"]
    assert events[0].event_time == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    assert events[0].event_time_zone_offset == "+02:00"  # summer time in Berlin
    assert events[0].inspection is not None and events[0].inspection.result == "pass"


def test_unknown_code_in_a_code_list_is_rejected(tmp_path: Path) -> None:
    mapping = load_mapping(_write(tmp_path, GOOD))
    fields = {"ID": "S1", "GTIN": "1", "LOT": "L", "AT": "2026-01-01 10:00", "RES": "MAYBE"}
    with pytest.raises(RecordRejected) as caught:
        mapping.map(RawRecord("lab", "sample", b"", "x:2", fields))
    assert caught.value.reason == "unknown-code"
    assert caught.value.errors[0].field == "RES" and caught.value.errors[0].value == "MAYBE"


def test_a_file_no_record_type_reads_is_refused(tmp_path: Path) -> None:
    mapping = load_mapping(_write(tmp_path, GOOD))
    with pytest.raises(MappingError, match=r"no record type .* reads 'other\.csv'.*samples_\*"):
        list(mapping.read(tmp_path / "other.csv"))


@pytest.mark.parametrize(("old", "new", "line", "message"), [
    ("kind: held", "kind: frozen", 19, "unknown event kind 'frozen'"),
    ("        lots: [{gtin: GTIN, lot: LOT}]\n        details",
     "        lotz: [{gtin: GTIN, lot: LOT}]\n        details", 20, "unknown key 'lotz'"),
    ("{unknown: reject, values", "{values", 7, "explicit unknown-code policy"),
    ("result: {field: RES, map: result}", "result: {field: RES, map: results}", 18,
     "unknown code list 'results'"),
    ("format: csv", "format: edifact", 4, "format 'edifact' is not supported"),
    ("timezone: Europe/Berlin", "timezone: Mars/Olympus", 5, "unknown time zone"),
    ('record_id: "{ID}"', 'record_id: "{ID}"\n    record_id: ID', 12, "given twice"),
    ("        lots: [{gtin: GTIN, lot: LOT}]\n        inspection",
     "        lots: [{gtin: GTIN, lot: LOT}\n        inspection", 17, "not valid YAML"),
])
def test_bad_mapping_names_file_line_and_problem(tmp_path: Path, old: str, new: str, line: int,
                                                 message: str) -> None:
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    assert f"{path}:{line}" in str(caught.value)
    assert message in str(caught.value)


def test_missing_top_level_key_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("source_system: lab\n", ""))
    with pytest.raises(MappingError, match=r"lab\.yaml:1: the mapping needs 'source_system'"):
        load_mapping(path)


def test_unknown_builtin_lists_the_builtins() -> None:
    with pytest.raises(MappingError, match=r"no mapping 'sap'.*erp, wms"):
        load_mapping("sap")


@pytest.mark.parametrize("name", ["erp", "wms"])
def test_builtins_load_by_name(name: str) -> None:
    mapping = load_mapping(name)
    assert mapping.source_system == name and mapping.version == "1"
