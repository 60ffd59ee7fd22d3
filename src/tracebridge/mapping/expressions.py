"""Computed fields and conditions in CEL, the Common Expression Language.

A mapping's expressions see the record as ``r``: ``r.MENGE``, ``r.ref.order``, and
``r['物料编码']`` for names that are not CEL identifiers. CEL is small, side-effect free
and always terminates, so a mapping file cannot run arbitrary code; the rules of the
rules engine are written in the same language.

>>> total = compile_expression("double(r.qty) * 50.0", "m.yaml:7")
>>> total({"qty": "3"})
150.0
>>> total({}) is None  # a field the record lacks makes the result absent
True
>>> compile_condition_expression("r.type == 'RCV'", "m.yaml:9")({"type": "RCV"})
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cel

from tracebridge.errors import MappingError
from tracebridge.mapping.values import Fields, Problem, is_empty

RECORD_VARIABLE = "r"


def _program(source: str, where: str) -> Any:
    if not isinstance(source, str) or not source.strip():
        raise MappingError(f"{where}: an expression must be non-empty CEL text, got {source!r}")
    try:
        program = cel.compile(source)
    except (ValueError, TypeError, RuntimeError) as e:
        raise MappingError(f"{where}: not a valid CEL expression: {e}") from None
    unknown = sorted(set(program.references()["variables"]) - {RECORD_VARIABLE})
    if unknown:
        raise MappingError(f"{where}: expression {source!r} uses unknown variable "
                           f"'{unknown[0]}'; the record is 'r' (e.g. r.{unknown[0]})")
    return program


def _clean(fields: Fields) -> Fields:
    # Blank CSV cells mean "absent" everywhere in a mapping; CEL's has() should agree.
    return {k: v for k, v in fields.items() if not is_empty(v)}


def compile_expression(source: str, where: str, *, name: str = "<expression>"
                       ) -> Callable[[Fields], Any]:
    """A value from CEL: ``None`` when the record lacks a field the expression reads."""
    program = _program(source, where)

    def evaluate(fields: Fields) -> Any:
        try:
            value = program.execute({RECORD_VARIABLE: _clean(fields)})
        except KeyError:
            return None
        except (ValueError, TypeError, RuntimeError, ArithmeticError) as e:
            raise Problem("invalid-value", name, f"expression {source!r} failed: {e}") from None
        return None if is_empty(value) else value

    return evaluate


def compile_condition_expression(source: str, where: str) -> Callable[[Fields], bool]:
    """A condition from CEL: false when a field it reads is absent; non-bool is a problem."""
    evaluate = compile_expression(source, where, name="<condition>")

    def holds(fields: Fields) -> bool:
        value = evaluate(fields)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise Problem("invalid-value", "<condition>", f"condition {source!r} gave "
                          f"{value!r}, expected true or false")
        return value

    return holds
