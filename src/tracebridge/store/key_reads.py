"""Rows for exactly a set of ``(a, b)`` keys — lots, serials — through the ``(a, b)`` index.

Trace, recall and the projection refreshes read many keys at once. Two plain IN lists,
``a IN (…) AND b IN (…)``, are searched through the composite index by every planner,
where a row-value ``(a, b) IN (VALUES …)`` is answered by SQLite with a scan of the whole
table; the few extra pairs the two lists admit are dropped here. A statement is a text
template rendered once per *shape* — dialect, validity mode, and IN-list lengths rounded up
to a power of two (the last value repeated), so the driver's prepared-statement cache hits
too — and the driver gets a tuple of parameters.

Templates name two slots: ``{keys}`` (``gtin IN (…) AND lot IN (…)`` over the columns
given) and ``{valid}`` (the rows in force now, or as of a record time). Parameters
follow the text: the key lists first, then one as-of value per ``{valid}`` mark.

>>> padded(["a", "b", "c"])
['a', 'b', 'c', 'c']
>>> _render("SELECT 1 FROM t WHERE {keys} AND {valid}", ("g", "l"), (1, 2), ("",), True, "?")
'SELECT 1 FROM t WHERE g IN (?) AND l IN (?, ?) AND retracted_at IS NULL'
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection

from tracebridge.store.bulk import datetime_param, placeholder
from tracebridge.store.driver import named_rows, padded_length
from tracebridge.store.event_log import CHUNK

LotKey = tuple[str, str]
Row = Any  # a driver row, read by column name (row.gtin, row.lot …)

PAIRS = CHUNK // 2  # two bound parameter lists share the backend's limit


def padded(values: Sequence[Any]) -> list[Any]:
    """``values`` lengthened to a power of two by repeating the last one (same IN set)."""
    return [*values, *[values[-1]] * (padded_length(len(values)) - len(values))]


def valid_clause(prefix: str, now: bool, m: str) -> str:
    """Rows in force now (not retracted), or recorded by and not yet retracted at ``as_of``."""
    if now:
        return f"{prefix}retracted_at IS NULL"
    return (f"{prefix}recorded_at <= {m} AND ({prefix}retracted_at IS NULL "
            f"OR {prefix}retracted_at > {m})")


@lru_cache(maxsize=1024)
def _render(template: str, columns: tuple[str, str], sizes: tuple[int, int],
            prefixes: tuple[str, ...], now: bool, m: str) -> str:
    keys = (f"{columns[0]} IN ({', '.join([m] * sizes[0])}) AND "
            f"{columns[1]} IN ({', '.join([m] * sizes[1])})")
    valid = " AND ".join(valid_clause(p, now, m) for p in prefixes)
    return template.format(keys=keys, valid=valid)


def as_of_params(conn: Connection, as_of: datetime | None, prefixes: int) -> tuple[Any, ...]:
    if as_of is None:
        return ()
    stamp = datetime_param(conn, as_of)
    return (stamp, stamp) * prefixes


def by_keys(conn: Connection, template: str, keys: Collection[LotKey], as_of: datetime | None,
            *, columns: tuple[str, str] = ("gtin", "lot"), prefixes: tuple[str, ...] = ("",),
            near: tuple[int, int] = (0, 1), named: bool = True) -> list[Row]:
    """Rows of ``template`` for exactly ``keys`` (one query per chunk of keys).

    Two plain IN lists, not a row-value IN, so every planner uses the (gtin, lot)
    index; the extra pairs the two lists may admit are dropped here (``near``: where
    the key columns are in a row).
    """
    ordered = sorted(set(keys))
    validity = as_of_params(conn, as_of, len(prefixes))
    m = placeholder(conn)
    out: list[Row] = []
    for start in range(0, len(ordered), PAIRS):
        part = ordered[start : start + PAIRS]
        gtins = sorted({g for g, _ in part})
        lots = sorted({n for _, n in part})
        sql = _render(template, columns, (len(padded(gtins)), len(padded(lots))), prefixes,
                      as_of is None, m)
        rows = named_rows(conn, sql, (*padded(gtins), *padded(lots), *validity), named=named)
        if len(gtins) * len(lots) == len(part):  # the lists admit exactly these pairs
            out.extend(rows)
        else:
            wanted = set(part)
            g, n = near
            out.extend(row for row in rows if (row[g], row[n]) in wanted)
    return out


def by_values(conn: Connection, template: str, values: Collection[str], as_of: datetime | None
              ) -> list[Row]:
    """Rows of ``template`` with ``{values}`` an IN list of ``values`` and one ``{valid}``."""
    ordered = sorted(set(values))
    validity = as_of_params(conn, as_of, 1)
    m = placeholder(conn)
    out: list[Row] = []
    for start in range(0, len(ordered), CHUNK):
        part = padded(ordered[start : start + CHUNK])
        sql = _render_values(template, len(part), as_of is None, m)
        out.extend(named_rows(conn, sql, (*part, *validity)))
    return out


@lru_cache(maxsize=256)
def _render_values(template: str, size: int, now: bool, m: str) -> str:
    return template.format(values=", ".join([m] * size), valid=valid_clause("", now, m))
