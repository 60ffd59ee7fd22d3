"""Outbound mappings: canonical decisions rewritten in a target system's own words.

The inbound mapping language, run the other way round: one YAML file per target names the
event kinds the target is told about (``forward``), the code lists that turn canonical
codes into the target's (``held`` → ``QH``), and, per target field, a value expression
over the canonical *message fields* (:func:`message_fields`). Value expressions are the
inbound ones (``gtin``, ``{const: X}``, ``{field: kind, map: qa_status}``, templates),
plus ``{time: event_time, format: "%Y%m%d%H%M%S", zone: Asia/Shanghai}`` to print a
timestamp the way the target reads it. A dotted target field (``item.lot``) nests.

>>> wms = OutboundMapping.from_text('''
... id: wms-out
... version: "1"
... target: wms
... forward: [held]
... code_lists:
...   status: {unknown: reject, values: {held: QH}}
... fields:
...   LOT_NO: lot
...   QA.STATUS: {field: kind, map: status}
...   NOTE: "{reason} ({actor})"
... ''', "wms.yaml")
>>> wms.render({"kind": "held", "lot": "A1", "reason": "NC-7", "actor": "u.li"})
{'LOT_NO': 'A1', 'QA': {'STATUS': 'QH'}, 'NOTE': 'NC-7 (u.li)'}
>>> wms.forwards("released")
False
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tracebridge.domain.events import CanonicalEvent, EventKind, LotRef
from tracebridge.errors import MappingError
from tracebridge.mapping.compiler import expect_keys
from tracebridge.mapping.values import CodeList, CompileContext, Problem, ValueFn, compile_value
from tracebridge.mapping.yaml_source import LineDict, load_yaml_text

TARGETS_DIR = Path(__file__).resolve().parent / "targets"
_TOP_KEYS = {"id", "version", "target", "description", "forward", "code_lists", "fields"}
_REQUIRED = ("id", "version", "target", "forward", "fields")


def message_fields(event: CanonicalEvent, ref: LotRef) -> dict[str, Any]:
    """The canonical fields an outbound mapping may use, for one lot of ``event``."""
    fields: dict[str, Any] = {
        key: value for key, value in event.details.items() if value is not None
    }
    fields.update(
        {
            "kind": event.kind.value,
            "gtin": ref.gtin,
            "lot": ref.lot,
            "quantity": ref.quantity,
            "uom": ref.uom,
            "expiry": ref.expiry,
            "actor": event.operator,
            "event_time": event.event_time,
            "event_time_zone_offset": event.event_time_zone_offset,
            "event_id": event.event_id,
            "disposition": event.disposition,
            "source_system": event.source.system,
            "source_record_id": event.source.record_id,
            "serials": ",".join(ref.serials) if ref.serials else None,
        }
    )
    return {key: value for key, value in fields.items() if value is not None}


class OutboundMapping:
    """A compiled outbound mapping for one target system."""

    def __init__(self, document: Any, source_name: str) -> None:
        top = expect_keys(document, _TOP_KEYS, "an outbound mapping", source_name)
        missing = [key for key in _REQUIRED if key not in top]
        if missing:
            raise MappingError(f"{top.where()}: outbound mapping lacks {', '.join(missing)}")
        self.mapping_id = str(top["id"])
        self.version = str(top["version"])
        self.target = str(top["target"])
        self._forward = self._kinds(top)
        ctx = CompileContext(code_lists=_code_lists(top), units=None)
        fields = top["fields"]
        if not isinstance(fields, LineDict) or not fields:
            raise MappingError(f"{top.where('fields')}: 'fields' must map target field names "
                               "to value expressions")
        self._fields: list[tuple[tuple[str, ...], ValueFn]] = [
            (tuple(name.split(".")), _compile(spec, ctx, fields.where(name)))
            for name, spec in fields.items()
        ]

    @classmethod
    def from_text(cls, text: str, source_name: str) -> OutboundMapping:
        return cls(load_yaml_text(text, source_name), source_name)

    @staticmethod
    def _kinds(top: LineDict) -> frozenset[str]:
        kinds = top["forward"]
        known = {kind.value for kind in EventKind}
        if not isinstance(kinds, list) or not kinds:
            raise MappingError(f"{top.where('forward')}: 'forward' must list event kinds")
        unknown = sorted(str(kind) for kind in kinds if kind not in known)
        if unknown:
            raise MappingError(f"{top.where('forward')}: unknown event kind(s) "
                               f"{', '.join(unknown)}; expected some of {', '.join(sorted(known))}")
        return frozenset(str(kind) for kind in kinds)

    def forwards(self, kind: str) -> bool:
        """Whether the target is told about events of ``kind``."""
        return kind in self._forward

    def render(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The target's message for canonical ``fields``; absent values are left out.

        Raises ``MappingError`` naming the mapping and field when a value cannot be given
        in the target's terms (e.g. a code its code list rejects).
        """
        out: dict[str, Any] = {}
        for path, value_fn in self._fields:
            try:
                value = value_fn(fields)
            except Problem as problem:
                raise MappingError(
                    f"outbound mapping {self.mapping_id} v{self.version}, field "
                    f"{'.'.join(path)}: {problem.message} (given {problem.value!r})"
                ) from None
            if value is None:
                continue
            node = out
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value
        return out


def _code_lists(top: LineDict) -> dict[str, CodeList]:
    lists = top.get("code_lists", LineDict())
    out: dict[str, CodeList] = {}
    for name, spec in expect_keys(lists, set(lists), "code_lists", top.where()).items():
        node = expect_keys(spec, {"unknown", "values"}, f"code list '{name}'", lists.where(name))
        policy = node.get("unknown")
        if policy not in ("reject", "keep"):
            raise MappingError(f"{node.where()}: code list '{name}' needs 'unknown: reject' "
                               f"or 'unknown: keep', got {policy!r}")
        values = node.get("values")
        if not isinstance(values, dict) or not values:
            raise MappingError(f"{node.where()}: code list '{name}' needs 'values'")
        out[name] = CodeList({str(k): str(v) for k, v in values.items()}, str(policy))
    return out


def _compile(spec: Any, ctx: CompileContext, where: str) -> ValueFn:
    if isinstance(spec, dict) and "time" in spec:
        return _compile_time(spec, where)
    value_fn = compile_value(spec, ctx, where)
    return lambda fields: _plain(value_fn(fields))


def _plain(value: Any) -> Any:
    """JSON-ready: the only non-JSON canonical value is a datetime."""
    return value.isoformat() if isinstance(value, datetime) else value


def _compile_time(spec: dict[str, Any], where: str) -> Callable[[dict[str, Any]], str | None]:
    node = expect_keys(spec, {"time", "format", "zone"}, "a time value", where)
    name, fmt = str(node["time"]), str(node.get("format", "%Y-%m-%dT%H:%M:%S%z"))
    try:
        zone = ZoneInfo(str(node["zone"])) if "zone" in node else None
    except (KeyError, ValueError):
        raise MappingError(f"{node.where('zone')}: unknown time zone {node['zone']!r}; "
                           "expected an IANA name such as Asia/Shanghai") from None

    def value(fields: dict[str, Any]) -> str | None:
        moment = fields.get(name)
        if moment is None:
            return None
        if not isinstance(moment, datetime):
            raise Problem("invalid-value", name, "expected a timestamp", moment)
        return (moment.astimezone(zone) if zone else moment).strftime(fmt)

    return value


def load_outbound_mapping(ref: str | Path) -> OutboundMapping:
    """A built-in target mapping by name (``wms``, ``erp``) or a user's file by path."""
    path = TARGETS_DIR / f"{ref}.yaml" if isinstance(ref, str) and "/" not in ref and not str(
        ref).endswith((".yaml", ".yml")) else Path(ref)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        builtin = sorted(p.stem for p in TARGETS_DIR.glob("*.yaml"))
        raise MappingError(f"outbound mapping {ref!s}: no such file ({path.name}); built-in "
                           f"targets: {', '.join(builtin)}") from None
    return OutboundMapping.from_text(text, path.name)
