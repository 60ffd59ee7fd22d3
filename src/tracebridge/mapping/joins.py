"""Joining a record with the records of another file: header + lines, move lines + lots.

A mapping names its *lookup* files and each record type says which lookups it joins, on
which of its own fields. Lookup files are read from the folder of the file being mapped,
indexed by key once (again only when a lookup file changes), and the matching record
appears under the join's ``as`` name — so ``lot.expiration_date`` reads the lot of a
move line::

    lookups:
      lots: {files: "stock.lot*.csv", key: id}
    record_types:
      move_line:
        join: [{lookup: lots, field: lot_id.0, as: lot, unmatched: reject}]

A joined record's raw payload is a small JSON envelope holding the record's own text and
the text of every record joined to it, so the raw inbox keeps everything a record was
mapped from, and a changed header makes a new version of each of its lines.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracebridge.mapping.records import FieldError
from tracebridge.mapping.sources import SourceFormat, read_source, resolve_encoding
from tracebridge.mapping.values import Fields, ValueFn, is_empty

UNMATCHED_POLICIES = ("reject", "keep")


@dataclass(frozen=True)
class Lookup:
    name: str
    patterns: tuple[str, ...]
    key: ValueFn
    key_text: str
    source: SourceFormat

    def reads(self, file_name: str) -> bool:
        return any(fnmatch.fnmatchcase(file_name, p) for p in self.patterns)


@dataclass(frozen=True)
class Join:
    lookup: Lookup
    on: ValueFn
    on_text: str
    alias: str
    unmatched: str  # reject | keep


# key -> (the joined record's text, its fields)
Index = dict[str, tuple[str, Fields]]


def key_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


class LookupCache:
    """Indexes of lookup files per folder, rebuilt when a file's size or mtime changes."""

    def __init__(self) -> None:
        self._indexes: dict[tuple[str, Path], tuple[tuple[Any, ...], Index]] = {}

    def index(self, lookup: Lookup, folder: Path) -> Index:
        files = sorted(p for p in folder.iterdir() if p.is_file() and lookup.reads(p.name))
        stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
        cached = self._indexes.get((lookup.name, folder))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        index: Index = {}
        for path in files:  # in name order: a key repeated in a later file wins
            fmt = resolve_encoding(path, lookup.source)
            for payload, _, fields, problem in read_source(path, fmt):
                key = lookup.key(fields) if problem is None else None
                if not is_empty(key):
                    index[key_text(key)] = (_text(payload, fmt.encoding), fields)
        self._indexes[(lookup.name, folder)] = (stamp, index)
        return index


def _text(payload: bytes, encoding: str) -> str:
    return payload.decode("utf-8" if encoding == "utf-8-sig" else encoding, errors="replace")


def attach(joins: Iterable[Join], cache: LookupCache, folder: Path, payload: bytes,
           encoding: str, fields: Fields) -> tuple[bytes, Fields]:
    """The record's envelope payload and its fields with every matched record attached."""
    joined: dict[str, str] = {}
    out = dict(fields)
    for join in joins:
        value = join.on(fields)
        if is_empty(value) or isinstance(value, dict | list):
            continue
        hit = cache.index(join.lookup, folder).get(key_text(value))
        if hit is not None:
            joined[join.alias], out[join.alias] = hit
    envelope = {"record": _text(payload, encoding), "joined": joined}
    return json.dumps(envelope, ensure_ascii=False, sort_keys=True).encode(), out


def unmatched(joins: Iterable[Join], fields: Fields) -> list[FieldError]:
    """A problem for each ``unmatched: reject`` join whose key found no record."""
    errors = []
    for join in joins:
        if join.unmatched != "reject" or isinstance(fields.get(join.alias), dict):
            continue
        value = join.on(fields)
        if is_empty(value):
            errors.append(FieldError(join.on_text, f"the key to join '{join.lookup.name}' "
                                     "is missing"))
        else:
            errors.append(FieldError(
                join.on_text, f"no '{join.lookup.name}' record with {join.lookup.key_text} = "
                f"'{key_text(value)}' in files matching {', '.join(join.lookup.patterns)} "
                "next to this file", key_text(value)))
    return errors
