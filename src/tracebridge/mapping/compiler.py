"""Compiles the record types of a mapping file into functions from fields to event dicts.

A record type selects its files by name pattern, names the fields every record must
have, says how to read the event time, and routes each record on a code field to the
events and master-data versions it yields::

    route:
      by: BWART
      cases:
        - when: {BWART: "101", AUFNR: present}
          events: [{kind: produced, lots: [...], work_order: AUFNR}]

Everything here runs once, at load; the returned closures do the per-record work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tracebridge.domain.events import EventKind, format_offset
from tracebridge.domain.master import MASTER_ENTITIES
from tracebridge.errors import MappingError
from tracebridge.mapping.expressions import compile_condition_expression
from tracebridge.mapping.values import (
    CompileContext,
    Fields,
    Problem,
    ValueFn,
    compile_datetime_format,
    compile_path,
    compile_template,
    compile_value,
)
from tracebridge.mapping.yaml_source import LineDict

TimeFn = Callable[[Fields], tuple[datetime, str]]
BuildFn = Callable[[Fields, tuple[datetime, str]], dict[str, Any]]

_SCALAR_KEYS = ("parent", "read_point", "biz_location", "source_party", "destination_party",
                "disposition", "biz_step", "operator", "equipment", "work_order", "operation",
                "error_reason")
_EVENT_KEYS = {"kind", "time", "when", "lots", "inputs", "children", "biz_transactions", "sensor",
               "inspection", "details", "corrects", *_SCALAR_KEYS}
_LOT_KEYS = {"gtin", "lot", "quantity", "uom", "serials", "expiry", "manufactured", "optional"}


def where(node: Any, key: str | None = None, fallback: str = "<mapping>") -> str:
    return node.where(key) if isinstance(node, LineDict) else fallback


def expect_keys(node: Any, allowed: set[str], what: str, fallback: str) -> LineDict:
    if not isinstance(node, LineDict):
        raise MappingError(f"{fallback}: {what} must be a mapping, got {type(node).__name__}")
    unknown = sorted(set(node) - allowed)
    if unknown:
        raise MappingError(f"{node.where(unknown[0])}: unknown key '{unknown[0]}' in {what}; "
                           f"expected some of {', '.join(sorted(allowed))}")
    return node


_OFFSETS: dict[timedelta | None, str] = {None: "+00:00"}


def _offset_text(offset: timedelta | None) -> str:
    text = _OFFSETS.get(offset)
    if text is None:
        text = _OFFSETS[offset] = format_offset(offset) if offset is not None else "+00:00"
    return text


def compile_time(spec: Any, zone_name: str, fallback: str) -> TimeFn:
    """``{date: F, time: F, format: ...}``, ``{field: F, format: ...}``, ``{epoch_ms: F}``
    or ``{epoch_s: F}``; ``format: iso`` reads ISO 8601 with or without an offset, and
    ``timezone:`` overrides the mapping's zone for local times."""
    node = expect_keys(spec, {"date", "time", "field", "format", "epoch_ms", "epoch_s",
                              "timezone"}, "time", fallback)
    here = node.where()
    zone_name = str(node.get("timezone", zone_name))
    try:
        zone = ZoneInfo(zone_name)
    except (KeyError, ValueError) as e:
        raise MappingError(f"{node.where('timezone') if 'timezone' in node else here}: "
                           f"unknown time zone '{zone_name}'; expected an IANA name such as "
                           "Asia/Shanghai") from e
    for key, scale in (("epoch_ms", 1000.0), ("epoch_s", 1.0)):
        if key in node:
            return _epoch(str(node[key]), scale, zone)
    names = [str(node[k]) for k in ("date", "time", "field") if k in node]
    if not names or ("field" in node and "date" in node):
        raise MappingError(f"{here}: time needs 'epoch_ms', 'epoch_s', 'field', or "
                           "'date' (+ 'time')")
    getters = [compile_path(n) for n in names]
    fmt = str(node.get("format", "%Y-%m-%dT%H:%M:%S"))
    parse = _parse_iso if fmt == "iso" else compile_datetime_format(fmt)

    def from_local(fields: Fields) -> tuple[datetime, str]:
        parts = []
        for name, getter in zip(names, getters, strict=True):
            value = getter(fields)
            if value is None:
                raise Problem("missing-field", name, "the event time is missing")
            parts.append(str(value))
        text = " ".join(parts)
        try:
            moment = parse(text)
        except ValueError as e:
            raise Problem("invalid-value", "+".join(names), f"not a valid time: {e}",
                          text) from None
        local = moment.replace(tzinfo=zone) if moment.tzinfo is None else moment
        return local.astimezone(UTC), _offset_text(local.utcoffset())

    return from_local


def _parse_iso(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"'{text}' is not an ISO 8601 date-time") from None


def _epoch(name: str, scale: float, zone: ZoneInfo) -> TimeFn:
    get = compile_path(name)
    unit = "milliseconds" if scale == 1000.0 else "seconds"

    def from_epoch(fields: Fields) -> tuple[datetime, str]:
        raw = get(fields)
        if raw is None:
            raise Problem("missing-field", name, "the event time is missing")
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise Problem("invalid-value", name, f"expected epoch {unit}", raw)
        try:
            moment = datetime.fromtimestamp(float(raw) / scale, tz=UTC)
        except (ValueError, OverflowError, OSError):
            raise Problem("invalid-value", name, f"expected epoch {unit}", raw) from None
        return moment, _offset_text(moment.astimezone(zone).utcoffset())

    return from_epoch


def _compile_lots(spec: Any, ctx: CompileContext, fallback: str) -> Callable[[Fields], list[Any]]:
    if isinstance(spec, LineDict) and "each" in spec:
        items = compile_path(str(spec["each"]))
        inner = LineDict()
        inner.file, inner.line = spec.file, spec.line
        inner.update({k: v for k, v in spec.items() if k != "each"})
        inner.key_lines = spec.key_lines
        one = _compile_lot(inner, ctx, fallback)

        def each(fields: Fields) -> list[Any]:
            values = items(fields)
            if values is None:
                return []
            if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
                raise Problem("invalid-value", str(spec["each"]), "expected a list of objects")
            return [lot for value in values for lot in one(value)]

        return each
    if not isinstance(spec, list):
        raise MappingError(f"{fallback}: lots must be a list of lot mappings or {{each: ...}}")
    compiled = [_compile_lot(item, ctx, fallback) for item in spec]
    return lambda fields: [lot for fn in compiled for lot in fn(fields)]


def _compile_lot(spec: Any, ctx: CompileContext, fallback: str) -> Callable[[Fields], list[Any]]:
    node = expect_keys(spec, _LOT_KEYS, "a lot", fallback)
    for key in ("gtin", "lot"):
        if key not in node:
            raise MappingError(f"{node.where()}: a lot needs '{key}'")
    optional = bool(node.get("optional", False))
    parts = [(k, compile_value(v, ctx, node.where(k))) for k, v in node.items() if k != "optional"]
    names = {k: str(node[k]) for k in ("gtin", "lot")}

    def lot(fields: Fields) -> list[Any]:
        out = {}
        for key, fn in parts:
            value = fn(fields)
            if value is not None:
                out[key] = value
        if "gtin" not in out or "lot" not in out:
            if optional:
                return []
            missing = "gtin" if "gtin" not in out else "lot"
            raise Problem("missing-field", names[missing], f"the {missing} of a lot is missing")
        return [out]

    return lot


def _optional_list(spec: Any, ctx: CompileContext, here: str, keys: set[str],
                   skip_if_none: str) -> Callable[[Fields], list[dict[str, Any]]]:
    if not isinstance(spec, list):
        raise MappingError(f"{here}: expected a list")
    compiled = []
    for item in spec:
        node = expect_keys(item, keys, "a list entry", here)
        compiled.append([(k, compile_value(v, ctx, node.where(k))) for k, v in node.items()])

    def build(fields: Fields) -> list[dict[str, Any]]:
        out = []
        for entry in compiled:
            values = {k: fn(fields) for k, fn in entry}
            if values.get(skip_if_none) is not None:
                out.append({k: v for k, v in values.items() if v is not None})
        return out

    return build


def compile_event(spec: Any, ctx: CompileContext, zone: str, fallback: str) -> tuple[
        BuildFn, TimeFn | None]:
    node = expect_keys(spec, _EVENT_KEYS, "an event", fallback)
    kind_text = node.get("kind")
    try:
        kind = EventKind(str(kind_text))
    except ValueError:
        raise MappingError(f"{node.where('kind')}: unknown event kind {kind_text!r}; expected one "
                           f"of {', '.join(k.value for k in EventKind)}") from None
    time_fn = compile_time(node["time"], zone, node.where("time")) if "time" in node else None
    scalars = [(k, compile_value(node[k], ctx, node.where(k))) for k in _SCALAR_KEYS if k in node]
    lists: list[tuple[str, Callable[[Fields], list[Any]]]] = []
    for key in ("lots", "inputs"):
        if key in node:
            lists.append((key, _compile_lots(node[key], ctx, node.where(key))))
    if "children" in node:
        lists.append(("children", _as_list(compile_value(node["children"], ctx,
                                                         node.where("children")))))
    if "biz_transactions" in node:
        lists.append(("biz_transactions", _optional_list(
            node["biz_transactions"], ctx, node.where("biz_transactions"), {"type", "id"}, "id")))
    if "sensor" in node:
        lists.append(("sensor", _optional_list(node["sensor"], ctx, node.where("sensor"),
                                               {"type", "value", "uom"}, "value")))
    if "corrects" in node:
        if not isinstance(node["corrects"], list):
            raise MappingError(f"{node.where('corrects')}: corrects must be a list")
        correct_fns = [compile_value(v, ctx, node.where("corrects")) for v in node["corrects"]]
        lists.append(("corrects", lambda f: [v for fn in correct_fns if (v := fn(f)) is not None]))
    nested = []
    for key in ("inspection", "details"):
        if key in node:
            sub = expect_keys(node[key], set(node[key]) if isinstance(node[key], dict) else set(),
                              key, node.where(key))
            nested.append((key, [(k, compile_value(v, ctx, sub.where(k))) for k, v in sub.items()]))

    def build(fields: Fields, moment: tuple[datetime, str]) -> dict[str, Any]:
        event_time, offset = time_fn(fields) if time_fn is not None else moment
        event: dict[str, Any] = {"kind": kind, "event_time": event_time,
                                 "event_time_zone_offset": offset}
        for key, fn in scalars:
            value = fn(fields)
            if value is not None:
                event[key] = value
        for key, list_fn in lists:
            values = list_fn(fields)
            if values:
                event[key] = values
        for key, parts in nested:
            mapping = {k: v for k, fn in parts if (v := fn(fields)) is not None}
            if mapping or key == "inspection":
                event[key] = mapping
        return event

    return build, time_fn


def _as_list(fn: ValueFn) -> Callable[[Fields], list[Any]]:
    def values(fields: Fields) -> list[Any]:
        value = fn(fields)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    return values


@dataclass(frozen=True)
class MasterBuild:
    entity: str
    key: ValueFn
    attributes: list[tuple[str, ValueFn]]


def compile_master(spec: Any, ctx: CompileContext, fallback: str) -> MasterBuild:
    node = expect_keys(spec, {"entity", "key", "attributes"}, "a master record", fallback)
    entity = node.get("entity")
    if entity not in MASTER_ENTITIES:
        raise MappingError(f"{node.where('entity')}: unknown master entity {entity!r}; expected "
                           f"one of {', '.join(sorted(MASTER_ENTITIES))}")
    if "key" not in node:
        raise MappingError(f"{node.where()}: a master record needs 'key'")
    attributes = node.get("attributes", LineDict())
    attrs = expect_keys(attributes, set(attributes) if isinstance(attributes, dict) else set(),
                        "attributes", node.where("attributes"))
    return MasterBuild(
        entity=str(entity), key=compile_value(node["key"], ctx, node.where("key")),
        attributes=[(k, compile_value(v, ctx, attrs.where(k))) for k, v in attrs.items()],
    )


def route_codes(spec: Any, field: str | None) -> frozenset[str] | None:
    """The codes of the routing field a case accepts (``None``: the case does not say)."""
    if field is None or not isinstance(spec, dict) or field not in spec:
        return None
    wanted = spec[field]
    if wanted in ("present", "absent"):
        return None
    return frozenset(str(w) for w in (wanted if isinstance(wanted, list) else [wanted]))


def compile_condition(spec: Any, fallback: str) -> Callable[[Fields], bool]:
    """``{FIELD: code | [codes] | present | absent, ...}`` (all must hold) or CEL text."""
    if isinstance(spec, str):
        return compile_condition_expression(spec, fallback)
    node = expect_keys(spec, set(spec) if isinstance(spec, dict) else set(), "when", fallback)
    tests: list[Callable[[Fields], bool]] = []
    for name, wanted in node.items():
        tests.append(_test(compile_path(name), wanted))
    if len(tests) == 1:
        return tests[0]

    def all_of(fields: Fields) -> bool:
        return all(test(fields) for test in tests)

    return all_of


def _test(getter: ValueFn, wanted: Any) -> Callable[[Fields], bool]:
    if wanted == "present":
        return lambda fields: getter(fields) is not None
    if wanted == "absent":
        return lambda fields: getter(fields) is None
    allowed = frozenset(str(w) for w in (wanted if isinstance(wanted, list) else [wanted]))
    return lambda fields: _code(getter(fields)) in allowed


def _code(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def compile_record_id(template: str) -> ValueFn:
    return compile_template(template) if "{" in template else compile_path(template)
