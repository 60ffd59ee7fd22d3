"""Compiling a mapping's top level and its record types (everything but reading and mapping).

A record type reads the files matching ``files``; it may override the mapping's source
format, join lookup files, split one record into lines, add computed fields, route on a
code or a CEL condition, and check required fields against the data dictionary::

    record_types:
      delivery:
        files: "deliveries_*.json"
        split: {each: lines, as: line}
        computed: {each_qty: "double(r.line.qty) * 50.0"}
        route:
          by: type
          cases:
            - when: "r.type == 'OUT' && r.line.qty != '0'"
              events: [{kind: shipped, lots: [{gtin: line.gtin, lot: line.lot}]}]
            - when: {type: VOID}
              skip: voided deliveries are reversed by their own record
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tracebridge.errors import MappingError
from tracebridge.mapping.compiler import (
    BuildFn,
    MasterBuild,
    TimeFn,
    compile_condition,
    compile_event,
    compile_master,
    compile_record_id,
    compile_time,
    expect_keys,
    route_codes,
)
from tracebridge.mapping.dictionary_check import DictionaryCheck, compile_dictionary_check
from tracebridge.mapping.expressions import compile_expression
from tracebridge.mapping.joins import UNMATCHED_POLICIES, Join, Lookup
from tracebridge.mapping.sources import FORMATS, SourceFormat, normalise_encoding
from tracebridge.mapping.values import (
    CodeList,
    CompileContext,
    Fields,
    Units,
    ValueFn,
    compile_path,
)
from tracebridge.mapping.yaml_source import LineDict

SOURCE_KEYS = {"format", "encoding", "csv", "json", "xml", "xlsx"}
TYPE_KEYS = {"files", "record_id", "required", "time", "route", "events", "master", "join",
             "split", "computed", "dictionary", *SOURCE_KEYS}
CASE_KEYS = {"when", "events", "master", "dictionary", "skip"}
EventFn = tuple[Callable[[Fields], bool] | None, BuildFn]


@dataclass(frozen=True)
class Case:
    matches: Callable[[Fields], bool]
    events: list[EventFn]
    master: list[MasterBuild]
    checks: list[DictionaryCheck]
    skip: str | None  # why records of this case yield nothing


@dataclass(frozen=True)
class RecordType:
    name: str
    patterns: tuple[str, ...]
    source: SourceFormat
    record_id: ValueFn
    required: list[tuple[str, ValueFn]]
    time: TimeFn | None
    route_on: str | None
    cases: list[Case]
    # routing code -> the cases that may match it, in file order (includes catch-alls)
    by_code: dict[str, list[Case]]
    catch_all: list[Case]
    joins: tuple[Join, ...] = ()
    split: tuple[str, ValueFn, str] | None = None  # (path, getter, name of each line)
    computed: tuple[tuple[str, ValueFn], ...] = ()
    checks: tuple[DictionaryCheck, ...] = ()


def source_format(node: LineDict, default: SourceFormat | None, what: str) -> SourceFormat:
    """The ``format`` / ``encoding`` / per-format options of ``node`` over ``default``."""
    base = default or SourceFormat()
    kind = str(node.get("format", base.kind))
    if kind not in FORMATS:
        raise MappingError(f"{node.where('format')}: format '{kind}' is not supported; "
                           f"expected one of {', '.join(FORMATS)}")
    encoding = base.encoding
    if "encoding" in node:
        encoding = normalise_encoding(str(node["encoding"]), node.where("encoding"))
    options: dict[str, Any] = {}
    allowed = {"csv": {"delimiter"}, "json": {"records"}, "xml": {"records"},
               "xlsx": {"sheet", "header_row"}}
    for name, keys in allowed.items():
        if name in node:
            checked = expect_keys(node[name], keys, name, node.where(name))
            if name == kind:  # options of other formats are checked but do not apply
                options.update(checked)
    try:
        return SourceFormat(
            kind=kind, encoding=encoding,
            delimiter=str(options.get("delimiter", base.delimiter)),
            records=str(options.get("records", base.records if kind == base.kind else "")),
            sheet=None if options.get("sheet") is None else str(options["sheet"]),
            header_row=int(options.get("header_row", base.header_row)))
    except ValueError as e:
        raise MappingError(f"{node.where()}: bad {what} option: {e}") from None


def code_lists(top: LineDict) -> dict[str, CodeList]:
    lists = top.get("code_lists", LineDict())
    out = {}
    for name, spec in expect_keys(lists, set(lists), "code_lists", top.where()).items():
        node = expect_keys(spec, {"unknown", "values", "default"}, f"code list '{name}'",
                           lists.where(name))
        policy = node.get("unknown")
        if policy not in ("reject", "keep", "default"):
            raise MappingError(f"{node.where('unknown') if 'unknown' in node else node.where()}"
                               f": code list '{name}' needs an explicit unknown-code policy: "
                               f"'unknown: reject', 'unknown: keep' or 'unknown: default' "
                               f"(with 'default: CODE'), got {policy!r}")
        if (policy == "default") != ("default" in node):
            raise MappingError(f"{node.where()}: code list '{name}': give 'default: CODE' "
                               "exactly when 'unknown: default'")
        values = node.get("values")
        if not isinstance(values, dict) or not values:
            raise MappingError(f"{node.where()}: code list '{name}' needs 'values'")
        out[name] = CodeList({str(k): str(v) for k, v in values.items()}, str(policy),
                             None if "default" not in node else str(node["default"]))
    return out


def units(top: LineDict) -> Units | None:
    if "units" not in top:
        return None
    node = expect_keys(top["units"], {"target", "factors", "per_material"}, "units",
                       top.where("units"))
    try:
        factors = {str(k): float(v) for k, v in node.get("factors", {}).items()}
        per_material = {str(m): {str(u): float(f) for u, f in table.items()}
                        for m, table in node.get("per_material", {}).items()}
    except (AttributeError, TypeError, ValueError) as e:
        raise MappingError(f"{node.where()}: unit factors must be numbers ({e})") from None
    return Units(str(node.get("target", "EA")), factors, per_material)


def lookups(top: LineDict, default: SourceFormat) -> dict[str, Lookup]:
    node = top.get("lookups", LineDict())
    out = {}
    for name, spec in expect_keys(node, set(node), "lookups", top.where()).items():
        item = expect_keys(spec, {"files", "key", *SOURCE_KEYS}, f"lookup '{name}'",
                           node.where(name))
        for key in ("files", "key"):
            if key not in item:
                raise MappingError(f"{item.where()}: lookup '{name}' needs '{key}'")
        patterns = item["files"] if isinstance(item["files"], list) else [item["files"]]
        out[name] = Lookup(name, tuple(str(p) for p in patterns),
                           compile_record_id(str(item["key"])), str(item["key"]),
                           source_format(item, default, f"lookup '{name}'"))
    return out


def _joins(spec: Any, known: dict[str, Lookup], here: str) -> tuple[Join, ...]:
    if not isinstance(spec, list):
        raise MappingError(f"{here}: join must be a list of {{lookup, field, as}}")
    out = []
    for item in spec:
        node = expect_keys(item, {"lookup", "field", "as", "unmatched"}, "a join", here)
        for key in ("lookup", "field", "as"):
            if key not in node:
                raise MappingError(f"{node.where()}: a join needs '{key}'")
        if node["lookup"] not in known:
            raise MappingError(f"{node.where('lookup')}: unknown lookup '{node['lookup']}'; "
                               f"defined: {', '.join(sorted(known)) or 'none'}")
        policy = node.get("unmatched", "reject")
        if policy not in UNMATCHED_POLICIES:
            raise MappingError(f"{node.where('unmatched')}: unmatched must be reject or keep, "
                               f"got {policy!r}")
        out.append(Join(known[node["lookup"]], compile_path(str(node["field"])),
                        str(node["field"]),
                        str(node["as"]), str(policy)))
    return tuple(out)


def _computed(spec: Any, here: str) -> tuple[tuple[str, ValueFn], ...]:
    node = expect_keys(spec, set(spec) if isinstance(spec, dict) else set(), "computed", here)
    return tuple((name, compile_expression(str(text), node.where(name), name=name))
                 for name, text in node.items())


def compile_record_type(name: str, spec: Any, *, ctx: CompileContext, timezone: str,
                        default_source: SourceFormat, known_lookups: dict[str, Lookup],
                        here: str) -> RecordType:
    node = expect_keys(spec, TYPE_KEYS, f"record type '{name}'", here)
    for key in ("files", "record_id"):
        if key not in node:
            raise MappingError(f"{node.where()}: record type '{name}' needs '{key}'")
    patterns = node["files"] if isinstance(node["files"], list) else [node["files"]]
    required = node.get("required", [])
    if not isinstance(required, list):
        raise MappingError(f"{node.where('required')}: required must be a list of fields")
    time_fn = (compile_time(node["time"], timezone, node.where("time"))
               if "time" in node else None)
    split = None
    if "split" in node:
        split_node = expect_keys(node["split"], {"each", "as"}, "split", node.where("split"))
        if "each" not in split_node:
            raise MappingError(f"{split_node.where()}: split needs 'each' (the list of lines)")
        each = str(split_node["each"])
        split = (each, compile_path(each), str(split_node.get("as", "line")))
    route_on: str | None = None
    cases: list[Case] = []
    codes: list[frozenset[str] | None] = []
    if "route" in node:
        route = expect_keys(node["route"], {"by", "cases"}, "route", node.where("route"))
        route_on = str(route["by"]) if "by" in route else None
        if not isinstance(route.get("cases"), list) or not route["cases"]:
            raise MappingError(f"{route.where()}: route needs a non-empty list of cases")
        for case in route["cases"]:
            case_node = expect_keys(case, CASE_KEYS, "a case", route.where("cases"))
            if "when" not in case_node:
                raise MappingError(f"{case_node.where()}: a case needs 'when'")
            matches = compile_condition(case_node["when"], case_node.where("when"))
            cases.append(_case(case_node, ctx, time_fn, timezone, matches))
            codes.append(route_codes(case_node["when"], route_on))
    else:
        cases.append(_case(node, ctx, time_fn, timezone, lambda fields: True))
        codes.append(None)
    all_codes = sorted({c for group in codes if group for c in group})
    checks = () if "dictionary" not in node else (
        compile_dictionary_check(node["dictionary"], ctx, node.where("dictionary")),)
    return RecordType(
        name=name, patterns=tuple(str(p) for p in patterns),
        source=source_format(node, default_source, f"record type '{name}'"),
        record_id=compile_record_id(str(node["record_id"])),
        required=[(str(f), compile_path(str(f))) for f in required],
        time=time_fn, route_on=route_on, cases=cases,
        by_code={code: [case for case, group in zip(cases, codes, strict=True)
                        if group is None or code in group] for code in all_codes},
        catch_all=[case for case, group in zip(cases, codes, strict=True) if group is None],
        joins=_joins(node["join"], known_lookups, node.where("join")) if "join" in node else (),
        split=split,
        computed=_computed(node["computed"], node.where("computed"))
        if "computed" in node else (),
        checks=checks,
    )


def _case(node: LineDict, ctx: CompileContext, time_fn: TimeFn | None, timezone: str,
          matches: Callable[[Fields], bool]) -> Case:
    skip = node.get("skip") if "skip" in node and "when" in node else None
    if skip is not None and (not isinstance(skip, str) or not skip.strip()):
        raise MappingError(f"{node.where('skip')}: skip needs the reason, as text")
    events: list[EventFn] = []
    for spec in node.get("events", []) or []:
        build, own_time = compile_event(spec, ctx, timezone, node.where("events"))
        if own_time is None and time_fn is None:
            raise MappingError(f"{node.where('events')}: an event needs a time: give the "
                               "record type or the event a 'time'")
        condition = None
        if isinstance(spec, LineDict) and "when" in spec:
            condition = compile_condition(spec["when"], spec.where("when"))
        events.append((condition, build))
    master = [compile_master(m, ctx, node.where("master"))
              for m in node.get("master", []) or []]
    if skip is not None and (events or master):
        raise MappingError(f"{node.where('skip')}: a case that skips yields no events or "
                           "master records")
    if not events and not master and skip is None:
        raise MappingError(f"{node.where()}: a case must yield events or master records "
                           "(or 'skip: reason')")
    checks = [] if "dictionary" not in node or "when" not in node else [
        compile_dictionary_check(node["dictionary"], ctx, node.where("dictionary"))]
    return Case(matches, events, master, checks, None if skip is None else str(skip))

