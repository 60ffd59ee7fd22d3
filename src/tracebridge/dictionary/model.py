"""The data dictionary: every entity and field both the ERP and the WMS side must agree on.

A field says its type, its labels in Chinese and English, which system owns it
(``source_of_truth``), whether it is required — always, or only when a simple
condition holds — and which code list its values come from.

>>> cond = Condition.parse("product.sterile == true and lot.status != scrapped")
>>> cond.holds({"product": {"sterile": True}, "lot.status": "released"})
True
>>> cond.holds({"product": {"sterile": False}, "lot.status": "released"})
False

Conditions are ``path op literal`` comparisons (``==``, ``!=``, ``in [a, b]``) joined by
``and`` (binding tighter) and ``or``. A path is ``entity.field`` or a bare ``field`` of the
record itself; a comparison on a value the context does not hold is false, so an unknown
fact never makes a field required.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tracebridge.errors import NotFound

FieldType = Literal[
    "string",
    "integer",
    "decimal",
    "date",
    "datetime",
    "boolean",
    "code",
    "gtin",
    "gln",
    "sscc",
    "reference",
]
# The final distributor (a hospital) owns what happened to a tracked device after it
# arrived there (21 CFR 821.30(b)): implant, explant, patient death.
SourceOfTruth = Literal["erp", "wms", "tracebridge", "final_distributor"]
Lang = Literal["zh-CN", "en"]
LANGUAGES: tuple[Lang, ...] = ("zh-CN", "en")

Scalar = bool | int | float | str

# --------------------------------------------------------------------------- conditions

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op>==|!=|\[|\]|,)
      | '(?P<squoted>[^']*)' | "(?P<dquoted>[^"]*)"
      | (?P<number>-?\d+(?:\.\d+)?)(?![\w.])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Comparison:
    """``path == value``, ``path != value`` or ``path in [values]``."""

    path: str
    op: Literal["==", "!=", "in"]
    values: tuple[Scalar, ...]

    @property
    def entity(self) -> str | None:
        return self.path.split(".")[0] if "." in self.path else None

    @property
    def field(self) -> str:
        return self.path.split(".")[-1]

    def holds(self, context: Mapping[str, object]) -> bool:
        found, value = _lookup(context, self.path)
        if not found or value is None:
            return False
        if self.op == "!=":
            return not _equal(value, self.values[0])
        return any(_equal(value, literal) for literal in self.values)


@dataclass(frozen=True)
class Condition:
    """A parsed ``required_when``: an ``or`` of ``and`` groups of comparisons."""

    text: str
    any_of: tuple[tuple[Comparison, ...], ...]

    @classmethod
    def parse(cls, text: str) -> Condition:
        """Parse ``text``; raises ``ValueError`` naming the position and what was expected."""
        tokens = _tokenize(text)
        groups: list[tuple[Comparison, ...]] = []
        group: list[Comparison] = []
        position = 0
        while True:
            comparison, position = _parse_comparison(text, tokens, position)
            group.append(comparison)
            if position == len(tokens):
                break
            joiner = tokens[position]
            if joiner == ("word", "and"):
                position += 1
            elif joiner == ("word", "or"):
                groups.append(tuple(group))
                group = []
                position += 1
            else:
                raise ValueError(
                    f"condition {text!r}: expected 'and' or 'or' after {comparison.path!r}, "
                    f"got {joiner[1]!r}"
                )
        groups.append(tuple(group))
        return cls(text=text, any_of=tuple(groups))

    @property
    def comparisons(self) -> tuple[Comparison, ...]:
        return tuple(c for group in self.any_of for c in group)

    def holds(self, context: Mapping[str, object]) -> bool:
        return any(all(c.holds(context) for c in group) for group in self.any_of)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while True:
        position = len(text) - len(text[position:].lstrip())
        if position == len(text):
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"condition {text!r}: unexpected character at column {position + 1}")
        kind = match.lastgroup or ""
        tokens.append(("string" if kind.endswith("quoted") else kind, match.group(kind)))
        position = match.end()
    if not tokens:
        raise ValueError("condition is empty; expected e.g. 'product.sterile == true'")
    return tokens


def _literal(text: str, token: tuple[str, str]) -> Scalar:
    kind, value = token
    if kind == "string":
        return value
    if kind == "number":
        return float(value) if "." in value else int(value)
    if kind == "word" and "." not in value:
        return {"true": True, "false": False}.get(value, value)
    raise ValueError(f"condition {text!r}: expected a value, got {value!r}")


def _parse_comparison(
    text: str, tokens: list[tuple[str, str]], position: int
) -> tuple[Comparison, int]:
    def at(index: int) -> tuple[str, str]:
        return tokens[index] if index < len(tokens) else ("end", "end of condition")

    kind, path = at(position)
    if kind != "word" or path in ("and", "or", "in"):
        raise ValueError(f"condition {text!r}: expected a field path, got {path!r}")
    op = at(position + 1)[1]
    if op in ("==", "!="):
        value = _literal(text, at(position + 2))
        return Comparison(path, "==" if op == "==" else "!=", (value,)), position + 3
    if op != "in":
        raise ValueError(f"condition {text!r}: expected '==', '!=' or 'in' after {path!r}")
    if at(position + 2)[1] != "[":
        raise ValueError(f"condition {text!r}: expected '[' after 'in'")
    values: list[Scalar] = []
    index = position + 3
    while True:
        values.append(_literal(text, at(index)))
        separator = at(index + 1)[1]
        index += 2
        if separator == "]":
            return Comparison(path, "in", tuple(values)), index
        if separator != ",":
            raise ValueError(f"condition {text!r}: expected ',' or ']' in the list")


def _lookup(context: Mapping[str, object], path: str) -> tuple[bool, object]:
    if path in context:
        return True, context[path]
    head, _, rest = path.partition(".")
    nested = context.get(head)
    if rest and isinstance(nested, Mapping) and rest in nested:
        return True, nested[rest]
    return False, None


def _equal(value: object, literal: Scalar) -> bool:
    # bool is an int in Python: keep True from matching 1 and "true" from matching True.
    if isinstance(literal, bool) or isinstance(value, bool):
        return type(value) is type(literal) and value == literal
    return value == literal


# --------------------------------------------------------------------------- the model


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Label(_Strict):
    """The same name in each dictionary language."""

    zh_cn: str = Field(alias="zh-CN", min_length=1)
    en: str = Field(min_length=1)

    def text(self, lang: Lang) -> str:
        return self.zh_cn if lang == "zh-CN" else self.en


class Code(_Strict):
    code: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    label: Label
    description: str | None = None


class CodeList(_Strict):
    """A closed set of values, each labelled in every dictionary language."""

    name: str
    label: Label
    description: str = Field(min_length=1)
    codes: list[Code] = Field(min_length=1)

    @field_validator("codes")
    @classmethod
    def _unique(cls, codes: list[Code]) -> list[Code]:
        seen: set[str] = set()
        for code in codes:
            if code.code in seen:
                raise ValueError(f"code {code.code!r} is listed twice")
            seen.add(code.code)
        return codes

    @property
    def values(self) -> list[str]:
        return [code.code for code in self.codes]


class ChangelogEntry(_Strict):
    version: str
    date: dt.date
    changes: list[str] = Field(min_length=1)


class FieldSpec(_Strict):
    """One field of an entity."""

    name: str
    type: FieldType
    label: Label
    description: str = Field(min_length=1)
    source_of_truth: SourceOfTruth
    required: bool | None = None
    required_when: str | None = None
    code_list: str | None = None
    references: str | None = None
    gs1_ai: str | None = Field(default=None, pattern=r"^\d{2,4}$")

    @field_validator("required_when")
    @classmethod
    def _parses(cls, text: str | None) -> str | None:
        if text is not None:
            Condition.parse(text)
        return text

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        if (self.required is None) == (self.required_when is None):
            raise ValueError("give exactly one of 'required: true|false' and 'required_when'")
        if (self.type == "code") != (self.code_list is not None):
            raise ValueError("a field has a 'code_list' exactly when its type is 'code'")
        if (self.type == "reference") != (self.references is not None):
            raise ValueError("'references: <entity>' is given exactly when the type is 'reference'")
        return self

    @cached_property
    def condition(self) -> Condition | None:
        return Condition.parse(self.required_when) if self.required_when else None

    def is_required(self, context: Mapping[str, object]) -> bool:
        return bool(self.required) or (self.condition is not None and self.condition.holds(context))


def _name_members(data: Any, *members: str) -> Any:
    """Copy each member's mapping key into its ``name``, so a value knows what it is called."""
    if not isinstance(data, dict):
        return data
    named = dict(data)
    for member in members:
        if isinstance(data.get(member), dict):
            named[member] = {
                key: {**value, "name": key} if isinstance(value, dict) else value
                for key, value in data[member].items()
            }
    return named


class Entity(_Strict):
    """A kind of record: its business key and its fields, in a stable order."""

    name: str
    label: Label
    description: str = Field(min_length=1)
    key: list[str] = Field(min_length=1)
    fields: dict[str, FieldSpec] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _name_fields(cls, data: Any) -> Any:
        return _name_members(data, "fields")


class Dictionary(_Strict):
    """The whole versioned dictionary, with the look-ups mappings, rules and exports use."""

    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    effective: dt.date
    changelog: list[ChangelogEntry] = Field(min_length=1)
    code_lists: dict[str, CodeList]
    entities: dict[str, Entity]

    @model_validator(mode="before")
    @classmethod
    def _name_parts(cls, data: Any) -> Any:
        return _name_members(data, "code_lists", "entities")

    def entity(self, name: str) -> Entity:
        if name not in self.entities:
            raise _not_found("entity", name, list(self.entities))
        return self.entities[name]

    def field(self, entity: str, name: str) -> FieldSpec:
        fields = self.entity(entity).fields
        if name not in fields:
            raise _not_found(f"field of {entity!r}", name, list(fields))
        return fields[name]

    def code_list(self, name: str) -> CodeList:
        if name not in self.code_lists:
            raise _not_found("code list", name, list(self.code_lists))
        return self.code_lists[name]

    def source_of_truth(self, entity: str, field: str) -> str:
        return self.field(entity, field).source_of_truth

    def required_fields(self, entity: str, context: Mapping[str, object]) -> list[str]:
        """Fields of ``entity`` required for a record described by ``context``.

        ``context`` holds the record's own fields by name and related facts as
        ``"entity.field"`` keys or nested mappings (``{"product": {"sterile": True}}``).
        """
        own = self.entity(entity)
        scoped: dict[str, object] = {**context}
        for key, value in context.items():
            scoped.setdefault(f"{entity}.{key}", value)
        return [f.name for f in own.fields.values() if f.is_required(scoped)]


def _not_found(what: str, given: str, known: list[str]) -> NotFound:
    close = difflib.get_close_matches(given, known, n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return NotFound(
        f"Unknown {what} {given!r}: expected one of {', '.join(sorted(known))}{hint}", close
    )
