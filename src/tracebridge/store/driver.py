"""Hot-path reads on the driver's own cursor: SQL text rendered once per dialect.

Rules read a few indexed rows per event. Running each read as a SQLAlchemy ``text()``
costs more in statement set-up (compiling, result metadata, type processors) than the
database needs to answer it, so the statements that run once per event are
:class:`Statement` objects instead: written with ``:name`` parameters, rendered once per
dialect (and per IN-list length, rounded up to a power of two so prepared statements
are reused), and executed with plain values inside the connection's transaction.

Datetimes go in as the dialect stores them (SQLite: SQLAlchemy's naive-UTC text) and
come back as the driver returns them; :func:`as_utc` reads either.

>>> s = Statement("SELECT 1 FROM t WHERE a = :a AND b IN :bs", lists=("bs",))
>>> s.render("qmark", {"a": 1, "bs": ["x", "y", "z"]})
('SELECT 1 FROM t WHERE a = :a AND b IN (:bs_0, :bs_1, :bs_2, :bs_3)', {'a': 1, 'bs_0': 'x', \
'bs_1': 'y', 'bs_2': 'z', 'bs_3': 'z'})
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection

from tracebridge.store.bulk import sqlite_datetime

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def as_utc(value: datetime | str | None) -> datetime | None:
    """A stored datetime as aware UTC (SQLite hands back naive UTC text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@lru_cache(maxsize=256)
def _row_type(names: tuple[str, ...]) -> Any:
    return namedtuple("Row", names, rename=True)


def named_rows(conn: Connection, sql: str, params: Sequence[Any] = (), *,
               named: bool = True) -> list[Any]:
    """Run ready SQL (the dialect's own placeholders) on the driver cursor; rows are
    named tuples (``row.gtin``; plain ones unless ``named``), all fetched at once."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, tuple(params))
        rows = cursor.fetchall()
        if not named or not cursor.description:
            return list(rows)
        make = _row_type(tuple(d[0] for d in cursor.description))._make
        return [make(row) for row in rows]
    finally:
        cursor.close()


def padded_length(count: int) -> int:
    """The power of two an IN list of ``count`` values is padded to (one statement per size)."""
    size = 1
    while size < count:
        size *= 2
    return size


class Statement:
    """One parameterised read, rendered per dialect and IN-list shape on first use.

    ``times`` names the parameters that are datetimes; ``lists`` the ones bound as an
    IN list (written ``IN :name``; an empty list matches nothing).
    """

    def __init__(self, sql: str, *, times: Collection[str] = (),
                 lists: Collection[str] = ()) -> None:
        self.sql = sql
        self.times = frozenset(times)
        self.lists = tuple(lists)
        self._rendered: dict[tuple[str, tuple[int, ...]], str] = {}

    def render(self, paramstyle: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        values = dict(params)
        sizes = []
        for name in self.lists:
            items = list(values.pop(name))
            size = padded_length(len(items)) if items else 0
            sizes.append(size)
            padded = [*items, *[items[-1]] * (size - len(items))] if items else []
            values.update({f"{name}_{i}": item for i, item in enumerate(padded)})
        key = (paramstyle, tuple(sizes))
        sql = self._rendered.get(key)
        if sql is None:
            sql = self.sql
            for name, size in zip(self.lists, sizes, strict=True):
                marks = ", ".join(f":{name}_{i}" for i in range(size)) or "NULL"
                sql = sql.replace(f"IN :{name}", f"IN ({marks})")
            if paramstyle != "qmark" and paramstyle != "named":
                sql = _PARAM.sub(r"%(\1)s", sql)  # psycopg: pyformat
            self._rendered[key] = sql
        return sql, values

    def rows(self, conn: Connection, **params: Any) -> list[Sequence[Any]]:
        sqlite = conn.dialect.name == "sqlite"
        for name in self.times:
            value = params.get(name)
            if sqlite and isinstance(value, datetime):
                params[name] = sqlite_datetime(value.astimezone(UTC))
        sql, values = self.render(conn.dialect.paramstyle, params)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(sql, values)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def first(self, conn: Connection, **params: Any) -> Sequence[Any] | None:
        found = self.rows(conn, **params)
        return found[0] if found else None

    def scalar(self, conn: Connection, **params: Any) -> Any:
        row = self.first(conn, **params)
        return row[0] if row is not None else None

    def scalars(self, conn: Connection, **params: Any) -> list[Any]:
        return [row[0] for row in self.rows(conn, **params)]
