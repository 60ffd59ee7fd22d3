"""What every part of the simulation shares: the clock, number ranges, the world, the exports.

The plant is a discrete-event simulation: a task scheduled for a local time runs when
the clock reaches it and may schedule more tasks. Ties run in the order scheduled, so
a seed always replays the same history.

>>> clock = Scheduler()
>>> ran: list[str] = []
>>> clock.at(datetime(2026, 1, 5, 9), lambda: ran.append("second"))
>>> clock.at(datetime(2026, 1, 5, 8), lambda: ran.append("first"))
>>> clock.run_until(datetime(2026, 1, 6))
>>> ran
['first', 'second']
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from tracebridge.sim.catalogue import OPERATORS, OWN_PREFIX, Operator
from tracebridge.sim.erp_export import ErpExport
from tracebridge.sim.faults import FaultLog, FaultRates
from tracebridge.sim.identifiers import sscc
from tracebridge.sim.state import World
from tracebridge.sim.wms_export import WmsExport


class Scheduler:
    def __init__(self) -> None:
        self._queue: list[tuple[datetime, int, Callable[[], None]]] = []
        self._sequence = 0
        self.now = datetime(1970, 1, 1)

    def at(self, moment: datetime, task: Callable[[], None]) -> None:
        self._sequence += 1
        heapq.heappush(self._queue, (moment, self._sequence, task))

    def run_until(self, end: datetime) -> None:
        while self._queue and self._queue[0][0] < end:
            moment, _, task = heapq.heappop(self._queue)
            self.now = moment
            task()

    def pending(self) -> int:
        return len(self._queue)


class Numbers:
    """The number ranges of both systems (purchase orders, work orders, deliveries ...)."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}
        self._daily: dict[tuple[str, date], int] = {}

    def next(self, name: str, start: int) -> int:
        value = self._next.get(name, start) + 1
        self._next[name] = value
        return value

    def issued(self, name: str, start: int) -> int:
        """How many numbers of a range have been handed out."""
        return self._next.get(name, start) - start

    def daily(self, name: str, day: date) -> int:
        key = (name, day)
        value = self._daily.get(key, 0) + 1
        if len(self._daily) > 64:  # only today's counters matter
            self._daily = {k: v for k, v in self._daily.items() if k[1] >= day}
        self._daily[key] = value
        return value

    def sscc(self) -> str:
        return sscc(company_prefix=OWN_PREFIX, serial_reference=self.next("sscc", 0),
                    extension=self._next["sscc"] % 10)


@dataclass
class Context:
    rng: random.Random
    world: World
    erp: ErpExport
    wms: WmsExport
    clock: Scheduler = field(default_factory=Scheduler)
    numbers: Numbers = field(default_factory=Numbers)
    rates: FaultRates = field(default_factory=FaultRates.none)
    log: FaultLog = field(default_factory=FaultLog)
    # plant faults draw from their own stream, so enabling one leaves the rest of the
    # history as it was
    fault_rng: random.Random = field(default_factory=lambda: random.Random(0))
    fault_streams: dict[str, random.Random] = field(default_factory=dict)  # kind -> own stream
    # units on hold in the integration, (GTIN, serial) -> the WMS transaction whose arrival
    # puts them there (the production receipt repeating a serial: rule duplicate-serial)
    held_units: dict[tuple[str, str], str] = field(default_factory=dict)

    def fault_stream(self, kind: str) -> random.Random:
        """The random stream the plant fault ``kind`` draws from."""
        return self.fault_streams.get(kind, self.fault_rng)

    def plant_fault(self, kind: str) -> bool:
        """Whether the plant fault ``kind`` (a ``FaultRates`` field) strikes now."""
        rate: float = getattr(self.rates, kind)
        return rate > 0 and self.fault_stream(kind).random() < rate

    def person(self, role: str) -> Operator:
        people = [o for o in OPERATORS.values() if o.role == role]
        return self.rng.choice(people)

    def minutes(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)
