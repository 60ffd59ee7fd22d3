"""Warehouse and customer side of the simulated plant: orders, picking, packing into
SSCC cases and pallets, shipping, proof of delivery, returns, complaints, stock counts,
damage scrap and the warehouse climate.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from tracebridge.sim.catalogue import CUSTOMERS, PRODUCTS, WMS_ZONES
from tracebridge.sim.context import Context
from tracebridge.sim.erp_export import Movement
from tracebridge.sim.production import ERP_STORE_OF_ZONE, Production, lot_label
from tracebridge.sim.state import LotKey, Shipment

CASE_EA = 1000  # twenty boxes of 50
CASE_SERIALISED = 10
COMPLAINT_TEXTS = [
    ("LEAK", "Leakage at the spike/drip chamber joint during priming"),
    ("OCCL", "Roller clamp does not fully occlude the tubing"),
    ("PACK", "Pouch seal open on arrival, sterility compromised"),
    ("NEED", "Needle bent inside the protective cap"),
    ("LABL", "Expiry date on the box label hard to read"),
    ("PART", "Particles visible inside the drip chamber"),
]
REPORTERS = ["护士长 刘敏", "采购部 王磊", "设备科 陈晨", "Dr. Huang Wei", "QA 孙丽"]
# What the warehouse zones are specified for (°C min, °C max, % RH max): a reading outside
# them while a zone holds stock is a genuine excursion (the built-in pack's defaults).
STORAGE_LIMITS = (15.0, 25.0, 60.0)
# The complaint-cluster rule's threshold: this many complaints for one lot within the window.
COMPLAINT_THRESHOLD = 3
COMPLAINT_WINDOW = timedelta(days=30)


def utc_date(local: datetime) -> str:
    """The ISO UTC date of a plant (Asia/Shanghai) time."""
    return (local - timedelta(hours=8)).date().isoformat()


def shelf_life_shortfall(expiry: str | None, shipped_at: datetime,
                         minimum: int | None) -> str | None:
    """Why the expired-shipment rule must block a lot shipped at ``shipped_at`` (plant
    time) to a customer asking ``minimum`` days: ``"expired"``, ``"below_minimum"`` or
    ``None``. Days are counted between UTC dates, as the rule counts them.

    >>> shipped = datetime(2026, 3, 2, 10, 0)  # 02:00 UTC
    >>> [shelf_life_shortfall(expiry, shipped, 180)
    ...  for expiry in ("2026-03-01", "2026-08-28", "2026-08-29", None)]
    ['expired', 'below_minimum', None, None]
    >>> shelf_life_shortfall("2026-03-02", shipped, None)  # its last day
    """
    if not expiry:
        return None
    days_left = (date.fromisoformat(expiry) - date.fromisoformat(utc_date(shipped_at))).days
    if days_left < 0:
        return "expired"
    if minimum is not None and days_left < minimum:
        return "below_minimum"
    return None


@dataclass(slots=True)
class ShippedLine:
    delivery: str
    customer: str
    key: LotKey
    quantity: float
    serials: list[str] = field(default_factory=list)


class Logistics:
    def __init__(self, ctx: Context, production: Production) -> None:
        self.ctx = ctx
        self.production = production
        self.recent: deque[ShippedLine] = deque(maxlen=300)
        self.complaints: dict[LotKey, list[datetime]] = {}  # times of complaints naming a lot

    # ------------------------------------------------------------ outbound
    def ship_order(self, customer: str, material: str, wanted: float) -> bool:
        ctx = self.ctx
        world = ctx.world
        product = PRODUCTS[material]
        picks: list[tuple[LotKey, str, float]] = []
        remaining = wanted
        candidates = world.available_lots(material, "FG")
        zones: tuple[str, ...] = ("FG",)
        if ctx.plant_fault("unreleased_shipment"):
            # the picker takes a lot still awaiting release, or one on hold
            blocked = world.unreleased_lots(material)
            if blocked:
                candidates, zones = blocked[:1], ("FG", "QRT")
                ctx.log.note("unreleased_shipment", "plant", lot_label(blocked[0]))
                ctx.log.expect("unreleased-shipment", "lot", lot_label(blocked[0]))
        for key in candidates:
            for location, have in sorted(world.bins_of(key).items()):
                if remaining > 0 and location.startswith(zones):
                    take = min(have, remaining)
                    picks.append((key, location, take))
                    remaining -= take
        if not picks:
            return False
        now = ctx.clock.now
        delivery = str(ctx.numbers.next("delivery", 80000000))
        picker = ctx.person("warehouse")
        lines: list[tuple[LotKey, str, float, list[str]]] = []
        for key, location, quantity in picks:
            serials = world.serials_at(key, location)[: int(quantity)] if product.serialised else []
            pick = ctx.wms.transaction("PICK", now, sku=material, gtin=product.gtin, lot=key[1],
                                       qty=quantity, loc=location, user=picker.wms_user,
                                       serials=serials,
                                       ref={"delivery": delivery, "customer": customer})
            self._expect_held_units(pick, product.gtin, serials)
            lines.append((key, location, quantity, serials))
        cases = self._pack(now + timedelta(minutes=20), delivery, material, lines)
        top = cases[0]
        if len(cases) > 1:
            top = ctx.numbers.sscc()
            ctx.wms.pack(now + timedelta(minutes=40), sscc=top, loc="DOCK-01",
                         user=picker.wms_user, children=cases, delivery=delivery)
        shipped_at = now + timedelta(minutes=ctx.minutes(60, 180))
        per_lot: dict[LotKey, float] = {}
        # the rule also sees the pick; orders come in 09:00-16:00 plant time, so pick and
        # shipment fall on the same UTC day and count the same days left
        minimum = CUSTOMERS[customer].min_remaining_shelf_life_days
        for key, _location, _quantity, _serials in lines:
            shortfall = shelf_life_shortfall(world.lots[key].expiry, shipped_at, minimum)
            if shortfall:
                ctx.log.expect("expired-shipment", "lot", lot_label(key), kind=shortfall)
        for key, location, quantity, serials in lines:
            if world.take(key, location, quantity) != serials:
                raise RuntimeError(f"{key}: the serials shipped are not the ones picked")
            ship = ctx.wms.transaction("SHIP", shipped_at, sku=material, gtin=product.gtin,
                                       lot=key[1], qty=quantity, loc=location,
                                       user=picker.wms_user, serials=serials, sscc=top,
                                       ref={"delivery": delivery, "customer": customer})
            self._expect_held_units(ship, product.gtin, serials)
            shipment = world.lots[key].shipments.setdefault(delivery, Shipment(delivery, customer))
            shipment.quantity += quantity
            shipment.serials.extend(serials)
            per_lot[key] = per_lot.get(key, 0.0) + quantity
            self.recent.append(ShippedLine(delivery, customer, key, quantity, list(serials)))
        movements = [
            Movement("601", material, key[1], "FG01", quantity, picker.code,
                     customer=customer, delivery=delivery)
            for key, quantity in per_lot.items()
        ]
        ctx.erp.goods_movement(shipped_at, movements)
        delivered = shipped_at + timedelta(days=ctx.rng.randint(1, 3), hours=ctx.rng.randint(0, 6))
        items = list(per_lot.items())
        ctx.clock.at(delivered, lambda: self._proof_of_delivery(
            delivery, customer, material, items, shipped_at))
        return True

    def _expect_held_units(self, txn_id: str, gtin: str, serials: list[str]) -> None:
        """A pick or shipment naming a unit on hold is a ``held-serial-shipment`` — if the
        hold reached the integration first: a production receipt a fault holds back puts
        the unit on hold only when it arrives, after the records written before it."""
        wms = self.ctx.wms
        if any((gtin, serial) in self.ctx.held_units
               and wms.delivered(self.ctx.held_units[(gtin, serial)]) for serial in serials):
            self.ctx.log.expect("held-serial-shipment", "record", f"wms:{txn_id}")

    def _pack(self, moment: datetime, delivery: str, material: str,
              lines: list[tuple[LotKey, str, float, list[str]]]) -> list[str]:
        ctx = self.ctx
        product = PRODUCTS[material]
        cases: list[str] = []
        packer = ctx.person("warehouse").wms_user
        for key, _location, quantity, serials in lines:
            size = CASE_SERIALISED if product.serialised else CASE_EA
            for index in range(math.ceil(quantity / size)):
                content_qty = min(size, quantity - index * size)
                content: dict[str, Any] = {"sku": material, "gtin": product.gtin,
                                           "lot_no": key[1], "qty": int(content_qty)}
                if serials:
                    content["serials"] = serials[index * size:(index + 1) * size]
                case = ctx.numbers.sscc()
                ctx.wms.pack(moment, sscc=case, loc="DOCK-01", user=packer,
                             contents=[content], delivery=delivery)
                cases.append(case)
        return cases

    def _proof_of_delivery(self, delivery: str, customer: str, material: str,
                           items: list[tuple[LotKey, float]], shipped_at: datetime) -> None:
        for item, (key, quantity) in enumerate(items, start=1):
            self.ctx.erp.delivery_pod(self.ctx.clock.now, delivery=delivery, item=item * 10,
                                      customer=customer, material=material, lot=key[1],
                                      quantity_ea=quantity, goods_issue=shipped_at)

    # ------------------------------------------------------------ returns and complaints
    def customer_return(self) -> None:
        ctx = self.ctx
        candidates = [line for line in self.recent if line.quantity > 0]
        if not candidates:
            return
        line = ctx.rng.choice(candidates)
        lot = ctx.world.lots[line.key]
        if lot.serialised:
            serials = line.serials[:1]
            quantity = 1.0
        else:
            serials = []
            quantity = float(min(line.quantity, 50 * ctx.rng.randint(1, 3)))
        line.quantity -= quantity
        line.serials = line.serials[len(serials):]
        now = ctx.clock.now
        rma = str(ctx.numbers.next("rma", 60000000))
        clerk = ctx.person("warehouse")
        ctx.world.put(line.key, "RET-01", quantity, serials)
        lot.returned += quantity
        ctx.wms.transaction("RET", now, sku=lot.material, gtin=lot.gtin, lot=lot.lot, qty=quantity,
                            loc="RET-01", user=clerk.wms_user, serials=serials,
                            ref={"customer": line.customer, "delivery": line.delivery, "rma": rma})
        ctx.erp.goods_movement(now, [Movement("651", lot.material, lot.lot, "RT01", quantity,
                                              clerk.code, customer=line.customer,
                                              delivery=line.delivery)])
        restock = ctx.rng.random() < 0.5
        ctx.clock.at(now + timedelta(days=ctx.rng.randint(1, 2)),
                     lambda: self._dispose_return(line.key, quantity, restock))

    def _dispose_return(self, key: LotKey, quantity: float, restock: bool) -> None:
        ctx = self.ctx
        lot = ctx.world.lots[key]
        clerk = ctx.person("warehouse")
        now = ctx.clock.now
        if restock:
            target = self.production.bin_in("FG")
            serials = ctx.world.move(key, "RET-01", target, quantity)
            ctx.wms.transaction("MOV", now, sku=lot.material, gtin=lot.gtin, lot=lot.lot,
                                qty=quantity, loc=target, from_loc="RET-01", serials=serials,
                                user=clerk.wms_user)
            ctx.erp.goods_movement(now, [Movement("311", lot.material, lot.lot, "RT01", quantity,
                                                  clerk.code, to_storage_location="FG01")])
        else:
            serials = ctx.world.take(key, "RET-01", quantity)
            lot.scrapped += quantity
            ctx.wms.transaction("SCR", now, sku=lot.material, gtin=lot.gtin, lot=lot.lot,
                                qty=quantity, loc="RET-01", user=clerk.wms_user,
                                serials=serials, reason="RET")
            ctx.erp.goods_movement(now, [Movement("551", lot.material, lot.lot, "RT01", quantity,
                                                  clerk.code, reason="RET")])

    def complaint(self) -> None:
        ctx = self.ctx
        if not self.recent:
            return
        line = ctx.rng.choice(list(self.recent))
        lot = ctx.world.lots[line.key]
        now = ctx.clock.now
        defect, text = ctx.rng.choice(COMPLAINT_TEXTS)
        with_lot = ctx.rng.random() < 0.8
        customer = CUSTOMERS[line.customer]
        if with_lot:
            self._count_complaint(line.key, now)
            if ctx.plant_fault("complaint_cluster"):
                ctx.log.note("complaint_cluster", "plant", lot_label(line.key))
                for _ in range(2):  # the same defect reaches other customers too
                    later = now + timedelta(days=ctx.fault_rng.randint(1, 6),
                                            minutes=ctx.fault_rng.randint(0, 600))
                    ctx.clock.at(later, functools.partial(self._follow_up_complaint, line.key))
        ctx.erp.complaint(now, number=str(ctx.numbers.next("notification", 200000000)),
                          kind="Q1", customer=line.customer, material=lot.material,
                          lot=lot.lot if with_lot else "", text=text,
                          reporter=ctx.rng.choice(REPORTERS), phone=customer.phone,
                          defect=defect, user=ctx.person("quality_inspector").code)
        inspection_lot = self.production.inspection_lot_of.get(line.key)
        if with_lot and inspection_lot and lot.status == "released" and ctx.rng.random() < 0.3:
            ctx.erp.complaint(now + timedelta(hours=2),
                              number=str(ctx.numbers.next("notification", 200000000)),
                              kind="Q3", customer=line.customer, material=lot.material,
                              lot=lot.lot, text=f"Investigation of complaint: {text}",
                              reporter="QA", phone="", defect=defect,
                              user=ctx.person("quality_inspector").code)
            ctx.clock.at(now + timedelta(hours=3),
                         lambda: self.production._decide(line.key, "H1", "Complaint investigation"))
            ctx.clock.at(now + timedelta(days=ctx.rng.randint(2, 5)),
                         lambda: self.production._decide(line.key, "F1", "No defect confirmed"))

    def _count_complaint(self, key: LotKey, moment: datetime) -> None:
        """The complaint-cluster rule's truth: a third complaint within the window."""
        times = [t for t in self.complaints.get(key, []) if moment - t <= COMPLAINT_WINDOW]
        self.complaints[key] = [*times, moment]
        if len(times) + 1 >= COMPLAINT_THRESHOLD:
            self.ctx.log.expect("complaint-cluster", "lot", lot_label(key))

    def _follow_up_complaint(self, key: LotKey) -> None:
        ctx = self.ctx
        lot = ctx.world.lots[key]
        now = ctx.clock.now
        customer = ctx.fault_rng.choice(sorted(CUSTOMERS))
        defect, text = ctx.fault_rng.choice(COMPLAINT_TEXTS)
        self._count_complaint(key, now)
        ctx.erp.complaint(now, number=str(ctx.numbers.next("notification", 200000000)),
                          kind="Q1", customer=customer, material=lot.material, lot=lot.lot,
                          text=text, reporter=ctx.fault_rng.choice(REPORTERS),
                          phone=CUSTOMERS[customer].phone, defect=defect,
                          user=ctx.person("quality_inspector").code)

    # ------------------------------------------------------------ warehouse housekeeping
    def stock_count(self) -> None:
        ctx = self.ctx
        rows = [r for r in ctx.world.stock_rows() if r[2][:2] in ("FG", "RM")]
        for gtin, lot_no, location, quantity in ctx.rng.sample(rows, min(5, len(rows))):
            lot = ctx.world.lots[(gtin, lot_no)]
            if lot.serialised or ctx.rng.random() > 0.3:
                continue
            delta = float(ctx.rng.choice((-3, -2, -1, 1, 2)))
            if delta < 0 and quantity + delta < 0:
                continue
            now = ctx.clock.now
            if delta > 0:
                ctx.world.put(lot.key, location, delta)
            else:
                ctx.world.take(lot.key, location, -delta)
            clerk = ctx.person("warehouse")
            ctx.wms.transaction("CNT", now, sku=lot.material, gtin=gtin, lot=lot_no, qty=delta,
                                loc=location, user=clerk.wms_user, counted=quantity + delta,
                                expected=quantity)
            ctx.erp.goods_movement(now, [Movement("701" if delta > 0 else "702", lot.material,
                                                  lot_no, ERP_STORE_OF_ZONE[location[:2]],
                                                  abs(delta), clerk.code, reason="CNT")])

    def damage(self) -> None:
        ctx = self.ctx
        rows = [r for r in ctx.world.stock_rows() if r[2].startswith("FG") and r[3] >= 100]
        if not rows:
            return
        gtin, lot_no, location, _ = ctx.rng.choice(rows)
        lot = ctx.world.lots[(gtin, lot_no)]
        if lot.serialised:
            return
        clerk = ctx.person("warehouse")
        ctx.world.take(lot.key, location, 50.0)
        lot.scrapped += 50.0
        ctx.wms.transaction("SCR", ctx.clock.now, sku=lot.material, gtin=gtin, lot=lot_no, qty=50,
                            loc=location, user=clerk.wms_user, reason="DMG")
        ctx.erp.goods_movement(ctx.clock.now, [Movement("551", lot.material, lot_no, "FG01", 50.0,
                                                        clerk.code, reason="DMG")])

    def climate(self, day: datetime, readings: int) -> None:
        ctx = self.ctx
        zones = sorted(WMS_ZONES)
        for index in range(readings):
            zone = zones[index % len(zones)]
            moment = day + timedelta(minutes=int(index * 1440 / max(readings, 1)) + 7)
            excursion = ctx.rng.random() < 0.01
            temperature = ctx.rng.uniform(26, 29) if excursion else ctx.rng.uniform(18, 24)
            ctx.clock.at(moment, functools.partial(self._reading, zone, temperature))

    def _reading(self, zone: str, temperature: float) -> None:
        ctx = self.ctx
        humidity = ctx.rng.uniform(35, 58)
        reading = ctx.wms.environment(ctx.clock.now, zone=zone, temperature=temperature,
                                      humidity=humidity)
        low, high, humid = STORAGE_LIMITS
        outside = not low <= round(temperature, 1) <= high or round(humidity, 1) > humid
        if outside and ctx.world.zone_has_stock(zone):
            ctx.log.expect("storage-excursion", "record", f"wms:{reading}")
