"""The physical world of the simulated plant: lots, stock in bins, work orders, shipments.

This is the ground truth. Exports are written *from* it, faults are injected *after*
it, and ``truth/`` is computed from it — never from the exported files.

>>> world = World()
>>> a = world.add_lot(LotInfo(gtin="1", lot="A", material="RM", kind="component",
...                           origin="received", quantity=10))
>>> b = world.add_lot(LotInfo(gtin="2", lot="B", material="FG", kind="finished",
...                           origin="produced", quantity=5, work_order="WO1"))
>>> world.add_work_order(WorkOrder(number="WO1", material="FG", output=b.key))
>>> world.consume("WO1", a.key, 10)
>>> sorted(world.ancestors(b.key)), sorted(world.descendants(a.key))
([('1', 'A')], [('2', 'B')])
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

LotKey = tuple[str, str]  # (gtin, lot)


@dataclass(slots=True)
class Shipment:
    delivery: str
    customer: str
    quantity: float = 0.0
    serials: list[str] = field(default_factory=list)


@dataclass(slots=True)
class LotInfo:
    gtin: str
    lot: str
    material: str
    kind: str  # finished | sub_assembly | component
    origin: str  # received | produced | opening_balance
    quantity: float
    uom: str = "EA"
    work_order: str | None = None  # the work order that made it
    supplier: str | None = None
    supplier_lot: str | None = None
    manufactured: str | None = None
    expiry: str | None = None
    serialised: bool = False
    status: str = "quarantine"  # quarantine | released | held | rejected
    consumed_by: list[str] = field(default_factory=list)
    shipments: dict[str, Shipment] = field(default_factory=dict)
    returned: float = 0.0
    scrapped: float = 0.0

    @property
    def key(self) -> LotKey:
        return (self.gtin, self.lot)


@dataclass(slots=True)
class WorkOrder:
    number: str
    material: str
    output: LotKey
    kind: str = "production"  # production | sub_assembly | rework
    inputs: dict[LotKey, float] = field(default_factory=dict)


class World:
    """Lots, stock per (lot, bin), serials per (lot, bin), work orders."""

    def __init__(self) -> None:
        self.lots: dict[LotKey, LotInfo] = {}
        self.work_orders: dict[str, WorkOrder] = {}
        self._stock: dict[LotKey, dict[str, float]] = defaultdict(dict)
        self._serials: dict[tuple[LotKey, str], list[str]] = {}
        # material -> lots that may hold stock, as an ordered set
        self._by_material: dict[str, dict[LotKey, None]] = defaultdict(dict)

    # ------------------------------------------------------------ lots and work orders
    def add_lot(self, lot: LotInfo) -> LotInfo:
        if lot.key in self.lots:
            raise ValueError(f"lot {lot.key} exists already")
        self.lots[lot.key] = lot
        return lot

    def add_work_order(self, order: WorkOrder) -> None:
        self.work_orders[order.number] = order

    def consume(self, work_order: str, key: LotKey, quantity: float) -> None:
        order = self.work_orders[work_order]
        order.inputs[key] = order.inputs.get(key, 0.0) + quantity
        consumers = self.lots[key].consumed_by
        if work_order not in consumers:
            consumers.append(work_order)

    # ------------------------------------------------------------ stock
    def put(
        self, key: LotKey, location: str, quantity: float, serials: list[str] | None = None
    ) -> None:
        self._by_material[self.lots[key].material][key] = None
        bins = self._stock[key]
        bins[location] = bins.get(location, 0.0) + quantity
        if serials:
            self._serials.setdefault((key, location), []).extend(serials)

    def take(self, key: LotKey, location: str, quantity: float) -> list[str]:
        """Remove stock from a bin; returns the serials removed (first in, first out)."""
        bins = self._stock[key]
        have = bins.get(location, 0.0)
        if quantity > have + 1e-9:
            raise ValueError(f"{key} at {location}: taking {quantity}, only {have} there")
        remaining = have - quantity
        if remaining <= 1e-9:
            del bins[location]
        else:
            bins[location] = remaining
        serials = self._serials.get((key, location))
        if not serials:
            return []
        count = round(quantity)
        taken, rest = serials[:count], serials[count:]
        if rest:
            self._serials[(key, location)] = rest
        else:
            del self._serials[(key, location)]
        return taken

    def move(self, key: LotKey, source: str, target: str, quantity: float) -> list[str]:
        serials = self.take(key, source, quantity)
        self.put(key, target, quantity, serials)
        return serials

    def bins_of(self, key: LotKey) -> dict[str, float]:
        return dict(self._stock.get(key, {}))

    def on_hand(self, key: LotKey) -> float:
        return sum(self._stock.get(key, {}).values())

    def serials_at(self, key: LotKey, location: str) -> list[str]:
        return list(self._serials.get((key, location), ()))

    def available_lots(self, material: str, zone_prefix: str) -> list[LotKey]:
        """Released lots of a material with stock in a zone, earliest expiry first."""
        listed = self._by_material.get(material, {})
        alive = [k for k in listed if self._stock.get(k)]
        if len(alive) < len(listed):
            self._by_material[material] = dict.fromkeys(alive)
        usable = [
            k for k in alive
            if self.lots[k].status == "released"
            and any(loc.startswith(zone_prefix) for loc in self._stock[k])
        ]
        return sorted(usable, key=lambda k: (self.lots[k].expiry or "", k[1]))

    def unreleased_lots(self, material: str) -> list[LotKey]:
        """Lots of a material with stock that are awaiting release or on hold."""
        return [k for k in self._by_material.get(material, {})
                if self._stock.get(k) and self.lots[k].status in ("quarantine", "held")]

    def zone_has_stock(self, zone: str) -> bool:
        """Whether any bin of a WMS zone (``RM`` holds ``RM-01-01`` …) holds stock."""
        prefix = f"{zone}-"
        return any(q > 1e-9 and location.startswith(prefix)
                   for bins in self._stock.values() for location, q in bins.items())

    def material_on_hand(self, material: str) -> float:
        """Stock of a material in lots that are released or still awaiting a decision."""
        return sum(
            self.on_hand(key)
            for key in self._by_material.get(material, {})
            if self.lots[key].status in ("released", "quarantine")
        )

    def stock_rows(self) -> list[tuple[str, str, str, float]]:
        """(gtin, lot, location, quantity) for every non-empty bin, sorted."""
        rows = [
            (key[0], key[1], location, quantity)
            for key, bins in self._stock.items()
            for location, quantity in bins.items()
            if quantity > 1e-9
        ]
        return sorted(rows)

    # ------------------------------------------------------------ genealogy
    def ancestors(self, key: LotKey) -> set[LotKey]:
        seen: set[LotKey] = set()
        stack = [key]
        while stack:
            lot = self.lots[stack.pop()]
            if lot.work_order is None:
                continue
            for parent in self.work_orders[lot.work_order].inputs:
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        return seen

    def descendants(self, key: LotKey) -> set[LotKey]:
        seen: set[LotKey] = set()
        stack = [key]
        while stack:
            for number in self.lots[stack.pop()].consumed_by:
                child = self.work_orders[number].output
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return seen
