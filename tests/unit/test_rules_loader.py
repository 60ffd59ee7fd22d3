"""Rule files: validated at load with file:line, never half-applied; CEL conditions type-checked."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracebridge.errors import RuleError
from tracebridge.rules.evaluation import ConditionFailed, select_versions
from tracebridge.rules.inputs import PROBE
from tracebridge.rules.loader import load_builtin, load_rules, parse_rules

ROOT = Path(__file__).resolve().parents[2]

HEAD = "version: 1\nrules:\n"


def rule(rule_id: str = "r", *, condition: str = 'lot.status != "released"',
         version: int = 1, effective: str = "2026-01-01", severity: str = "major",
         trigger: str = "{events: [shipped]}") -> str:
    return (
        f"  - id: {rule_id}\n"
        f"    version: {version}\n"
        f"    effective: {effective}\n"
        "    title: {zh-CN: 测试, en: Test}\n"
        f"    severity: {severity}\n"
        f"    trigger: {trigger}\n"
        f"    condition: {condition}\n"
        "    actions: [{type: alert}]\n"
    )


def test_builtin_pack_loads_and_every_rule_code_is_documented() -> None:
    doc = (ROOT / "docs" / "error-codes.md").read_text(encoding="utf-8")
    rules = load_builtin()
    assert len(rules) >= 12
    missing = [r.rule.code for r in rules if f"`{r.rule.code}`" not in doc]
    assert missing == []


def test_a_cel_syntax_error_names_file_line_column_and_shows_the_caret() -> None:
    text = HEAD + rule("ok") + rule("broken", condition="lot.status ==")
    with pytest.raises(RuleError) as error:
        parse_rules(text, origin="pack.yaml")
    message = error.value.message
    line = text.splitlines().index("    condition: lot.status ==") + 1
    assert message.startswith(f"pack.yaml:{line}:")
    assert "rule broken" in message and "^" in message


def test_a_syntax_error_in_a_block_condition_points_at_its_own_line() -> None:
    text = HEAD + rule("broken", condition="|\n      lot.present &&\n      lot.status < < 3")
    with pytest.raises(RuleError) as error:
        parse_rules(text, origin="pack.yaml")
    line = text.splitlines().index("      lot.status < < 3") + 1
    assert re.match(rf"pack\.yaml:{line}:\d+: rule broken", error.value.message)


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ("lot.status > 3", "does not type-check"),
        ("lot.staus == 'x'", "does not type-check"),  # misspelt field
        ("shipment.status == 'x'", "unknown input"),
        ("lot.days_to_expiry + 1", "expected a boolean"),
    ],
)
def test_a_type_error_is_rejected_at_load_with_the_line(condition: str, problem: str) -> None:
    text = HEAD + rule("typed", condition=condition)
    with pytest.raises(RuleError) as error:
        parse_rules(text, origin="t.yaml")
    assert error.value.message.startswith("t.yaml:9: rule typed")
    assert problem in error.value.message


def test_schema_errors_name_the_line_and_the_value_given() -> None:
    text = HEAD + rule("ok") + rule("loud", severity="deafening")
    with pytest.raises(RuleError) as error:
        parse_rules(text, origin="s.yaml")
    line = text.splitlines().index("    severity: deafening") + 1
    assert error.value.message.startswith(f"s.yaml:{line}: rules.1.severity")
    assert "'deafening'" in error.value.message


def test_unknown_event_kind_and_missing_trigger_are_rejected() -> None:
    with pytest.raises(RuleError, match="trigger"):
        parse_rules(HEAD + rule(trigger="{events: [teleported]}"), origin="k.yaml")
    with pytest.raises(RuleError, match="exactly one"):
        parse_rules(HEAD + rule(trigger="{}"), origin="k.yaml")


def test_a_bad_file_applies_nothing_even_when_other_files_are_good(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(HEAD + rule("a"), encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(HEAD + rule("b") + rule("c", condition="lot.status >"), encoding="utf-8")
    assert [r.id for r in load_rules([good])] == ["a"]
    with pytest.raises(RuleError, match=r"bad\.yaml"):
        load_rules([good, bad])


def test_the_same_rule_version_twice_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="appears twice"):
        parse_rules(HEAD + rule("a") + rule("a"), origin="d.yaml")
    one = tmp_path / "one.yaml"
    one.write_text(HEAD + rule("a"), encoding="utf-8")
    two = tmp_path / "two.yaml"
    two.write_text(HEAD + rule("a"), encoding="utf-8")
    with pytest.raises(RuleError, match="also defined"):
        load_rules([one, two])


def test_ids_must_be_kebab_case() -> None:
    with pytest.raises(RuleError, match="kebab-case"):
        parse_rules(HEAD + rule("Not_Kebab"), origin="n.yaml")


def test_yaml_syntax_error_names_the_line() -> None:
    with pytest.raises(RuleError, match=r"^y\.yaml:3: not valid YAML"):
        parse_rules("version: 1\nrules:\n  - id: [unclosed\n", origin="y.yaml")


def test_the_newest_version_in_effect_is_chosen() -> None:
    text = HEAD + rule("a", version=1) + rule("a", version=2, effective="2026-06-01")
    rules = parse_rules(text, origin="v.yaml")
    assert [r.version for r in select_versions(rules, date(2026, 3, 1))] == [1]
    assert [r.version for r in select_versions(rules, date(2026, 6, 1))] == [2]
    assert select_versions(rules, date(2025, 12, 31)) == []


def test_condition_fires_stays_quiet_and_reports_a_failure_on_real_data() -> None:
    (compiled,) = parse_rules(HEAD + rule("a", condition="lot.days_to_expiry < 10"),
                              origin="f.yaml")
    lot = dict(PROBE["lot"])
    assert compiled.fires({"lot": {**lot, "days_to_expiry": 3}}) is True
    assert compiled.fires({"lot": {**lot, "days_to_expiry": 30}}) is False
    with pytest.raises(ConditionFailed, match="rule a v1"):
        compiled.fires({"lot": {**lot, "days_to_expiry": None}})


def test_parameters_of_the_rule_override_the_files() -> None:
    text = ("version: 1\nparams: {limit: 5}\nrules:\n"
            + rule("a", condition="lot.days_to_expiry < params.limit")
            + "    params: {limit: 50}\n"
            + rule("b", condition="lot.days_to_expiry < params.limit"))
    a, b = parse_rules(text, origin="p.yaml")
    inputs = {"lot": {**PROBE["lot"], "days_to_expiry": 20}}
    assert (a.fires(inputs), b.fires(inputs)) == (True, False)


@given(st.text(max_size=60))
def test_any_condition_text_is_accepted_or_rejected_as_a_rule_error(condition: str) -> None:
    text = HEAD + rule("fuzz", condition=repr(condition).replace("\\", "\\\\"))
    try:
        parse_rules(text, origin="fuzz.yaml")
    except RuleError as error:
        assert error.message.startswith("fuzz.yaml:")
