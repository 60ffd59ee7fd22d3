"""Comparing two systems' views of the same lots — pure, no database.

Every fact a source system reported about a lot is an :class:`Observation` of one
:class:`Measure` (quantity received, shipped, on hand …, the lot status, a date, a
serial). Observations are grouped by lot, location (translated into a shared name by
the tolerances' location map) and document, summed per system, and the two sides are
compared within the measure's tolerance. Each difference is a :class:`Difference`
with a stable code and the source records of both sides.

>>> from tracebridge.reconcile.tolerances import Tolerances
>>> erp = Observation(Measure.SHIPPED, "erp", "09506000134352", "L1", "FG01", "D1", 51.0,
...                   seq=1, record="4900-1")
>>> wms = Observation(Measure.SHIPPED, "wms", "09506000134352", "L1", "FG-01-01", "D1", 50.0,
...                   seq=2, record="T1")
>>> tolerances = Tolerances(locations={"erp": {"*": "site"}, "wms": {"*": "site"}})
>>> [d.code for d in compare([erp, wms], tolerances)]
['quantity-mismatch-shipped']
>>> loose = Tolerances(locations=tolerances.locations, quantities={"shipped": {"absolute": 1}})
>>> compare([erp, wms], loose)
[]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from tracebridge.reconcile.tolerances import Tolerances

Value = float | str | list[str] | None


class Measure(StrEnum):
    """What is compared. Quantities are in the lot's base unit (EA after mapping)."""

    RECEIVED = "received"
    PRODUCED = "produced"
    OPENING_BALANCE = "opening_balance"
    CONSUMED = "consumed"
    SHIPPED = "shipped"
    RETURNED = "returned"
    SCRAPPED = "scrapped"
    ADJUSTED = "adjusted"
    ON_HAND = "on_hand"
    STATUS = "status"
    EXPIRY = "expiry"
    MANUFACTURED = "manufactured"
    SERIALS = "serials"


QUANTITY_MEASURES = frozenset(
    {
        Measure.RECEIVED,
        Measure.PRODUCED,
        Measure.OPENING_BALANCE,
        Measure.CONSUMED,
        Measure.SHIPPED,
        Measure.RETURNED,
        Measure.SCRAPPED,
        Measure.ADJUSTED,
        Measure.ON_HAND,
    }
)
DATE_MEASURES = frozenset({Measure.EXPIRY, Measure.MANUFACTURED})
# Per lot only: a lot has one status, one set of dates and one set of serials.
LOT_LEVEL_MEASURES = frozenset({Measure.STATUS, *DATE_MEASURES, Measure.SERIALS})

CODES: dict[Measure, str] = {
    **{m: f"quantity-mismatch-{m.value.replace('_', '-')}" for m in QUANTITY_MEASURES},
    Measure.STATUS: "status-mismatch",
    Measure.EXPIRY: "expiry-mismatch",
    Measure.MANUFACTURED: "manufactured-mismatch",
    Measure.SERIALS: "serial-set-mismatch",
}


@dataclass(frozen=True, slots=True)
class Observation:
    """One thing one system said about one measure of a lot (one fact row).

    Quantities add up per side; a status or date is the side's latest one (observations
    arrive in event-time order); serials form a set.
    """

    measure: Measure
    system: str
    gtin: str
    lot: str
    location: str
    reference: str
    value: float | str | None
    seq: int
    record: str


@dataclass(frozen=True, slots=True)
class FindingKey:
    code: str
    gtin: str
    lot: str
    location: str
    reference: str


@dataclass(slots=True)
class Side:
    """One system's aggregated view of one measure, with the records it came from."""

    value: Value = None
    records: dict[int, str] = field(default_factory=dict)  # event seq -> source record id
    reported: bool = False

    def add(self, measure: Measure, value: float | str | None, seq: int, record: str) -> None:
        self.records[seq] = record
        if measure in QUANTITY_MEASURES:
            self.value = round(_number(self.value) + _number(value), 6)
            self.reported = True
        elif measure is Measure.SERIALS:
            current = self.value if isinstance(self.value, list) else []
            if value is not None and str(value) not in current:
                current = sorted({*current, str(value)})
            self.value = current
            self.reported = True
        elif value is not None:
            self.value = value
            self.reported = True


@dataclass(frozen=True, slots=True)
class Difference:
    key: FindingKey
    measure: Measure
    left: Side
    right: Side

    @property
    def code(self) -> str:
        return self.key.code


def group(
    observations: Iterable[Observation], tolerances: Tolerances
) -> dict[FindingKey, dict[str, Side]]:
    """Both sides of every (measure, lot, shared location, document) the facts mention."""
    grouped: dict[FindingKey, dict[str, Side]] = defaultdict(dict)
    for item in observations:
        if item.system not in (tolerances.left, tolerances.right):
            continue
        lot_level = item.measure in LOT_LEVEL_MEASURES
        location = "" if lot_level else tolerances.shared_location(item.system, item.location)
        key = FindingKey(
            CODES[item.measure], item.gtin, item.lot, location, "" if lot_level else item.reference
        )
        side = grouped[key].setdefault(item.system, Side())
        side.add(item.measure, item.value, item.seq, item.record)
    return grouped


def compare(observations: Iterable[Observation], tolerances: Tolerances) -> list[Difference]:
    """Every difference beyond tolerance between the left and the right system."""
    measure_of = {code: measure for measure, code in CODES.items()}
    out: list[Difference] = []
    for key, sides in group(observations, tolerances).items():
        measure = measure_of[key.code]
        left = sides.get(tolerances.left, Side())
        right = sides.get(tolerances.right, Side())
        if differs(measure, left, right, tolerances):
            out.append(Difference(key, measure, left, right))
    out.sort(key=lambda d: (d.key.gtin, d.key.lot, d.key.code, d.key.location, d.key.reference))
    return out


def differs(measure: Measure, left: Side, right: Side, tolerances: Tolerances) -> bool:
    """Whether the two sides disagree beyond what the tolerances allow.

    A quantity a system never reported counts as zero: the ERP shipping what the WMS never
    did is a difference. A status, date or serial set is compared only when both systems
    report one — the simulated WMS, for one, reports no lot status at all.
    """
    if measure in QUANTITY_MEASURES:
        a, b = _number(left.value), _number(right.value)
        return abs(a - b) > tolerances.quantity(measure.value).allowed(a, b)
    if not (left.reported and right.reported):
        return False
    if measure in DATE_MEASURES:
        days = abs((_day(left.value) - _day(right.value)).days)
        return days > tolerances.date_days(measure.value)
    return left.value != right.value


def _number(value: Value) -> float:
    return float(value) if isinstance(value, (int, float, str)) and value != "" else 0.0


def _day(value: Value) -> date:
    return date.fromisoformat(str(value)[:10])


def consistency(lots_total: int, lots_disagreeing: int) -> float | None:
    """Share of lots on which both systems agree (None when there are no lots).

    >>> consistency(200, 3)
    0.985
    """
    if lots_total == 0:
        return None
    return round((lots_total - lots_disagreeing) / lots_total, 6)
