"""A loaded mapping: reads one source system's files into raw records and maps each
raw record to canonical events and master-data versions.

All knowledge of a format lives in its YAML file; this module is generic. The built-in
mappings (``erp``, ``wms``) use exactly the mechanism a user's own file does.

>>> erp = load_mapping("erp")
>>> erp.source_system, erp.mapping_id
('erp', 'sap-like-erp')
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from tracebridge.domain.events import CanonicalEvent
from tracebridge.domain.master import MasterRecord
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
from tracebridge.mapping.records import FieldError, MappedRecord, RawRecord, RecordRejected
from tracebridge.mapping.values import (
    CodeList,
    CompileContext,
    Fields,
    Problem,
    Units,
    ValueFn,
    compile_path,
)
from tracebridge.mapping.yaml_source import LineDict, load_yaml_text

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
_TOP_KEYS = {"id", "version", "source_system", "description", "format", "encoding", "csv",
             "timezone", "code_lists", "units", "record_types"}
_TYPE_KEYS = {"files", "record_id", "required", "time", "route", "events", "master"}


@dataclass(frozen=True)
class _Case:
    matches: Callable[[Fields], bool]
    events: list[BuildFn]
    master: list[MasterBuild]


@dataclass(frozen=True)
class _RecordType:
    name: str
    patterns: tuple[str, ...]
    record_id: ValueFn
    required: list[tuple[str, ValueFn]]
    time: TimeFn | None
    route_on: str | None
    cases: list[_Case]
    # routing code -> the cases that may match it, in file order (includes catch-alls)
    by_code: dict[str, list[_Case]]
    catch_all: list[_Case]


class Mapping:
    """One source system's compiled mapping (see :func:`load_mapping`)."""

    def __init__(self, document: Any, source_name: str) -> None:
        top = expect_keys(document, _TOP_KEYS, "the mapping", f"{source_name}:1")
        for key in ("id", "version", "source_system", "format", "record_types"):
            if key not in top:
                raise MappingError(f"{top.where()}: the mapping needs '{key}'")
        self.mapping_id = str(top["id"])
        self.version = str(top["version"])
        self.source_system = str(top["source_system"])
        self.format = str(top["format"])
        if self.format not in ("csv", "jsonl"):
            raise MappingError(f"{top.where('format')}: format '{self.format}' is not supported; "
                               "expected csv or jsonl")
        self.encoding = str(top.get("encoding", "utf-8"))
        try:
            "".encode(self.encoding)
        except LookupError:
            raise MappingError(f"{top.where('encoding')}: unknown encoding "
                               f"'{self.encoding}'") from None
        csv_options = expect_keys(top.get("csv", LineDict()), {"delimiter"}, "csv",
                                  top.where("csv"))
        self.delimiter = str(csv_options.get("delimiter", ","))
        self.timezone = str(top.get("timezone", "UTC"))
        try:
            ZoneInfo(self.timezone)
        except (KeyError, ValueError):
            raise MappingError(f"{top.where('timezone')}: unknown time zone '{self.timezone}'; "
                               "expected an IANA name such as Asia/Shanghai") from None
        ctx = CompileContext(code_lists=self._code_lists(top), units=self._units(top))
        types = top["record_types"]
        if not isinstance(types, LineDict) or not types:
            raise MappingError(f"{top.where('record_types')}: record_types must map names to "
                               "record types")
        self._types = {name: self._record_type(name, spec, ctx, types.where(name))
                       for name, spec in types.items()}

    # ------------------------------------------------------------ compile
    @staticmethod
    def _code_lists(top: LineDict) -> dict[str, CodeList]:
        lists = top.get("code_lists", LineDict())
        out = {}
        for name, spec in expect_keys(lists, set(lists), "code_lists", top.where()).items():
            node = expect_keys(spec, {"unknown", "values"}, f"code list '{name}'",
                               lists.where(name))
            policy = node.get("unknown")
            if policy not in ("reject", "keep"):
                raise MappingError(f"{node.where('unknown') if 'unknown' in node else node.where()}"
                                   f": code list '{name}' needs an explicit unknown-code policy: "
                                   f"'unknown: reject' or 'unknown: keep', got {policy!r}")
            values = node.get("values")
            if not isinstance(values, dict) or not values:
                raise MappingError(f"{node.where()}: code list '{name}' needs 'values'")
            out[name] = CodeList({str(k): str(v) for k, v in values.items()}, str(policy))
        return out

    @staticmethod
    def _units(top: LineDict) -> Units | None:
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

    def _record_type(self, name: str, spec: Any, ctx: CompileContext, here: str) -> _RecordType:
        node = expect_keys(spec, _TYPE_KEYS, f"record type '{name}'", here)
        for key in ("files", "record_id"):
            if key not in node:
                raise MappingError(f"{node.where()}: record type '{name}' needs '{key}'")
        patterns = node["files"] if isinstance(node["files"], list) else [node["files"]]
        required = node.get("required", [])
        if not isinstance(required, list):
            raise MappingError(f"{node.where('required')}: required must be a list of fields")
        time_fn = (compile_time(node["time"], self.timezone, node.where("time"))
                   if "time" in node else None)
        route_on: str | None = None
        cases: list[_Case] = []
        codes: list[frozenset[str] | None] = []
        if "route" in node:
            route = expect_keys(node["route"], {"by", "cases"}, "route", node.where("route"))
            route_on = str(route.get("by", ""))
            if not isinstance(route.get("cases"), list) or not route["cases"]:
                raise MappingError(f"{route.where()}: route needs a non-empty list of cases")
            for case in route["cases"]:
                case_node = expect_keys(case, {"when", "events", "master"}, "a case",
                                        route.where("cases"))
                if "when" not in case_node:
                    raise MappingError(f"{case_node.where()}: a case needs 'when'")
                cases.append(self._case(case_node, ctx, time_fn,
                                        compile_condition(case_node["when"], case_node.where())))
                codes.append(route_codes(case_node["when"], route_on))
        else:
            cases.append(self._case(node, ctx, time_fn, lambda fields: True))
            codes.append(None)
        all_codes = sorted({c for group in codes if group for c in group})
        by_code = {code: [case for case, group in zip(cases, codes, strict=True)
                          if group is None or code in group] for code in all_codes}
        return _RecordType(
            name=name, patterns=tuple(str(p) for p in patterns),
            record_id=compile_record_id(str(node["record_id"])),
            required=[(str(f), compile_path(str(f))) for f in required],
            time=time_fn, route_on=route_on, cases=cases, by_code=by_code,
            catch_all=[case for case, group in zip(cases, codes, strict=True) if group is None],
        )

    def _case(self, node: LineDict, ctx: CompileContext, time_fn: TimeFn | None,
              matches: Callable[[Fields], bool]) -> _Case:
        events = []
        for spec in node.get("events", []) or []:
            build, own_time = compile_event(spec, ctx, self.timezone, node.where("events"))
            if own_time is None and time_fn is None:
                raise MappingError(f"{node.where('events')}: an event needs a time: give the "
                                   "record type or the event a 'time'")
            events.append(build)
        master = [compile_master(m, ctx, node.where("master"))
                  for m in node.get("master", []) or []]
        if not events and not master:
            raise MappingError(f"{node.where()}: a case must yield events or master records")
        return _Case(matches, events, master)

    # ------------------------------------------------------------ read
    @property
    def record_types(self) -> list[str]:
        return list(self._types)

    def record_type_for(self, path: Path) -> str:
        for name, record_type in self._types.items():
            if any(fnmatch.fnmatchcase(path.name, p) for p in record_type.patterns):
                return name
        patterns = ", ".join(p for t in self._types.values() for p in t.patterns)
        raise MappingError(f"no record type of mapping '{self.mapping_id}' reads '{path.name}' "
                           f"(file patterns: {patterns})")

    def read(self, path: Path) -> Iterator[RawRecord]:
        """Cut one file into raw records (``MappingError`` if no record type reads it)."""
        name = self.record_type_for(path)
        record_type = self._types[name]
        origin_prefix = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
        with path.open("rb") as source:
            if self.format == "jsonl":
                for number, line in enumerate(source, start=1):
                    payload = line.rstrip(b"\r\n")
                    if payload.strip():
                        fields = self._json_fields(payload)
                        yield RawRecord(self.source_system, name, payload,
                                        f"{origin_prefix}:{number}", fields,
                                        self._record_key(record_type, fields))
                return
            header = source.readline().rstrip(b"\r\n")
            if header.startswith(b"\xef\xbb\xbf"):
                header = header[3:]
            columns = self._csv_values(header) or []
            for number, line in enumerate(source, start=2):
                payload = line.rstrip(b"\r\n")
                if not payload.strip():
                    continue
                values = self._csv_values(payload)
                fields = dict(zip(columns, values, strict=True)) if (
                    values is not None and len(values) == len(columns)) else {}
                yield RawRecord(self.source_system, name, header + b"\n" + payload,
                                f"{origin_prefix}:{number}", fields,
                                self._record_key(record_type, fields))

    def _json_fields(self, payload: bytes) -> dict[str, Any]:
        try:
            value = json.loads(payload.decode(self.encoding))
        except (UnicodeDecodeError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def _csv_values(self, line: bytes) -> list[str] | None:
        try:
            text = line.decode(self.encoding)
        except UnicodeDecodeError:
            return None
        if '"' not in text:
            return text.split(self.delimiter)
        rows = list(csv.reader([text], delimiter=self.delimiter))
        return rows[0] if len(rows) == 1 else None

    @staticmethod
    def _record_key(record_type: _RecordType, fields: Fields) -> str | None:
        try:
            key = record_type.record_id(fields)
        except (TypeError, ValueError):
            return None
        return None if key is None else str(key)[:200]

    # ------------------------------------------------------------ map
    def map(self, raw: RawRecord) -> MappedRecord:
        """Map one raw record, or raise ``RecordRejected`` saying which fields and why."""
        record_type = self._types.get(raw.record_type)
        if record_type is None:
            raise RecordRejected("unknown-record-type", [FieldError(
                "record_type", f"mapping '{self.mapping_id}' has no record type "
                f"'{raw.record_type}'", raw.record_type)])
        fields = raw.fields
        if not isinstance(fields, dict) or not fields:
            raise RecordRejected("malformed-record", [FieldError(
                "<record>", f"{raw.origin}: no fields could be read from the record")])
        try:
            return self._map(record_type, raw, fields)
        except Problem as problem:
            raise RecordRejected(problem.reason, [
                FieldError(problem.field, problem.message, problem.value)]) from None
        except (TypeError, ValueError, ArithmeticError, AttributeError, KeyError) as e:
            raise RecordRejected("invalid-value", [
                FieldError("<record>", f"cannot be mapped: {e}")]) from None

    def _map(self, record_type: _RecordType, raw: RawRecord, fields: Fields) -> MappedRecord:
        missing = [FieldError(name, "required field is missing or empty")
                   for name, getter in record_type.required if getter(fields) is None]
        if missing:
            raise RecordRejected("missing-field", missing)
        record_id = record_type.record_id(fields)
        if record_id is None:
            raise Problem("missing-field", "record_id", "the record id cannot be formed")
        candidates = record_type.cases
        if record_type.route_on:
            code = fields.get(record_type.route_on) if "." not in record_type.route_on else None
            if code.__class__ is str:
                candidates = record_type.by_code.get(code.strip(), record_type.catch_all)
        case = next((c for c in candidates if c.matches(fields)), None)
        if case is None:
            on = record_type.route_on or "<record>"
            value = compile_path(on)(fields) if record_type.route_on else None
            raise Problem("unknown-code", on, f"no route for code {value!r} in record type "
                          f"'{record_type.name}'", value)
        moment: tuple[datetime, str] | None = record_type.time(fields) if record_type.time else None
        source = {"system": self.source_system, "mapping_id": self.mapping_id,
                  "mapping_version": self.version,
                  "raw_hash": hashlib.sha256(raw.payload).hexdigest()}
        result = MappedRecord()
        many = len(case.events) > 1
        for number, build in enumerate(case.events, start=1):
            event = build(fields, moment)  # type: ignore[arg-type]
            event["source"] = {**source, "record_id": f"{record_id}#{number}" if many
                               else str(record_id)}
            result.events.append(_validated(CanonicalEvent, event))
        for master in case.master:
            key = master.key(fields)
            if key is None:
                raise Problem("missing-field", "key", "the master-data key is missing")
            attributes = {k: v for k, fn in master.attributes if (v := fn(fields)) is not None}
            result.master.append(_validated(MasterRecord, {
                "entity": master.entity, "key": str(key), "attributes": attributes,
                "source": {**source, "record_id": str(record_id)}}))
        return result


def _validated(model: Any, data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise RecordRejected("invalid-event", [
            FieldError(".".join(str(p) for p in err["loc"]) or "<event>", err["msg"],
                       None if isinstance(err.get("input"), dict) else str(err.get("input"))[:200])
            for err in e.errors()
        ]) from None


def load_mapping(ref: str | Path) -> Mapping:
    """``"erp"`` / ``"wms"`` (built in, by name) or the path of a mapping YAML file."""
    path = BUILTIN_DIR / f"{ref}.yaml" if isinstance(ref, str) and "/" not in ref and \
        not ref.endswith((".yaml", ".yml")) else Path(ref)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        builtin = ", ".join(sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml")))
        raise MappingError(f"no mapping '{ref}': expected a built-in name ({builtin}) or the "
                           "path of a mapping YAML file") from None
    except OSError as e:
        raise MappingError(f"cannot read mapping '{path}': {e.strerror}") from e
    name = path.name if path.parent == BUILTIN_DIR else str(path)
    return Mapping(load_yaml_text(text, name), name)


