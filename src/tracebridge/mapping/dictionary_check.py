"""Required fields checked against the data dictionary, e.g. the expiry of a sterile lot.

A record type (or one route case) names a dictionary entity, where the values of that
entity's fields come from, and the facts its ``required_when`` conditions look at::

    dictionary:
      entity: lot
      fields: {expiry_date: 有效期至, manufacture_date: 生产日期}
      context: {origin: {const: received}, product.sterile: {field: 灭菌, map: yes_no}}

A record missing a field the dictionary requires in that context is rejected with the
field's labels and the condition that made it required.

>>> check = compile_dictionary_check(
...     {"entity": "lot", "fields": {"expiry_date": "EXP"},
...      "context": {"product.sterile": {"field": "STERILE", "type": "bool"}}},
...     CompileContext(code_lists={}, units=None), "m.yaml:4")
>>> [error] = check.problems({"STERILE": "true"})
>>> error.field, error.message.split(": ", 1)[1]
('EXP', 'lot.expiry_date (有效期至 / expiry date) when product.sterile == true')
>>> check.problems({"STERILE": "false"})
[]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracebridge.dictionary.loader import load_dictionary
from tracebridge.dictionary.model import Dictionary, FieldSpec
from tracebridge.errors import MappingError, NotFound
from tracebridge.mapping.records import FieldError
from tracebridge.mapping.values import CompileContext, Fields, ValueFn, compile_value
from tracebridge.mapping.yaml_source import LineDict


@dataclass(frozen=True)
class DictionaryCheck:
    dictionary: Dictionary
    entity: str
    fields: tuple[tuple[str, str, ValueFn, FieldSpec], ...]  # name, source text, getter, spec
    context: tuple[tuple[str, ValueFn], ...]

    def problems(self, record: Fields) -> list[FieldError]:
        values = {name: getter(record) for name, _, getter, _ in self.fields}
        context: dict[str, object] = {k: v for k, v in values.items() if v is not None}
        context.update((k, v) for k, fn in self.context if (v := fn(record)) is not None)
        required = set(self.dictionary.required_fields(self.entity, context))
        errors = []
        for name, source, _, spec in self.fields:
            if name in required and values[name] is None:
                when = f" when {spec.required_when}" if spec.required_when else ""
                errors.append(FieldError(source, (
                    f"required by the data dictionary: {self.entity}.{name} "
                    f"({spec.label.zh_cn} / {spec.label.en}){when}")))
        return errors


def _where(node: Any, key: str, fallback: str) -> str:
    return node.where(key) if isinstance(node, LineDict) else fallback


def _source_text(spec: Any) -> str:
    if isinstance(spec, dict):
        for key in ("field", "date", "quantity", "expr", "const"):
            if key in spec:
                return str(spec[key])
    return str(spec)


def compile_dictionary_check(spec: Any, ctx: CompileContext, where: str) -> DictionaryCheck:
    if not isinstance(spec, dict) or "entity" not in spec or "fields" not in spec:
        raise MappingError(f"{where}: 'dictionary' needs 'entity' and 'fields' (dictionary "
                           "field: where its value comes from)")
    extra = sorted(set(spec) - {"entity", "fields", "context"})
    if extra:
        raise MappingError(f"{_where(spec, extra[0], where)}: unknown key '{extra[0]}' in "
                           "dictionary; expected entity, fields, context")
    dictionary = load_dictionary()
    entity = str(spec["entity"])
    try:
        dictionary.entity(entity)
    except NotFound as e:
        raise MappingError(f"{_where(spec, 'entity', where)}: {e.message}") from None
    fields_node, context_node = spec["fields"], spec.get("context", {})
    if not isinstance(fields_node, dict) or not isinstance(context_node, dict):
        raise MappingError(f"{where}: dictionary 'fields' and 'context' must be mappings")
    fields = []
    for name, source in fields_node.items():
        here = _where(fields_node, name, where)
        try:
            field_spec = dictionary.field(entity, name)
        except NotFound as e:
            raise MappingError(f"{here}: {e.message}") from None
        fields.append((name, _source_text(source), compile_value(source, ctx, here),
                       field_spec))
    context = []
    for path, source in context_node.items():
        here = _where(context_node, path, where)
        owner, _, name = path.rpartition(".")
        try:
            dictionary.field(owner or entity, name)
        except NotFound as e:
            raise MappingError(f"{here}: context '{path}': {e.message}") from None
        context.append((path, compile_value(source, ctx, here)))
    return DictionaryCheck(dictionary, entity, tuple(fields), tuple(context))
