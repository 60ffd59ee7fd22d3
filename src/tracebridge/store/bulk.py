"""Bulk writes and key lookups through the driver, for the ingest hot path.

SQLAlchemy Core compiles and processes every parameter of an ``executemany``; at
hundreds of thousands of rows that costs more than the database itself (measured:
70 % of ingest time). Here one statement per (table, columns) is rendered once and
the driver gets plain tuples. Values are converted the way SQLAlchemy's own types
would store them, so ordinary SQLAlchemy reads of the same rows are unaffected:
datetimes as SQLAlchemy's SQLite text format (native on PostgreSQL), JSON as text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, Table


def sqlite_datetime(value: datetime) -> str:
    """The text SQLAlchemy's SQLite ``DateTime`` stores: naive UTC, microseconds always.

    ``isoformat`` rather than ``strftime``: a third of the time per value, which adds up
    at several timestamps per ingested record, and a zero-padded year as SQLAlchemy writes.

    >>> from datetime import timezone, timedelta
    >>> sqlite_datetime(datetime(2026, 3, 1, 8, 0, tzinfo=timezone(timedelta(hours=8))))
    '2026-03-01 00:00:00.000000'
    """
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def placeholder(conn: Connection) -> str:
    """The driver's positional parameter mark: ``?`` (SQLite) or ``%s`` (psycopg)."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


@lru_cache(maxsize=256)
def _insert_sql(table: Table, columns: tuple[str, ...], mark: str) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join(mark for _ in columns)
    return f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'


@lru_cache(maxsize=256)
def _converters(table: Table, columns: tuple[str, ...], sqlite: bool) -> tuple[Any, ...]:
    def to_sqlite_datetime(value: datetime | str | None) -> str | None:
        if value is None or isinstance(value, str):  # str: read back from SQLite already
            return value
        return sqlite_datetime(value)

    def to_json(value: object) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False)

    converters: list[Any] = []
    for name in columns:
        column_type = table.c[name].type
        if isinstance(column_type, DateTime) and sqlite:
            converters.append(to_sqlite_datetime)
        elif isinstance(column_type, JSON):
            converters.append(to_json)
        else:
            converters.append(None)
    return tuple(converters)


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert dict rows that all share the first row's keys."""
    if not rows:
        return
    columns = tuple(rows[0])
    converters = _converters(table, columns, conn.dialect.name == "sqlite")
    getter = itemgetter(*columns)
    if len(columns) == 1:
        params: list[Any] = [(getter(row),) for row in rows]
    else:
        params = [getter(row) for row in rows]
    converted = [(i, _memoised(f)) for i, f in enumerate(converters) if f is not None]
    if converted:
        for index, values in enumerate(params):
            mutable = list(values)
            for position, convert in converted:
                mutable[position] = convert(mutable[position])
            params[index] = tuple(mutable)
    conn.exec_driver_sql(_insert_sql(table, columns, placeholder(conn)), params)


def _memoised(convert: Any) -> Any:
    """Batch rows share their timestamps: convert each distinct value once."""
    cache: dict[Any, Any] = {}

    def cached(value: Any) -> Any:
        if value is None:
            return None
        try:
            return cache[value]
        except KeyError:
            result = cache[value] = convert(value)
            return result
        except TypeError:  # unhashable (JSON lists and dicts)
            return convert(value)

    return cached


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def in_list(conn: Connection, count: int) -> str:
    mark = placeholder(conn)
    return ", ".join(mark for _ in range(count))


def datetime_param(conn: Connection, value: datetime) -> object:
    """A datetime as a raw driver parameter, stored the way SQLAlchemy stores it."""
    if conn.dialect.name == "sqlite":
        return sqlite_datetime(value.astimezone(UTC))
    return value
