"""Effectiveness checks (21 CFR 7.42(b)(3)) and units accounted for — pure arithmetic.

The level chosen in the recall strategy says what share of the consignees at the
recall's depth must be checked (REQ 33): A = all, B = more than 10 % and less than all,
C = 10 %, D = 2 %, E = none. For level B we choose **half** (rounded up), kept strictly
between the C count and all of them whenever the consignee count allows it. Counts are
rounded up, so a small recall still checks somebody at levels C and D.

>>> [consignees_to_check(level, 50) for level in EffectivenessLevel]
[50, 25, 5, 1, 0]
>>> consignees_to_check(EffectivenessLevel.D, 3)
1

A consignee's units are *accounted for* when its response says they are on hand (held
for return or correction) or were already returned or corrected; the share never
exceeds what was shipped to it. A consignee is *open* until it responded and every unit
shipped to it is accounted for.

>>> account(shipped=10, on_hand=4, returned=3, responded=True).percent
70.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tracebridge.domain.recall import EffectivenessLevel

LEVEL_B_SHARE = 0.5
_SHARE = {EffectivenessLevel.A: 1.0, EffectivenessLevel.B: LEVEL_B_SHARE,
          EffectivenessLevel.C: 0.10, EffectivenessLevel.D: 0.02, EffectivenessLevel.E: 0.0}


def consignees_to_check(level: EffectivenessLevel, consignees: int) -> int:
    """How many of ``consignees`` to contact for effectiveness checks at ``level`` (REQ 33)."""
    if consignees < 0:
        raise ValueError(f"consignee count must not be negative, given {consignees}")
    count = math.ceil(consignees * _SHARE[level] - 1e-9)
    if level is EffectivenessLevel.B and consignees > 1:
        # strictly more than 10 % and strictly fewer than all, where integers allow it
        above_c = math.floor(consignees * 0.10) + 1
        count = max(above_c, min(count, consignees - 1))
    return count


@dataclass(frozen=True, slots=True)
class Accounting:
    shipped: float
    accounted: float
    responded: bool

    @property
    def percent(self) -> float:
        if self.shipped <= 0:
            return 100.0
        return round(100.0 * self.accounted / self.shipped, 2)

    @property
    def open(self) -> bool:
        return not self.responded or self.accounted + 1e-9 < self.shipped


def account(*, shipped: float, on_hand: float, returned: float, responded: bool) -> Accounting:
    """Units of one consignee accounted for by its response (capped at what it received)."""
    return Accounting(shipped=shipped, accounted=min(shipped, max(0.0, on_hand + returned)),
                      responded=responded)


def total(parts: list[Accounting]) -> Accounting:
    """All consignees together: responded only when every one of them did."""
    return Accounting(shipped=sum(p.shipped for p in parts),
                      accounted=sum(p.accounted for p in parts),
                      responded=all(p.responded for p in parts))
