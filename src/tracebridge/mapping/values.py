"""Value expressions of the mapping language, compiled once into small functions.

An expression reads the record's fields and returns a value or ``None`` (absent):

* ``BWART`` or ``ref.order`` — a field, by name or dotted path into nested objects
  (``lot_id.0``: the first item of a list);
* ``"{WERKS}-{LGORT}"`` — a template (absent if any field in it is absent);
* ``{const: EA}`` — a constant;
* ``{field: MENGE, type: float, map: unit_codes, default: ..., negate: true}``;
* ``{date: VFDAT, format: "%d.%m.%Y"}`` — a printed date, returned as ISO ``YYYY-MM-DD``;
* ``{quantity: MENGE, unit: MEINS, material: MATNR}`` — converted into the mapping's
  target unit with its ``units`` table;
* ``{expr: "double(r.qty) * 50.0"}`` — computed in CEL (see ``expressions``).

A value the record cannot support raises :class:`Problem`; the engine turns problems into
:class:`~tracebridge.mapping.records.RecordRejected` with a stable reason.

>>> ctx = CompileContext(code_lists={}, units=None)
>>> fn = compile_value("{WERKS}-{LGORT}", ctx, "m.yaml:3")
>>> fn({"WERKS": "1000", "LGORT": "RM01"}), fn({"WERKS": "1000"})
('1000-RM01', None)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tracebridge.errors import MappingError

Fields = dict[str, Any]
ValueFn = Callable[[Fields], Any]
_TEMPLATE = re.compile(r"\{([^{}]+)\}")


class Problem(Exception):
    """A field-level reason a record cannot be mapped (becomes a FieldError)."""

    def __init__(self, reason: str, field: str, message: str, value: Any = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field
        self.message = message
        self.value = None if value is None else str(value)[:200]


@dataclass(frozen=True)
class CodeList:
    values: dict[str, str]
    unknown: str  # reject | keep | default
    default: str | None = None  # the code an unknown one becomes under ``unknown: default``


@dataclass(frozen=True)
class Units:
    target: str
    factors: dict[str, float]
    per_material: dict[str, dict[str, float]]


@dataclass(frozen=True)
class CompileContext:
    code_lists: dict[str, CodeList]
    units: Units | None


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def compile_path(path: str) -> ValueFn:
    """A getter for ``a`` or ``a.b.c``; absent and blank values come back as ``None``."""
    parts = path.split(".")
    if len(parts) == 1:
        name = parts[0]

        def get_one(fields: Fields) -> Any:
            value = fields.get(name)
            if value.__class__ is str:
                return value.strip() or None
            return value

        return get_one

    def get_nested(fields: Fields) -> Any:
        value: Any = fields
        for part in parts:
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and part.isdigit():
                value = value[int(part)] if int(part) < len(value) else None
            else:
                return None
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    return get_nested


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def compile_template(template: str) -> ValueFn:
    pieces = _TEMPLATE.split(template)
    literals = pieces[0::2]
    getters = [compile_path(name.strip()) for name in pieces[1::2]]

    def render(fields: Fields) -> str | None:
        out = [literals[0]]
        for getter, literal in zip(getters, literals[1:], strict=True):
            value = getter(fields)
            if value.__class__ is not str:
                if value is None or isinstance(value, dict | list):
                    return None
                value = _text(value)
            out.append(value)
            out.append(literal)
        return "".join(out)

    return render


_DIRECTIVES = {"%d": r"(?P<d>\d{1,2})", "%m": r"(?P<m>\d{1,2})", "%Y": r"(?P<Y>\d{4})",
               "%H": r"(?P<H>\d{1,2})", "%M": r"(?P<M>\d{2})", "%S": r"(?P<S>\d{2})"}


_WIDTHS = {"%d": 2, "%m": 2, "%Y": 4, "%H": 2, "%M": 2, "%S": 2}


def compile_datetime_format(fmt: str) -> Callable[[str], datetime]:
    """A fast parser for ``strptime`` formats made of %d %m %Y %H %M %S and literals."""
    pattern = ""
    slices: dict[str, slice] = {}
    position = 0
    rest = fmt
    while rest:
        if rest[:2] in _DIRECTIVES:
            pattern += _DIRECTIVES[rest[:2]]
            width = _WIDTHS[rest[:2]]
            slices[rest[1]] = slice(position, position + width)
            position += width
            rest = rest[2:]
        elif rest[0] == "%":
            return lambda text: datetime.strptime(text, fmt)
        else:
            pattern += re.escape(rest[0])
            position += 1
            rest = rest[1:]
    regex = re.compile(pattern + r"\Z")
    length = position
    order = [slices.get(k) for k in "YmdHMS"]
    defaults = (1900, 1, 1, 0, 0, 0)

    def parse(text: str) -> datetime:
        if len(text) == length:
            # fixed-width fast path; the regex below handles one-digit days and hours
            try:
                parts = [int(text[s]) if s is not None else d
                         for s, d in zip(order, defaults, strict=True)]
            except ValueError:
                parts = []
            if parts and regex.match(text):
                return datetime(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5])
        match = regex.match(text)
        if match is None:
            raise ValueError(f"'{text}' does not match the format '{fmt}'")
        groups = match.groupdict()
        return datetime(int(groups.get("Y", "1900")), int(groups.get("m", "1")),
                        int(groups.get("d", "1")), int(groups.get("H", "0")),
                        int(groups.get("M", "0")), int(groups.get("S", "0")))

    return parse


def _convert(type_name: str, where: str) -> Callable[[Any, str], Any]:
    def to_float(value: Any, field: str) -> float:
        if isinstance(value, bool):
            raise Problem("invalid-value", field, "expected a number, got a boolean", value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise Problem("invalid-value", field, f"expected a number, got '{value}'",
                          value) from None
        if number != number or number in (float("inf"), float("-inf")):
            raise Problem("invalid-value", field, "expected a finite number", value)
        return number

    def to_int(value: Any, field: str) -> int:
        number = to_float(value, field)
        if not number.is_integer():
            raise Problem("invalid-value", field, f"expected a whole number, got '{value}'", value)
        return int(number)

    def to_str(value: Any, field: str) -> str:
        if isinstance(value, dict | list):
            raise Problem("invalid-value", field, "expected text, got a structure", value)
        return _text(value)

    def to_bool(value: Any, field: str) -> bool:
        text = str(value).strip().lower()
        if text in ("x", "true", "1", "yes", "y"):
            return True
        if text in ("false", "0", "no", "n", "-"):
            return False
        raise Problem("invalid-value", field, f"expected a yes/no flag, got '{value}'", value)

    def to_list(value: Any, field: str) -> list[str]:
        if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
            return [str(v) for v in value]
        if isinstance(value, str):
            return [v.strip() for v in value.split("|") if v.strip()]
        raise Problem("invalid-value", field, "expected a list of text values", value)

    converters: dict[str, Callable[[Any, str], Any]] = {
        "float": to_float, "int": to_int, "str": to_str, "bool": to_bool, "list": to_list,
    }
    if type_name not in converters:
        raise MappingError(f"{where}: unknown type '{type_name}', expected one of "
                           f"{', '.join(sorted(converters))}")
    return converters[type_name]


def _field_name(spec: Any) -> str:
    return spec if isinstance(spec, str) else "<expression>"


def compile_value(spec: Any, ctx: CompileContext, where: str) -> ValueFn:
    """Compile one value expression (see the module docstring)."""
    if isinstance(spec, str):
        return compile_template(spec) if "{" in spec else compile_path(spec)
    if isinstance(spec, int | float | bool):
        return lambda fields: spec
    if not isinstance(spec, dict):
        raise MappingError(f"{where}: a value must be a field name, a template or a mapping, "
                           f"got {spec!r}")
    here = spec.where() if hasattr(spec, "where") else where
    known = {"const", "field", "type", "map", "default", "negate", "date", "format", "quantity",
             "unit", "material", "expr"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise MappingError(f"{here}: unknown key(s) {', '.join(unknown)} in a value; "
                           f"expected some of {', '.join(sorted(known))}")
    if "const" in spec:
        constant = spec["const"]
        return lambda fields: constant
    if "expr" in spec:
        return _compile_expr(spec, ctx, here)
    if "quantity" in spec:
        return _compile_quantity(spec, ctx, here)
    if "date" in spec:
        return _compile_date(spec, here)
    if "field" not in spec:
        raise MappingError(f"{here}: a value mapping needs 'field', 'const', 'date', 'quantity' "
                           "or 'expr'")
    name = str(spec["field"])
    getter = compile_value(name, ctx, here)
    convert = _convert(str(spec.get("type", "str")), here)
    code_list = None
    if "map" in spec:
        if spec["map"] not in ctx.code_lists:
            raise MappingError(f"{here}: unknown code list '{spec['map']}'; defined: "
                               f"{', '.join(sorted(ctx.code_lists)) or 'none'}")
        code_list = ctx.code_lists[spec["map"]]
    default = spec.get("default")
    negate = bool(spec.get("negate", False))

    def value(fields: Fields) -> Any:
        raw = getter(fields)
        if raw is None:
            return default
        if code_list is not None:
            key = _text(raw)
            if key in code_list.values:
                raw = code_list.values[key]
            elif code_list.unknown == "reject":
                raise Problem("unknown-code", name, f"unknown code '{key}', expected one of "
                              f"{', '.join(sorted(code_list.values))}", key)
            elif code_list.default is not None:
                raw = code_list.default
        result = convert(raw, name)
        return -result if negate else result

    return value


def _compile_expr(spec: dict[str, Any], ctx: CompileContext, where: str) -> ValueFn:
    from tracebridge.mapping.expressions import compile_expression  # it builds on this module

    extra = sorted(set(spec) - {"expr", "type", "map", "default"})
    if extra:
        raise MappingError(f"{where}: '{extra[0]}' cannot be combined with 'expr'")
    evaluate = compile_expression(str(spec["expr"]), where, name=str(spec["expr"])[:60])
    if "type" not in spec and "map" not in spec and "default" not in spec:
        return evaluate
    # the value is the expression's result, then converted like a field's
    inner: dict[str, Any] = {"field": "<expr>",
                             **{k: spec[k] for k in ("type", "map", "default") if k in spec}}
    convert = compile_value(inner, ctx, where)

    def value(fields: Fields) -> Any:
        return convert({"<expr>": evaluate(fields)})

    return value


def _compile_date(spec: dict[str, Any], where: str) -> ValueFn:
    name = str(spec["date"])
    getter = compile_path(name)
    fmt = spec.get("format", "%Y-%m-%d")
    parse = compile_datetime_format(str(fmt))

    def value(fields: Fields) -> str | None:
        raw = getter(fields)
        if raw is None:
            return None
        try:
            return parse(_text(raw)).date().isoformat()
        except ValueError as e:
            raise Problem("invalid-value", name, f"expected a date like {fmt}: {e}", raw) from None

    return value


def _compile_quantity(spec: dict[str, Any], ctx: CompileContext, where: str) -> ValueFn:
    units = ctx.units
    if units is None:
        raise MappingError(f"{where}: 'quantity' needs a top-level 'units' table")
    name = str(spec["quantity"])
    amount = compile_path(name)
    unit_name = str(spec.get("unit", ""))
    unit = compile_path(unit_name) if unit_name else (lambda fields: units.target)
    material = compile_path(str(spec["material"])) if "material" in spec else None
    sign = -1.0 if spec.get("negate") else 1.0
    to_float = _convert("float", where)

    def value(fields: Fields) -> float | None:
        raw = amount(fields)
        if raw is None:
            return None
        number: float = to_float(raw, name)
        code = unit(fields) or units.target
        code = _text(code)
        factor = None
        if material is not None:
            factor = units.per_material.get(_text(material(fields)), {}).get(code)
        if factor is None:
            factor = units.factors.get(code)
        if factor is None:
            raise Problem("unknown-code", unit_name or name,
                          f"unknown unit '{code}', expected one of "
                          f"{', '.join(sorted(units.factors))} or a per-material unit", code)
        return sign * number * float(factor)

    return value
