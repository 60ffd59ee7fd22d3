"""Genealogy completeness: how much of a finished lot's backward chain the store can prove.

The daily ``genealogy-gap`` rule and ``tracebridge rules gaps`` score every finished lot:
released (or an opening balance), every produced lot on the way with recorded inputs, every
leaf a received supplier lot with an incoming inspection (or an opening balance).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

_EDGES_IN = text(
    "SELECT DISTINCT in_gtin, in_lot FROM genealogy_edge WHERE out_gtin = :gtin"
    " AND out_lot = :lot AND in_retracted_at IS NULL AND out_retracted_at IS NULL"
)
_LOT_FLAGS = text(
    "SELECT l.origin, l.status,"
    " (SELECT COUNT(*) FROM lot_event e WHERE e.gtin = l.gtin AND e.lot = l.lot"
    "  AND e.kind = 'released' AND e.retracted_at IS NULL) AS releases,"
    " (SELECT COUNT(*) FROM inspection_fact i WHERE i.gtin = l.gtin AND i.lot = l.lot"
    "  AND i.stage = 'incoming' AND i.retracted_at IS NULL) AS incoming"
    " FROM lot l WHERE l.gtin = :gtin AND l.lot = :lot"
)


@dataclass(frozen=True)
class Completeness:
    """How much of a lot's backward chain the store can prove, and what is missing."""

    gtin: str
    lot: str
    score: float  # passed checks / checks, 1.0 = complete
    checks: int
    gaps: tuple[str, ...]  # e.g. "no-release", "no-incoming-inspection:gtin/lot"

    def as_dict(self) -> dict[str, Any]:
        return {"gtin": self.gtin, "lot": self.lot, "score": self.score,
                "checks": self.checks, "gaps": list(self.gaps)}


def lot_completeness(conn: Connection, gtin: str, lot: str) -> Completeness:
    """Walk the lot's genealogy backwards and check every link an auditor asks for.

    The lot itself must be released (or an opening balance). Every produced lot on the
    way must have recorded inputs. Every leaf must be a supplier lot (received) with an
    incoming inspection, or an opening balance, whose history predates the system.
    """
    checks, gaps = 0, []
    flags = conn.execute(_LOT_FLAGS, {"gtin": gtin, "lot": lot}).first()
    if flags is None:
        return Completeness(gtin, lot, 0.0, 1, ("unknown-lot",))
    checks += 1
    if flags.origin != "opening_balance" and not flags.releases:
        gaps.append("no-release")
    seen: set[tuple[str, str]] = set()
    todo = [(gtin, lot)]
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        parents = [(g, x) for g, x in conn.execute(_EDGES_IN, {"gtin": key[0], "lot": key[1]})]
        info = conn.execute(_LOT_FLAGS, {"gtin": key[0], "lot": key[1]}).first()
        origin = info.origin if info is not None else "unknown"
        label = f"{key[0]}/{key[1]}"
        checks += 1
        if origin == "produced":
            if not parents:
                gaps.append(f"no-inputs:{label}")
        elif origin == "received" and info is not None:
            checks += 1
            if not info.incoming:
                gaps.append(f"no-incoming-inspection:{label}")
        elif origin != "opening_balance":
            gaps.append(f"no-origin:{label}")  # seen only in passing: never received or made
        todo.extend(parents)
    score = round((checks - len(gaps)) / checks, 4) if checks else 0.0
    return Completeness(gtin, lot, score, checks, tuple(gaps))


def finished_lots(conn: Connection) -> list[tuple[str, str]]:
    """Produced lots that no later work order consumed (finished goods; an opening balance
    is complete by definition, its history predates the system)."""
    query = text(
        "SELECT l.gtin, l.lot FROM lot l WHERE l.origin = 'produced'"
        " AND NOT EXISTS (SELECT 1 FROM material_flow m WHERE m.gtin = l.gtin"
        " AND m.lot = l.lot AND m.direction = 'in' AND m.retracted_at IS NULL)"
        " ORDER BY l.gtin, l.lot"
    )
    return [(str(g), str(x)) for g, x in conn.execute(query)]
