"""Driver-level reads for the trace: a statement's rows on the connection's own cursor.

A trace runs a dozen small reads. Building each as a SQLAlchemy expression, compiling
it and wrapping every value in type processors cost more than SQLite needed to answer
it (measured: ~0.5 ms per query, most of a trace). The reads of a set of lots go through
``store.key_reads``; here are the single reads and master data.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection

from tracebridge.store.bulk import placeholder
from tracebridge.store.driver import named_rows
from tracebridge.store.key_reads import PAIRS, padded

Row = Any  # a driver row, read by column name (row.gtin, row.lot …)


def run(conn: Connection, sql: str, params: Sequence[Any] = (), *, named: bool = True
        ) -> list[Row]:
    """Execute on the connection's own driver cursor; rows are named (or plain) tuples.

    Skips SQLAlchemy's per-statement result set-up, which cost more than the query on
    SQLite; the statement still runs inside the connection's transaction.
    """
    return named_rows(conn, sql, params, named=named)


def mark(conn: Connection) -> str:
    return placeholder(conn)


def attributes(value: object) -> dict[str, Any]:
    """A JSON column as read through the driver: text on SQLite, decoded on PostgreSQL."""
    if isinstance(value, str | bytes):
        value = json.loads(value)
    return dict(value) if isinstance(value, dict) else {}


def master(conn: Connection, wanted: dict[str, Collection[str]]) -> dict[str, dict[str, Any]]:
    """Latest attributes per ``entity`` and key, for several entities in one query each chunk.

    Returns ``{"entity/key": attributes}``.
    """
    m = mark(conn)
    pairs = sorted((entity, key) for entity, keys in wanted.items() for key in set(keys))
    newest: dict[str, tuple[int, Any]] = {}
    for start in range(0, len(pairs), PAIRS):
        part = pairs[start : start + PAIRS]
        entities = padded(sorted({e for e, _ in part}))
        names = padded(sorted({k for _, k in part}))
        sql = _render_master(len(entities), len(names), m)
        allowed = set(part)
        for entity, key, version, attrs in run(conn, sql, (*entities, *names)):
            name = f"{entity}/{key}"
            if (entity, key) in allowed and (name not in newest or version > newest[name][0]):
                newest[name] = (int(version), attrs)
    return {name: attributes(attrs) for name, (_, attrs) in newest.items()}


@lru_cache(maxsize=64)
def _render_master(entities: int, names: int, m: str) -> str:
    return ("SELECT entity, key, version, attributes FROM master_record "
            f"WHERE entity IN ({', '.join([m] * entities)}) "
            f"AND key IN ({', '.join([m] * names)})")
