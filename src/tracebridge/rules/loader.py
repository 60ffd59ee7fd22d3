"""Loading rule files: YAML → validated rules → compiled CEL, all or nothing.

A file is parsed, validated against :mod:`tracebridge.rules.model`, and each condition
is compiled and then evaluated once against :data:`~tracebridge.rules.inputs.PROBE`
(every input filled in). Any problem — YAML syntax, an unknown field, a CEL syntax error,
an unknown variable or field, a type error, a condition that is not boolean — raises
:class:`~tracebridge.errors.RuleError` naming ``file:line`` (and the CEL column and caret),
and no rule of that file is returned: a rule set is never half-applied.

>>> parse_rules('''
... version: 1
... rules:
...   - id: bad
...     version: 1
...     effective: 2026-01-01
...     title: {zh-CN: 坏, en: Bad}
...     severity: info
...     trigger: {events: [shipped]}
...     condition: lot.status > 3
...     actions: [{type: alert}]
... ''', origin="bad.yaml")
Traceback (most recent call last):
...
tracebridge.errors.RuleError: bad.yaml:10: rule bad: condition 'lot.status > 3' does not ...
"""

from __future__ import annotations

import re
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tracebridge.errors import RuleError
from tracebridge.rules.evaluation import CompiledRule, compile_condition
from tracebridge.rules.inputs import PROBE, VARIABLES
from tracebridge.rules.model import RuleFile

BUILTIN = "builtin/quality.yaml"
_CEL_POSITION = re.compile(r"<input>:(\d+):(\d+)")


def builtin_path() -> str:
    return f"tracebridge/rules/{BUILTIN}"


def load_builtin() -> list[CompiledRule]:
    """The built-in rule pack, loaded through the same code as a user's file."""
    text = files("tracebridge.rules").joinpath(BUILTIN).read_text(encoding="utf-8")
    return parse_rules(text, origin=builtin_path())


def load_rules(paths: list[Path]) -> list[CompiledRule]:
    """Load several rule files; each (rule id, version) must appear once across them."""
    rules: list[CompiledRule] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise RuleError(f"{path}: cannot read rule file ({e.strerror})") from e
        rules.extend(parse_rules(text, origin=str(path)))
    seen: dict[tuple[str, int], str] = {}
    for rule in rules:
        key = (rule.id, rule.version)
        if key in seen:
            raise RuleError(
                f"{rule.origin}: rule {rule.id} v{rule.version} is also defined at "
                f"{seen[key]}; expected each (id, version) once"
            )
        seen[key] = rule.origin
    return rules


def parse_rules(text: str, *, origin: str) -> list[CompiledRule]:
    try:
        root = yaml.compose(text)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as e:
        # Where the broken construct starts (an unclosed bracket) beats where YAML noticed.
        mark = getattr(e, "context_mark", None) or getattr(e, "problem_mark", None)
        where = f"{origin}:{mark.line + 1}" if mark is not None else origin
        raise RuleError(f"{where}: not valid YAML: {e}") from e
    if not isinstance(data, dict) or root is None:
        raise RuleError(f"{origin}:1: expected a mapping with 'version' and 'rules'")
    try:
        parsed = RuleFile.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = tuple(first["loc"])
        field = ".".join(str(p) for p in loc)
        raise RuleError(
            f"{origin}:{_line(root, loc)}: {field}: {first['msg']} (given {_given(first)})"
        ) from e
    compiled: list[CompiledRule] = []
    for index, rule in enumerate(parsed.rules):
        where = f"{origin}:{_line(root, ('rules', index))}"
        condition_node = _node(root, ("rules", index, "condition"))
        try:
            program, variables = compile_condition(rule.condition)
        except ValueError as e:
            raise RuleError(
                f"{_cel_where(origin, condition_node, str(e))}: rule {rule.id}: CEL syntax "
                f"error in condition: {e}"
            ) from e
        params = {**parsed.params, **rule.params}
        candidate = CompiledRule(
            rule=rule, program=program, params=params, origin=where, variables=variables
        )
        _probe(candidate, origin=f"{origin}:{_line(root, ('rules', index, 'condition'))}")
        compiled.append(candidate)
    return compiled


def _probe(rule: CompiledRule, *, origin: str) -> None:
    unknown = sorted(set(rule.program.variables()) - set(VARIABLES) - _bound_names(rule))
    if unknown:
        raise RuleError(
            f"{origin}: rule {rule.id}: condition uses unknown input(s) {', '.join(unknown)}; "
            f"expected only {', '.join(VARIABLES)}"
        )
    probe = {**PROBE, "params": {**_param_probe(rule.params)}}
    try:
        result = rule.program.execute(probe)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise RuleError(
            f"{origin}: rule {rule.id}: condition {rule.rule.condition!r} does not type-check "
            f"against the rule inputs: {type(e).__name__}: {e}"
        ) from e
    if not isinstance(result, bool):
        raise RuleError(
            f"{origin}: rule {rule.id}: condition {rule.rule.condition!r} gives "
            f"{type(result).__name__}; expected a boolean"
        )


def _bound_names(rule: CompiledRule) -> set[str]:
    # Names bound by comprehension macros (``lots.exists(l, …)``) are listed as variables.
    return set(re.findall(r"\.(?:exists|all|exists_one|map|filter)\(\s*(\w+)\s*,",
                          rule.rule.condition))


def _param_probe(params: dict[str, Any]) -> dict[str, Any]:
    # CEL rejects datetime.date; a parameter is data, so pass dates as ISO text.
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in params.items()}


def _given(error: Any) -> str:
    value = error.get("input")
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _node(root: yaml.Node, loc: tuple[Any, ...]) -> yaml.Node:
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(part)), None)
            if match is None:
                return node
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node
            node = node.value[part]
        else:
            return node
    return node


def _line(root: yaml.Node, loc: tuple[Any, ...]) -> int:
    return int(_node(root, loc).start_mark.line) + 1


def _cel_where(origin: str, node: yaml.Node, message: str) -> str:
    match = _CEL_POSITION.search(message)
    line = int(node.start_mark.line) + 1
    if match is None:
        return f"{origin}:{line}"
    cel_line, cel_col = int(match.group(1)), int(match.group(2))
    block = isinstance(node, yaml.ScalarNode) and node.style in ("|", ">")
    if block:
        return f"{origin}:{line + cel_line}:{cel_col}"
    quoted = 1 if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"') else 0
    return f"{origin}:{line}:{int(node.start_mark.column) + quoted + cel_col}"


__all__ = ["load_builtin", "load_rules", "parse_rules"]

