"""Warehouse and customer side of the simulated plant: orders, picking, packing into
SSCC cases and pallets, shipping, proof of delivery, returns, complaints, stock counts,
damage scrap and the warehouse climate.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tracebridge.sim.catalogue import CUSTOMERS, PRODUCTS, WMS_ZONES
from tracebridge.sim.context import Context
from tracebridge.sim.erp_export import Movement
from tracebridge.sim.production import ERP_STORE_OF_ZONE, Production
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

    # ------------------------------------------------------------ outbound
    def ship_order(self, customer: str, material: str, wanted: float) -> bool:
        ctx = self.ctx
        world = ctx.world
        product = PRODUCTS[material]
        picks: list[tuple[LotKey, str, float]] = []
        remaining = wanted
        for key in world.available_lots(material, "FG"):
            for location, have in sorted(world.bins_of(key).items()):
                if remaining > 0 and location.startswith("FG"):
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
            ctx.wms.transaction("PICK", now, sku=material, gtin=product.gtin, lot=key[1],
                                qty=quantity, loc=location, user=picker.wms_user,
                                serials=serials, ref={"delivery": delivery, "customer": customer})
            lines.append((key, location, quantity, serials))
        cases = self._pack(now + timedelta(minutes=20), delivery, material, lines)
        top = cases[0]
        if len(cases) > 1:
            top = ctx.numbers.sscc()
            ctx.wms.pack(now + timedelta(minutes=40), sscc=top, loc="DOCK-01",
                         user=picker.wms_user, children=cases, delivery=delivery)
        shipped_at = now + timedelta(minutes=ctx.minutes(60, 180))
        per_lot: dict[LotKey, float] = {}
        for key, location, quantity, serials in lines:
            if world.take(key, location, quantity) != serials:
                raise RuntimeError(f"{key}: the serials shipped are not the ones picked")
            ctx.wms.transaction("SHIP", shipped_at, sku=material, gtin=product.gtin, lot=key[1],
                                qty=quantity, loc=location, user=picker.wms_user,
                                serials=serials, sscc=top,
                                ref={"delivery": delivery, "customer": customer})
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
        ctx.wms.environment(ctx.clock.now, zone=zone, temperature=temperature,
                            humidity=ctx.rng.uniform(35, 58))
