"""``generate``: run the simulated plant and write its ERP and WMS exports and its truth.

>>> plan = Plan.for_scale(1.0)
>>> plan.days, round(plan.work_orders_per_day, 1)
(30, 4.0)
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tracebridge.errors import SimulationError
from tracebridge.sim.catalogue import COMPONENTS, CUSTOMERS, PRODUCTS, Product
from tracebridge.sim.context import Context
from tracebridge.sim.erp_export import ErpExport
from tracebridge.sim.faults import (
    FAULT_KINDS,
    OWN_STREAM_FAULTS,
    PLANT_FAULT_KINDS,
    FaultLog,
    FaultRates,
)
from tracebridge.sim.logistics import Logistics
from tracebridge.sim.master_export import write_master_data
from tracebridge.sim.production import Production
from tracebridge.sim.state import World
from tracebridge.sim.tracking_export import TrackingExport
from tracebridge.sim.truth import write_truth
from tracebridge.sim.wms_export import WmsExport

GO_LIVE = datetime(2026, 1, 5)  # local time, Asia/Shanghai
PRODUCT_MIX = {"FG-1001": 25, "FG-1002": 15, "FG-1003": 10, "FG-1101": 20, "FG-1102": 15,
               "FG-1201": 7, "FG-1202": 8}
WORK_ORDERS_PER_SCALE = 120
READINGS_PER_SCALE = 1200


class SimSummary(BaseModel):
    """What a run produced (also written as ``truth/summary.json``)."""

    model_config = ConfigDict(frozen=True)

    seed: int
    scale: float
    start: str
    end: str
    days: int
    records: dict[str, int]  # per export stream, re-sends and duplicates included
    total_records: int
    lots: int
    work_orders: int
    deliveries: int
    faults: dict[str, int]


@dataclass(frozen=True)
class Plan:
    days: int
    work_orders_per_day: float
    readings_per_day: int

    @classmethod
    def for_scale(cls, scale: float) -> Plan:
        if not 0 < scale <= 10_000:
            raise SimulationError(f"scale {scale} is out of range: expected 0 < scale <= 10000")
        days = max(14, min(365, round(30 * math.sqrt(scale))))
        return cls(
            days=days,
            work_orders_per_day=WORK_ORDERS_PER_SCALE * scale / days,
            readings_per_day=max(1, round(READINGS_PER_SCALE * scale / days)),
        )


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


class _Run:
    def __init__(self, ctx: Context, plan: Plan) -> None:
        self.ctx = ctx
        self.plan = plan
        self.production = Production(ctx)
        self.logistics = Logistics(ctx, self.production)
        self.backlog: list[tuple[Product, int, int]] = []
        self.intensity = plan.work_orders_per_day / (WORK_ORDERS_PER_SCALE / 30)
        self.usage = self._daily_usage()

    def _daily_usage(self) -> dict[str, float]:
        usage: dict[str, float] = {m: 0.0 for m in COMPONENTS}
        total = sum(PRODUCT_MIX.values())

        def add(material: str, units: float) -> None:
            if material in COMPONENTS:
                usage[material] += units
                return
            for line in PRODUCTS[material].bom:
                add(line.material, units * line.per_unit)

        for material, weight in PRODUCT_MIX.items():
            low, high = PRODUCTS[material].lot_size
            add(material, self.plan.work_orders_per_day * weight / total * (low + high) / 2)
        return usage

    def opening_balances(self) -> None:
        ctx = self.ctx
        moment = GO_LIVE + timedelta(minutes=30)
        for material, component in COMPONENTS.items():
            cartons = math.ceil(self.usage[material] * 4 / component.per_erp_unit) + 1
            ctx.clock.at(moment, functools.partial(
                self._opening, material, float(cartons * component.per_erp_unit), 90))
        for product in PRODUCTS.values():
            for age in (120, 200):
                size = self.production.lot_size(product)
                if age == 200 and ctx.plant_fault("expired_stock"):
                    # old stock taken over days before it expires: first out (FEFO), and
                    # whatever is left is shipped past its date
                    expiry = GO_LIVE + timedelta(days=ctx.fault_rng.randint(1, 3))
                    age = (GO_LIVE - _months_before(expiry, product.shelf_life_months)).days
                    ctx.log.note("expired_stock", "plant", product.material)
                elif (age == 120 and product.material_type == "FERT"
                      and ctx.plant_fault("short_shelf_life_shipment")):
                    age = self._short_dated_age(product)
                ctx.clock.at(moment, functools.partial(
                    self._opening, product.material, float(size), age))

    def _short_dated_age(self, product: Product) -> int:
        """Near-dated stock taken over at go-live: fewer days left than any hospital's
        contract asks (180 and more), more than a distributor's 90 — shipped first-expiry-
        first-out to whoever orders, it reaches customers it must not (``logistics``)."""
        days_left = self.ctx.fault_stream("short_shelf_life_shipment").randint(100, 170)
        expiry = GO_LIVE + timedelta(days=days_left)
        self.ctx.log.note("short_shelf_life_shipment", "plant", product.material)
        return (GO_LIVE - _months_before(expiry, product.shelf_life_months)).days

    def _opening(self, material: str, quantity: float, age_days: int) -> None:
        self.production.opening_balance(
            self.ctx.clock.now, material=material, quantity=quantity,
            manufactured=GO_LIVE - timedelta(days=age_days))

    def day(self, start: datetime) -> None:
        ctx = self.ctx
        rng = ctx.rng
        self.logistics.climate(start, self.plan.readings_per_day)
        ctx.clock.at(start + timedelta(hours=6, minutes=30), self.replenish)
        ctx.clock.at(start + timedelta(hours=7), self.plan_production)
        for product in sorted(PRODUCT_MIX):
            ctx.clock.at(start + timedelta(hours=9, minutes=rng.randint(0, 420)),
                         functools.partial(self.take_orders, product))
        for count, task in (
            (_poisson(rng, 0.4 * self.intensity), self.logistics.customer_return),
            (_poisson(rng, 0.3 * self.intensity), self.logistics.complaint),
            (_poisson(rng, 0.2 * self.intensity), self.logistics.damage),
            (_poisson(rng, 0.2 * self.intensity), self.rework),
        ):
            for _ in range(count):
                ctx.clock.at(start + timedelta(hours=8, minutes=rng.randint(0, 600)), task)
        if start.weekday() == 5:
            ctx.clock.at(start + timedelta(hours=15), self.logistics.stock_count)

    def replenish(self) -> None:
        ctx = self.ctx
        for material, component in COMPONENTS.items():
            if ctx.world.material_on_hand(material) >= 3 * self.usage[material]:
                continue
            # a big plant receives more deliveries, not bigger lots
            wanted = 4 * self.usage[material]
            while wanted > 0:
                low, high = component.receipt_size
                cartons = math.ceil(ctx.rng.randint(low, high) / component.per_erp_unit)
                quantity = cartons * component.per_erp_unit
                ctx.clock.at(ctx.clock.now + timedelta(minutes=ctx.rng.randint(60, 240)),
                             functools.partial(self._receive, material, float(quantity)))
                wanted -= quantity

    def _receive(self, material: str, quantity: float) -> None:
        self.production.receive(self.ctx.clock.now, material, quantity)

    def plan_production(self) -> None:
        ctx = self.ctx
        rng = ctx.rng
        names = sorted(PRODUCT_MIX)
        todo = self.backlog
        self.backlog = []
        for _ in range(_poisson(rng, self.plan.work_orders_per_day)):
            product = PRODUCTS[rng.choices(names, weights=[PRODUCT_MIX[n] for n in names])[0]]
            todo.append((product, self.production.lot_size(product), 0))
        self.production.pending_sub_assemblies.clear()
        for index, (product, quantity, tries) in enumerate(todo):
            short = self.production.shortages(product, quantity)
            if not short:
                ctx.clock.at(ctx.clock.now + timedelta(minutes=20 * index),
                             functools.partial(self._start, product, quantity))
                continue
            for material in short:
                if material in PRODUCTS and material not in self.production.pending_sub_assemblies:
                    self.production.pending_sub_assemblies.add(material)
                    sub = PRODUCTS[material]
                    need = sum(line.per_unit for line in product.bom
                               if line.material == material) * quantity
                    size = max(self.production.lot_size(sub), math.ceil(need))
                    if not self.production.shortages(sub, size):
                        ctx.clock.at(ctx.clock.now,
                                     functools.partial(self._start, sub, size, "sub"))
            if tries < 4:
                self.backlog.append((product, quantity, tries + 1))

    def _start(self, product: Product, quantity: int, kind: str = "") -> None:
        # the stock may have gone to an earlier order since planning
        if self.production.shortages(product, quantity):
            if not kind:
                self.backlog.append((product, quantity, 0))
            return
        self.production.start(product, quantity,
                              kind="sub_assembly" if kind else "production")

    def take_orders(self, material: str) -> None:
        ctx = self.ctx
        world = ctx.world
        product = PRODUCTS[material]
        stock = sum(world.on_hand(k) for k in world.available_lots(material, "FG"))
        customers = sorted(CUSTOMERS)
        typical = 12.0 if product.serialised else 1500.0
        for _ in range(_poisson(ctx.rng, stock / typical / 4)):
            customer = ctx.rng.choice(customers)
            distributor = CUSTOMERS[customer].kind == "distributor"
            if product.serialised:
                wanted = float(ctx.rng.randint(5, 20) if distributor else ctx.rng.randint(1, 6))
            else:
                wanted = 50.0 * (ctx.rng.randint(20, 80) if distributor else ctx.rng.randint(4, 20))
            if not self.logistics.ship_order(customer, material, wanted):
                return

    def rework(self) -> None:
        ctx = self.ctx
        lots = [k for m in ("FG-1001", "FG-1003", "FG-1101", "FG-1102")
                for k in ctx.world.available_lots(m, "FG")]
        if not lots:
            return
        key = ctx.rng.choice(lots)
        material = ctx.world.lots[key].material
        quantity = sum(q for b, q in ctx.world.bins_of(key).items() if b.startswith("FG"))
        if quantity < 500 or self.production.shortages(PRODUCTS[material], int(quantity)):
            return
        self.production.start(PRODUCTS[material], int(quantity), kind="rework", rework_of=key)


def _months_before(day: datetime, months: int) -> datetime:
    month = day.month - 1 - months
    return day.replace(year=day.year + month // 12, month=month % 12 + 1, day=min(day.day, 28))


def _clear(out: Path) -> None:
    """Remove files an earlier run left behind, so the directory holds one run only."""
    for sub, pattern in (("erp", "*.csv"), ("wms", "*.jsonl"), ("truth", "*.json*")):
        for path in (out / sub).glob(pattern):
            path.unlink()


def generate(out: Path, *, seed: int, scale: float, faults: FaultRates,
             progress: Callable[[int, int], None] | None = None) -> SimSummary:
    """Simulate the plant for ``Plan.for_scale(scale).days`` days and write ``out``.

    ``progress(done_days, total_days)`` is called after each simulated day.
    """
    plan = Plan.for_scale(scale)
    _clear(out)
    log = FaultLog()
    erp = ErpExport(out / "erp", rates=faults, log=log, seed=seed)
    wms = WmsExport(out / "wms", rates=faults, log=log, seed=seed)
    write_master_data(out / "erp")
    wms.write_locations()
    ctx = Context(rng=random.Random(f"{seed}:plant"), world=World(), erp=erp, wms=wms,
                  rates=faults, log=log, fault_rng=random.Random(f"{seed}:plant-faults"),
                  fault_streams={kind: random.Random(f"{seed}:{kind}")
                                 for kind in OWN_STREAM_FAULTS})
    run = _Run(ctx, plan)
    run.opening_balances()
    tracking = TrackingExport(out / "device-tracking", seed=seed)
    for day in range(plan.days):
        start = GO_LIVE + timedelta(days=day)
        ctx.clock.at(start + timedelta(hours=1), functools.partial(run.day, start))
        ctx.clock.run_until(start + timedelta(days=1))
        tracking.observe(ctx.world, start.date())
        if progress is not None:
            progress(day + 1, plan.days)
    end = GO_LIVE + timedelta(days=plan.days + 7)
    ctx.clock.run_until(end)  # let open work orders, deliveries and holds finish
    records = {f"erp.{k}": v for k, v in erp.close().items()}
    records.update({f"wms.{k}": v for k, v in wms.close().items()})
    summary = SimSummary(
        seed=seed, scale=scale, start=GO_LIVE.date().isoformat(),
        end=end.date().isoformat(), days=plan.days, records=records,
        total_records=sum(records.values()), lots=len(ctx.world.lots),
        work_orders=len(ctx.world.work_orders),
        deliveries=ctx.numbers.issued("delivery", 80000000),
        faults={kind: log.count(kind) for kind in FAULT_KINDS
                + tuple(k for k in PLANT_FAULT_KINDS if log.count(k))},
    )
    write_truth(out / "truth", world=ctx.world, faults=log.as_json(),
                summary=summary.model_dump(mode="json"), log=log,
                uninspected=run.production.uninspected)
    tracking.write(until=end.date(), truth_dir=out / "truth")
    return summary
