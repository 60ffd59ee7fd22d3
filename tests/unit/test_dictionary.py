"""The data dictionary: the packaged data, the loader's checks and errors, the exports."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracebridge.dictionary.export import columns, to_csv, to_markdown
from tracebridge.dictionary.loader import load_dictionary
from tracebridge.dictionary.model import Comparison, Condition, Dictionary
from tracebridge.domain.lot_status import LotStatus
from tracebridge.errors import DictionaryError, NotFound

REPO_ROOT = Path(__file__).resolve().parents[2]

BRIEFED_ENTITIES = {
    "product", "supplier", "material", "lot", "serial", "location", "party", "work_order",
    "operation", "equipment", "operator", "inspection", "nonconformance", "release",
    "shipment", "complaint", "recall",
}  # fmt: skip


@pytest.fixture(scope="module")
def d() -> Dictionary:
    return load_dictionary()


# ------------------------------------------------------------------ the packaged dictionary


def test_packaged_dictionary_loads_with_its_version(d: Dictionary) -> None:
    assert d.version == "1.1.0"
    assert d.changelog[0].version == d.version
    assert d.effective.year >= 2026


def test_packaged_load_is_cached() -> None:
    assert load_dictionary() is load_dictionary()


def test_packaged_dictionary_has_every_entity_of_the_brief(d: Dictionary) -> None:
    assert set(d.entities) >= BRIEFED_ENTITIES


def test_every_field_has_both_labels_a_description_and_a_source_of_truth(d: Dictionary) -> None:
    for entity in d.entities.values():
        assert entity.label.zh_cn.strip() and entity.label.en.strip(), entity.name
        for spec in entity.fields.values():
            where = f"{entity.name}.{spec.name}"
            assert spec.label.zh_cn.strip() and spec.label.en.strip(), where
            assert spec.label.zh_cn != spec.label.en or spec.label.en.isupper(), where
            assert spec.description.strip(), where
            assert spec.source_of_truth in {"erp", "wms", "tracebridge", "final_distributor"}, where


def test_every_code_has_both_labels(d: Dictionary) -> None:
    for code_list in d.code_lists.values():
        for code in code_list.codes:
            assert code.label.zh_cn.strip() and code.label.en.strip(), code_list.name


def test_code_lists_and_references_resolve(d: Dictionary) -> None:
    used: set[str] = set()
    for entity in d.entities.values():
        assert all(key in entity.fields for key in entity.key), entity.name
        for spec in entity.fields.values():
            if spec.code_list:
                used.add(d.code_list(spec.code_list).name)
            if spec.references:
                assert d.entity(spec.references).name == spec.references
    assert used == set(d.code_lists), "every code list is used by some field"


def test_lot_status_code_list_is_the_state_machine(d: Dictionary) -> None:
    assert d.code_list("lot_status").values == [status.value for status in LotStatus]


def test_gs1_application_identifiers_of_the_udi_parts(d: Dictionary) -> None:
    """REQ-42: DI (01) and each PI part (10 lot, 21 serial, 11 made, 17 expiry) are kept."""
    assert d.field("lot", "gtin").gs1_ai == "01"
    assert d.field("lot", "lot_number").gs1_ai == "10"
    assert d.field("serial", "serial_number").gs1_ai == "21"
    assert d.field("lot", "manufacture_date").gs1_ai == "11"
    assert d.field("lot", "expiry_date").gs1_ai == "17"
    assert d.field("shipment_line", "sscc").gs1_ai == "00"


def test_req43_expiry_required_for_sterile_devices_only(d: Dictionary) -> None:
    """REQ-43: a sterile device's lot and serial records must carry the expiry date."""
    for entity in ("lot", "serial"):
        assert "expiry_date" in d.required_fields(entity, {"product": {"sterile": True}})
        assert "expiry_date" not in d.required_fields(entity, {"product": {"sterile": False}})
        assert "expiry_date" not in d.required_fields(entity, {})


def test_req20_inspector_required_for_implantables(d: Dictionary) -> None:
    """REQ-20: inspection results of implantable devices name the inspector."""
    assert "inspector" in d.required_fields("inspection", {"product.implantable": True})
    assert "inspector" not in d.required_fields("inspection", {"product.implantable": False})


def test_req26_distribution_record_fields_are_required(d: Dictionary) -> None:
    """REQ-26 / REQ-23: consignee name and address, quantity and ship date, control numbers."""
    shipment = d.required_fields("shipment", {})
    assert {"consignee_name", "consignee_address", "ship_date"} <= set(shipment)
    line = d.required_fields("shipment_line", {"product": {"control_method": "lot"}})
    assert {"gtin", "lot_number", "quantity"} <= set(line)


def test_req38_shipment_line_needs_lot_or_serial_by_control_method(d: Dictionary) -> None:
    """REQ-38: no shipment line of a lot-controlled product without its lot number."""
    by_method = {
        method: set(d.required_fields("shipment_line", {"product.control_method": method}))
        for method in d.code_list("control_method").values
    }
    assert "lot_number" in by_method["lot"] and "serial_number" not in by_method["lot"]
    assert "serial_number" in by_method["serial"] and "lot_number" not in by_method["serial"]
    assert {"lot_number", "serial_number"} <= by_method["lot_and_serial"]


def test_req28_complaint_record_fields(d: Dictionary) -> None:
    """REQ-28: device name, date received, UDI, complainant, nature and details; actions kept."""
    required = set(d.required_fields("complaint", {}))
    assert {"device_name", "received_date", "gtin", "details"} <= required
    assert {"complainant_name", "complainant_address", "complainant_phone"} <= required
    assert {"corrective_action", "reply"} <= set(d.entity("complaint").fields)


def test_req32_recall_class_depth_warning_and_effectiveness_level(d: Dictionary) -> None:
    """REQ-32/33: recall class, depth, public warning and effectiveness level A-E."""
    required = set(d.required_fields("recall", {}))
    assert {"recall_class", "depth", "public_warning", "effectiveness_level"} <= required
    assert d.code_list("effectiveness_level").values == ["A", "B", "C", "D", "E"]
    assert d.code_list("recall_class").values == ["I", "II", "III"]
    assert d.code_list("recall_depth").values == ["consumer_user", "retail", "wholesale"]


def test_req19_release_names_the_person_and_signature_meaning(d: Dictionary) -> None:
    """REQ-19 / REQ-11: the release records who signed, when, and what the signature means."""
    required = set(d.required_fields("release", {"decision": "released"}))
    assert {"released_by", "signed_at", "signature_meaning", "quantity_released"} <= required
    concession = d.required_fields("release", {"decision": "released_under_concession"})
    assert "concession_reference" in concession


def test_required_when_reads_the_record_itself_by_bare_name(d: Dictionary) -> None:
    produced = d.required_fields("lot", {"origin": "produced"})
    received = d.required_fields("lot", {"origin": "received"})
    assert "work_order" in produced and "manufacture_date" in produced
    assert "supplier" in received and "work_order" not in received


def test_source_of_truth(d: Dictionary) -> None:
    assert d.source_of_truth("product", "gtin") == "erp"
    assert d.source_of_truth("shipment_line", "sscc") == "wms"
    assert d.source_of_truth("lot", "status") == "tracebridge"


def test_unknown_names_raise_not_found_with_suggestions(d: Dictionary) -> None:
    with pytest.raises(NotFound, match="Unknown entity 'prodcut'") as raised:
        d.entity("prodcut")
    assert raised.value.suggestions == ["product"]
    with pytest.raises(NotFound, match="did you mean 'expiry_date'"):
        d.field("lot", "expiry")
    with pytest.raises(NotFound, match="code list"):
        d.code_list("colour")


# ------------------------------------------------------------------ conditions


def test_condition_forms() -> None:
    cond = Condition.parse("a.kind in [x, 'y z'] and a.n != 3 or flag == true")
    assert cond.any_of == (
        (Comparison("a.kind", "in", ("x", "y z")), Comparison("a.n", "!=", (3,))),
        (Comparison("flag", "==", (True,)),),
    )
    assert cond.holds({"a": {"kind": "y z", "n": 4}})
    assert not cond.holds({"a": {"kind": "y z", "n": 3}})
    assert cond.holds({"flag": True})


def test_condition_on_a_missing_value_is_false() -> None:
    assert not Condition.parse("a.b != 1").holds({})
    assert not Condition.parse("a.b == 1").holds({"a": {"b": None}})


def test_condition_does_not_confuse_booleans_and_numbers() -> None:
    assert not Condition.parse("x == true").holds({"x": 1})
    assert not Condition.parse("x == 1").holds({"x": True})
    assert not Condition.parse("x == true").holds({"x": "true"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("product.sterile", "expected '==', '!=' or 'in'"),
        ("product.sterile = true", "unexpected character at column 17"),
        ("a == b c == d", "expected 'and' or 'or'"),
        ("a in [b, c", "expected ',' or ']'"),
        ("a in b", "expected '\\['"),
        ("== true", "expected a field path"),
        ("a == b.c", "expected a value"),
    ],
)
def test_condition_errors_say_what_was_expected(text: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        Condition.parse(text)


@given(st.text(max_size=40))
def test_condition_parser_only_ever_raises_value_error(text: str) -> None:
    try:
        cond = Condition.parse(text)
    except ValueError:
        return
    assert cond.comparisons
    assert cond.holds({}) is False  # nothing known: nothing required


_names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda n: n not in ("and", "or", "in", "true", "false")
)
_literals = st.one_of(st.booleans(), st.integers(-999, 999), _names)


def _show(value: bool | int | str) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@given(
    st.lists(
        st.lists(st.tuples(_names, st.sampled_from(["==", "!="]), _literals), min_size=1),
        min_size=1,
    ),
    st.dictionaries(_names, _literals),
)
def test_condition_text_round_trips_and_evaluates_like_python(
    groups: list[list[tuple[str, str, bool | int | str]]], context: dict[str, object]
) -> None:
    text = " or ".join(
        " and ".join(f"{path} {op} {_show(value)}" for path, op, value in group) for group in groups
    )
    cond = Condition.parse(text)

    def same(a: object, b: object) -> bool:
        return type(a) is type(b) and a == b

    expected = any(
        all(path in context and same(context[path], v) is (op == "==") for path, op, v in group)
        for group in groups
    )
    assert cond.holds(context) is expected


# ------------------------------------------------------------------ broken dictionaries

ROOT = """\
version: "2.0.0"
effective: 2026-06-01
changelog:
  - version: "2.0.0"
    date: 2026-06-01
    changes: [Test dictionary.]
include: [parts.yaml]
"""

PARTS = """\
code_lists:
  colour:
    label: {zh-CN: 颜色, en: colour}
    description: Colours.
    codes:
      - {code: red, label: {zh-CN: 红, en: red}}
      - {code: blue, label: {zh-CN: 蓝, en: blue}}
entities:
  widget:
    label: {zh-CN: 部件, en: widget}
    description: A widget.
    key: [code]
    fields:
      code:
        type: string
        required: true
        source_of_truth: erp
        label: {zh-CN: 编码, en: code}
        description: The code.
      colour:
        type: code
        code_list: colour
        required: true
        source_of_truth: erp
        label: {zh-CN: 颜色, en: colour}
        description: The colour.
      painted_at:
        type: date
        required_when: widget.colour == red
        source_of_truth: wms
        label: {zh-CN: 喷漆日期, en: painted at}
        description: When it was painted.
"""


def _write(folder: Path, parts: str = PARTS, root: str = ROOT) -> Path:
    (folder / "dictionary.yaml").write_text(root, encoding="utf-8")
    (folder / "parts.yaml").write_text(parts, encoding="utf-8")
    return folder


def _problems(folder: Path) -> str:
    with pytest.raises(DictionaryError) as raised:
        load_dictionary(folder)
    assert raised.value.code == "dictionary-invalid"
    return str(raised.value)


def test_a_custom_dictionary_loads_from_its_folder_or_root_file(tmp_path: Path) -> None:
    folder = _write(tmp_path)
    for path in (folder, folder / "dictionary.yaml"):
        d = load_dictionary(path)
        assert d.version == "2.0.0"
        assert d.required_fields("widget", {"colour": "red"}) == ["code", "colour", "painted_at"]


def test_unknown_code_list_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    message = _problems(_write(tmp_path, PARTS.replace("code_list: colour", "code_list: color")))
    assert f"{tmp_path}/parts.yaml:22: entities.widget.fields.colour.code_list: " in message
    assert "code list 'color' is not defined; did you mean 'colour'?" in message


def test_bad_type_reports_given_and_expected(tmp_path: Path) -> None:
    message = _problems(_write(tmp_path, PARTS.replace("type: date", "type: day")))
    assert "parts.yaml:28: entities.widget.fields.painted_at.type: Input should be" in message
    assert "(given 'day')" in message


def test_required_when_must_name_a_real_field_and_code(tmp_path: Path) -> None:
    broken = PARTS.replace("widget.colour == red", "widget.color == green")
    message = _problems(_write(tmp_path, broken))
    assert "parts.yaml:29: entities.widget.fields.painted_at.required_when: " in message
    assert "'widget' has no field 'color'" in message
    wrong_code = PARTS.replace("widget.colour == red", "widget.colour == green")
    message = _problems(_write(tmp_path, wrong_code))
    assert "'widget.colour' cannot be 'green'; expected one of red, blue" in message


def test_unparsable_required_when_is_reported_at_its_line(tmp_path: Path) -> None:
    message = _problems(_write(tmp_path, PARTS.replace("== red", "= red")))
    assert "parts.yaml:29: entities.widget.fields.painted_at.required_when: " in message


def test_field_without_required_is_refused(tmp_path: Path) -> None:
    message = _problems(_write(tmp_path, PARTS.replace("        required: true\n", "", 1)))
    assert "parts.yaml:14: entities.widget.fields.code: " in message
    assert "give exactly one of 'required: true|false' and 'required_when'" in message


def test_missing_label_language_is_reported(tmp_path: Path) -> None:
    message = _problems(_write(tmp_path, PARTS.replace("{zh-CN: 编码, en: code}", "{en: code}")))
    assert "parts.yaml:18: entities.widget.fields.code.label.zh-CN: Field required" in message


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    message = _problems(_write(tmp_path, PARTS.replace("description: A widget.", "description: [")))
    assert f"{tmp_path}/parts.yaml:" in message and "not valid YAML" in message


def test_duplicate_key_is_refused_not_silently_overwritten(tmp_path: Path) -> None:
    line = "        description: The code.\n"
    twice = PARTS.replace(line, line * 2)
    message = _problems(_write(tmp_path, twice))
    assert "parts.yaml:20: entities.widget.fields.code.description: duplicate key" in message


def test_missing_include_and_stale_changelog_are_both_reported(tmp_path: Path) -> None:
    root = ROOT.replace('version: "2.0.0"\neffective', 'version: "2.1.0"\neffective')
    root = root.replace("[parts.yaml]", "[parts.yaml, extra.yaml]")
    message = _problems(_write(tmp_path, root=root))
    assert "(2 problems)" in message
    assert "dictionary.yaml:7: include.1: included file 'extra.yaml' not found" in message
    assert "dictionary.yaml:4: changelog.0.version: newest entry is '2.0.0'" in message


def test_definition_in_two_files_is_refused(tmp_path: Path) -> None:
    root = ROOT.replace("[parts.yaml]", "[parts.yaml, again.yaml]")
    _write(tmp_path, root=root)
    (tmp_path / "again.yaml").write_text(PARTS.split("entities:")[0], encoding="utf-8")
    message = _problems(tmp_path)
    assert "again.yaml:2: code_lists.colour: defined twice; first at" in message


def test_missing_dictionary_path_says_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(DictionaryError, match="neither a file nor a folder"):
        load_dictionary(tmp_path / "nope.yaml")


# ------------------------------------------------------------------ exports


def test_csv_has_one_row_per_field_with_every_column(d: Dictionary) -> None:
    rows = list(csv.reader(io.StringIO(to_csv(d))))
    assert rows[0] == ["entity", *columns()]
    assert rows[0][2:4] == ["zh-CN label", "en label"]
    assert len(rows) - 1 == sum(len(e.fields) for e in d.entities.values())
    assert {len(row) for row in rows} == {len(rows[0])}
    by_key = {(row[0], row[1]): row for row in rows[1:]}
    status = by_key[("lot", "status")]
    assert status[2:4] == ["批次状态", "lot status"]
    assert status[6].startswith("lot_status (quarantine, released, hold")
    assert by_key[("shipment", "consignee")][4] == "reference → party"


def test_csv_in_one_language(d: Dictionary) -> None:
    header = next(csv.reader(io.StringIO(to_csv(d, langs=("en",)))))
    assert "en label" in header and "zh-CN label" not in header


def test_markdown_has_a_table_per_entity_and_the_code_lists(d: Dictionary) -> None:
    text = to_markdown(d)
    assert text.startswith("# TraceBridge data dictionary\n")
    assert f"Version **{d.version}**" in text
    for entity in d.entities.values():
        assert f"### `{entity.name}` — {entity.label.zh_cn} / {entity.label.en}" in text
    for code_list in d.code_lists.values():
        assert f"### `{code_list.name}` — " in text
    assert "| `A` | A级 (100%) | level A (100 %) |" in text
    assert "| expiry_date | 有效期至 | expiry date | date | when product.sterile == true |" in text


def test_markdown_escapes_table_separators(tmp_path: Path) -> None:
    parts = PARTS.replace("description: The code.", "description: 'Either A | B.'")
    assert "Either A \\| B." in to_markdown(load_dictionary(_write(tmp_path, parts)))


def test_markdown_of_a_custom_dictionary_uses_its_own_version(tmp_path: Path) -> None:
    text = to_markdown(load_dictionary(_write(tmp_path)))
    assert "Version **2.0.0**, effective 2026-06-01." in text
    assert "| painted_at | 喷漆日期 | painted at | date | when widget.colour == red |" in text


def test_committed_data_dictionary_page_is_current(d: Dictionary) -> None:
    page = REPO_ROOT / "docs" / "data-dictionary.md"
    assert page.read_text(encoding="utf-8") == to_markdown(d), (
        "docs/data-dictionary.md is stale: run "
        "`tracebridge dictionary export --format md --out docs/data-dictionary.md`"
    )
