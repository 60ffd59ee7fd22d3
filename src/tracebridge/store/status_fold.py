"""Status decisions folded onto a lot's stored state instead of refolding its history.

A lot's state row is the fold of all its valid facts (``projections.lot_state``). Most
batches of a live feed add to a lot only a status decision — a release, a hold, a recall
block — later in event time than everything the lot had: the fold of the whole history
would end in the stored state followed by the new steps. Those lots get the new steps
applied to the stored status; every other touched lot is refolded from its facts.

Kept out of this path, and so refolded: a lifted hold (its target is the status the
hold interrupted, which the row does not keep), anything earlier than the lot's last
event, facts carrying quantities or dates, holds of single units, withdrawn facts.
``tests/integration/test_rebuild_property.py`` checks that both paths give the state a
rebuild gives.

>>> from datetime import UTC, datetime
>>> at = datetime(2026, 3, 1, tzinfo=UTC)
>>> folded(("released", 0), [("held", at), ("held", at)])
('hold', 1)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from tracebridge.domain.events import EventKind
from tracebridge.domain.lot_status import STATUS_CHANGING_KINDS, LotState, LotStatus, transition
from tracebridge.errors import IllegalTransition
from tracebridge.store.bulk import datetime_param, placeholder
from tracebridge.store.driver import Statement, as_utc

LotKey = tuple[str, str]
_FOLDABLE = frozenset(k.value for k in STATUS_CHANGING_KINDS - {EventKind.HOLD_RELEASED})


def status_steps(lot_rows: Sequence[Mapping[str, Any]]) -> dict[LotKey, list[tuple[str, datetime]]]:
    """Per lot, the batch's new facts if every one is a foldable status step, else absent."""
    steps: dict[LotKey, list[tuple[str, datetime]]] = {}
    spoiled: set[LotKey] = set()
    for row in lot_rows:
        key = (row["gtin"], row["lot"])
        if (row["role"] == "subject" and row["kind"] in _FOLDABLE
                and row["retracted_at"] is None and row["quantity"] is None
                and row["manufactured"] is None and row["expiry"] is None):
            steps.setdefault(key, []).append((row["kind"], row["event_time"]))
        else:
            spoiled.add(key)
    return {key: kinds for key, kinds in steps.items() if key not in spoiled}


def folded(current: tuple[str, int], steps: Iterable[tuple[str, datetime]]) -> tuple[str, int]:
    """(status, conflicts) after ``steps`` in order; an illegal step is counted, not taken —
    as ``lot_status.fold`` does."""
    status, conflicts = current
    state = LotState(LotStatus(status))
    for kind, _ in steps:
        try:
            state = transition(state, EventKind(kind))
        except IllegalTransition:
            conflicts += 1
    return state.status.value, conflicts


def fold_status(conn: Connection, steps: Mapping[LotKey, list[tuple[str, datetime]]]
                ) -> set[LotKey]:
    """Apply each lot's steps to its stored row where they come after everything the lot
    had; returns the lots done this way (the caller refolds the rest)."""
    done: set[LotKey] = set()
    updates: list[tuple[Any, ...]] = []
    by_gtin: dict[str, list[str]] = {}
    for gtin, lot in steps:
        by_gtin.setdefault(gtin, []).append(lot)
    for gtin, lots in by_gtin.items():
        lots.sort()
        for start in range(0, len(lots), 900):
            for lot, status, conflicts, last in _LOT_ROWS.rows(
                    conn, gtin=gtin, lots=lots[start : start + 900]):
                new = steps[(gtin, lot)]
                last_time = as_utc(last)
                if last_time is None or min(t for _, t in new) < last_time:
                    continue  # earlier than the lot's history ends: refold
                ordered = sorted(new, key=lambda step: step[1])  # stable: batch order on ties
                status_after, conflicts_after = folded((status, int(conflicts)), ordered)
                updates.append((status_after, conflicts_after,
                                datetime_param(conn, ordered[-1][1]), gtin, lot))
                done.add((gtin, lot))
    if updates:
        m = placeholder(conn)
        conn.exec_driver_sql(
            f"UPDATE lot SET status = {m}, status_conflicts = {m}, last_event_time = {m}"
            f" WHERE gtin = {m} AND lot = {m}", updates)
    return done


_LOT_ROWS = Statement(
    "SELECT lot, status, status_conflicts, last_event_time FROM lot"
    " WHERE gtin = :gtin AND lot IN :lots",
    lists=("lots",),
)
