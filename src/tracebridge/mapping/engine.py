"""A loaded mapping: reads one source system's files into raw records and maps each
raw record to canonical events and master-data versions.

All knowledge of a format lives in its YAML file; this module is generic. The built-in
mappings (``erp``, ``wms``) use exactly the mechanism a user's own file does, and so do
the examples shipped in ``mapping/examples`` (``load_mapping("examples/odoo")``).

>>> erp = load_mapping("erp")
>>> erp.source_system, erp.mapping_id
('erp', 'sap-like-erp')
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from tracebridge.domain.events import CanonicalEvent
from tracebridge.domain.master import MasterRecord
from tracebridge.errors import MappingError
from tracebridge.mapping import record_types as compile
from tracebridge.mapping.compiler import expect_keys
from tracebridge.mapping.joins import LookupCache, attach, unmatched
from tracebridge.mapping.record_types import Case, RecordType
from tracebridge.mapping.records import FieldError, MappedRecord, RawRecord, RecordRejected
from tracebridge.mapping.sources import (
    DETECT_BYTES,
    csv_chunks,
    detect_encoding,
    parse_payload,
    read_source,
    resolve_encoding,
)
from tracebridge.mapping.values import CompileContext, Fields, Problem, compile_path
from tracebridge.mapping.yaml_source import LineDict, load_yaml_text

MAPPING_DIR = Path(__file__).resolve().parent
BUILTIN_DIR = MAPPING_DIR / "builtin"
_TOP_KEYS = {"id", "version", "source_system", "description", "timezone", "code_lists",
             "units", "lookups", "record_types", *compile.SOURCE_KEYS}


class Mapping:
    """One source system's compiled mapping (see :func:`load_mapping`)."""

    def __init__(self, document: Any, source_name: str) -> None:
        top = expect_keys(document, _TOP_KEYS, "the mapping", f"{source_name}:1")
        for key in ("id", "version", "source_system", "format", "record_types"):
            if key not in top:
                raise MappingError(f"{top.where()}: the mapping needs '{key}'")
        self.document: LineDict = top
        self.source_name = source_name
        self.mapping_id = str(top["id"])
        self.version = str(top["version"])
        self.source_system = str(top["source_system"])
        self.description = str(top.get("description", ""))
        self.source = compile.source_format(top, None, "the mapping")
        self.format = self.source.kind
        self.timezone = str(top.get("timezone", "UTC"))
        try:
            ZoneInfo(self.timezone)
        except (KeyError, ValueError):
            raise MappingError(f"{top.where('timezone')}: unknown time zone '{self.timezone}'; "
                               "expected an IANA name such as Asia/Shanghai") from None
        ctx = CompileContext(code_lists=compile.code_lists(top), units=compile.units(top))
        self._lookups = compile.lookups(top, self.source)
        self._lookup_cache = LookupCache()
        types = top["record_types"]
        if not isinstance(types, LineDict) or not types:
            raise MappingError(f"{top.where('record_types')}: record_types must map names to "
                               "record types")
        self._types = {name: compile.compile_record_type(
            name, spec, ctx=ctx, timezone=self.timezone, default_source=self.source,
            known_lookups=self._lookups, here=types.where(name)) for name, spec in types.items()}

    # ------------------------------------------------------------ read
    @property
    def record_types(self) -> list[str]:
        return list(self._types)

    def format_of(self, record_type: str) -> str:
        """The format ``record_type`` reads (the mapping's own unless the type overrides it)."""
        return self._types[record_type].source.kind

    def record_type_for(self, path: Path) -> str | None:
        """The record type reading ``path``; ``None`` for a lookup file (read by joins)."""
        for name, record_type in self._types.items():
            if any(fnmatch.fnmatchcase(path.name, p) for p in record_type.patterns):
                return name
        if any(lookup.reads(path.name) for lookup in self._lookups.values()):
            return None
        patterns = ", ".join(p for t in self._types.values() for p in t.patterns)
        raise MappingError(f"no record type of mapping '{self.mapping_id}' reads '{path.name}' "
                           f"(file patterns: {patterns})")

    def read(self, path: Path, *, record_type: str | None = None) -> Iterator[RawRecord]:
        """Cut one file into raw records (``MappingError`` if no record type reads it).

        Lookup files yield nothing here: their records are joined to the records of the
        files that name them.
        """
        name = record_type or self.record_type_for(path)
        if name is None:
            return
        if name not in self._types:
            raise MappingError(f"mapping '{self.mapping_id}' has no record type '{name}'; "
                               f"expected one of {', '.join(self._types)}")
        chosen = self._types[name]
        origin_prefix = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
        fmt = resolve_encoding(path, chosen.source)
        for payload, position, fields, problem in read_source(path, fmt):
            if chosen.joins and problem is None:
                payload, fields = attach(chosen.joins, self._lookup_cache, path.parent,
                                         payload, fmt.encoding, fields)
            yield RawRecord(self.source_system, name, payload, f"{origin_prefix}:{position}",
                            fields, self._record_key(chosen, fields), problem)

    def read_body(self, body: bytes, *, record_type: str, origin: str) -> Iterator[RawRecord]:
        """Cut a posted CSV body (header line first) into raw records, as :meth:`read` cuts
        a file of ``record_type``; origins are ``{origin}:{line}``.

        ``MappingError`` unless the record type reads CSV without joins (the files a join
        looks up are beside a file, and a posted body has none).
        """
        chosen = self._types.get(record_type)
        if chosen is None or chosen.source.kind != "csv" or chosen.joins:
            raise MappingError(f"record type '{record_type}' of mapping '{self.mapping_id}' "
                               "does not read CSV on its own; a posted CSV body needs one "
                               "that does")
        encoding = chosen.source.encoding
        if encoding == "auto":
            encoding = detect_encoding(body[:DETECT_BYTES])
        for payload, position, fields, problem in csv_chunks(
                io.BytesIO(body), encoding, chosen.source.delimiter):
            yield RawRecord(self.source_system, record_type, payload, f"{origin}:{position}",
                            fields, self._record_key(chosen, fields), problem)

    def parse_payload(self, record_type: str, payload: bytes) -> RawRecord:
        """A kept raw payload as a raw record again, fields parsed the way ``read`` cut them.

        Dead-letter retries use this after a mapping fix; joined records are rebuilt from
        their envelope, so they map with the header they had when they were received.
        """
        chosen = self._types.get(record_type)
        if chosen is None:
            return RawRecord(self.source_system, record_type, payload, "", {}, None,
                             f"mapping '{self.mapping_id}' has no record type '{record_type}'")
        if not chosen.joins:
            fields, problem = parse_payload(payload, chosen.source)
        else:
            fields, problem = self._parse_envelope(chosen, payload)
        return RawRecord(self.source_system, record_type, payload, "", fields,
                         self._record_key(chosen, fields), problem)

    @staticmethod
    def _parse_envelope(chosen: RecordType, payload: bytes) -> tuple[Fields, str | None]:
        try:
            envelope = json.loads(payload)
            text, joined = envelope["record"], envelope["joined"]
            if not isinstance(text, str) or not isinstance(joined, dict):
                raise TypeError("record must be text and joined an object")
        except (ValueError, KeyError, TypeError) as e:
            return {}, f"not a joined-record envelope: {e}"
        as_utf8 = replace(chosen.source, encoding="utf-8")
        fields, problem = parse_payload(text.encode(), as_utf8)
        for join in chosen.joins:
            if isinstance(joined.get(join.alias), str):
                lookup_format = replace(join.lookup.source, encoding="utf-8")
                fields[join.alias] = parse_payload(joined[join.alias].encode(),
                                                   lookup_format)[0]
        return fields, problem

    @staticmethod
    def _record_key(record_type: RecordType, fields: Fields) -> str | None:
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
        if raw.problem is not None or not isinstance(fields, dict) or not fields:
            raise RecordRejected("malformed-record", [FieldError(
                "<record>", f"{raw.origin}: {raw.problem or 'no fields could be read'}")])
        try:
            return self._map(record_type, raw, fields)
        except Problem as problem:
            raise RecordRejected(problem.reason, [
                FieldError(problem.field, problem.message, problem.value)]) from None
        except (TypeError, ValueError, ArithmeticError, AttributeError, KeyError) as e:
            raise RecordRejected("invalid-value", [
                FieldError("<record>", f"cannot be mapped: {e}")]) from None

    def _map(self, record_type: RecordType, raw: RawRecord, fields: Fields) -> MappedRecord:
        if record_type.joins:
            problems = unmatched(record_type.joins, fields)
            if problems:
                raise RecordRejected("unmatched-join", problems)
        source = {"system": self.source_system, "mapping_id": self.mapping_id,
                  "mapping_version": self.version,
                  "raw_hash": hashlib.sha256(raw.payload).hexdigest()}
        result = MappedRecord()
        if record_type.split is None:
            self._map_one(record_type, fields, None, source, result)
            return result
        path, each, alias = record_type.split
        lines = each(fields)
        if not isinstance(lines, list) or not lines:
            raise Problem("missing-field", path, "expected a non-empty list of lines to split "
                          "the record into", None if lines is None else str(lines)[:200])
        for number, line in enumerate(lines, start=1):
            self._map_one(record_type, {**fields, alias: line}, number, source, result)
        return result

    def _map_one(self, record_type: RecordType, fields: Fields, line: int | None,
                 source: dict[str, str], result: MappedRecord) -> None:
        if record_type.computed:
            fields = dict(fields)
            for name, compute in record_type.computed:
                fields[name] = compute(fields)
        missing = [FieldError(name, "required field is missing or empty")
                   for name, getter in record_type.required if getter(fields) is None]
        if missing:
            raise RecordRejected("missing-field", missing)
        record_id = record_type.record_id(fields)
        if record_id is None:
            raise Problem("missing-field", "record_id", "the record id cannot be formed")
        record_id = str(record_id) if line is None else f"{record_id}/{line}"
        case = self._case(record_type, fields)
        if case.skip is not None:
            return
        problems = [e for check in (*record_type.checks, *case.checks)
                    for e in check.problems(fields)]
        if problems:
            raise RecordRejected("dictionary-required", problems)
        moment: tuple[datetime, str] | None = record_type.time(fields) if record_type.time else None
        many = len(case.events) > 1
        for number, (condition, build) in enumerate(case.events, start=1):
            if condition is not None and not condition(fields):
                continue
            event = build(fields, moment)  # type: ignore[arg-type]
            event["source"] = {**source, "record_id": f"{record_id}#{number}" if many
                               else record_id}
            result.events.append(_validated(CanonicalEvent, event))
        for master in case.master:
            key = master.key(fields)
            if key is None:
                raise Problem("missing-field", "key", "the master-data key is missing")
            attributes = {k: v for k, fn in master.attributes if (v := fn(fields)) is not None}
            result.master.append(_validated(MasterRecord, {
                "entity": master.entity, "key": str(key), "attributes": attributes,
                "source": {**source, "record_id": record_id}}))

    @staticmethod
    def _case(record_type: RecordType, fields: Fields) -> Case:
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
        return case


def _validated(model: Any, data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise RecordRejected("invalid-event", [
            FieldError(".".join(str(p) for p in err["loc"]) or "<event>", err["msg"],
                       None if isinstance(err.get("input"), dict) else str(err.get("input"))[:200])
            for err in e.errors()
        ]) from None


def mapping_path(ref: str | Path) -> Path:
    """``"erp"`` → the built-in file; ``"examples/odoo"`` → a shipped example; else a path."""
    if isinstance(ref, Path) or ref.endswith((".yaml", ".yml")):
        return Path(ref)
    if "/" not in ref:
        return BUILTIN_DIR / f"{ref}.yaml"
    shipped = MAPPING_DIR / ref / "mapping.yaml"
    return shipped if ref.startswith("examples/") else Path(ref)


def load_mapping(ref: str | Path) -> Mapping:
    """``"erp"`` / ``"wms"`` (built in, by name) or the path of a mapping YAML file."""
    path = mapping_path(ref)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        builtin = ", ".join(sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml")))
        raise MappingError(f"no mapping '{ref}': expected a built-in name ({builtin}), a "
                           "shipped example (examples/NAME) or the path of a mapping YAML "
                           "file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise MappingError(f"cannot read mapping '{path}': {e}") from e
    resolved = path.resolve()
    if resolved.parent == BUILTIN_DIR:
        name = path.name
    elif resolved.is_relative_to(MAPPING_DIR):
        name = resolved.relative_to(MAPPING_DIR).as_posix()
    else:
        name = str(path)
    return Mapping(load_yaml_text(text, name), name)
