"""Purchasing, incoming inspection, work orders and batch release in the simulated plant.

A work order issues its component lots (first to expire, first out), runs its process
steps (assembly, sealing, EO sterilisation, final inspection), receives its output lot
into quarantine and, after the usage decision, puts it away. Rework orders consume a
released finished lot again; final assemblies consume sub-assembly lots.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from tracebridge.sim.catalogue import COMPONENTS, PRODUCTS, SUPPLIERS, Product, wms_bins
from tracebridge.sim.context import Context
from tracebridge.sim.erp_export import Movement
from tracebridge.sim.state import LotInfo, LotKey, WorkOrder

ZONE_OF_KIND = {"component": "RM", "sub_assembly": "WIP", "finished": "FG"}
ERP_STORE_OF_ZONE = {"RM": "RM01", "WIP": "WP01", "FG": "FG01", "QRT": "FG01", "RET": "RT01"}
LINE_OF = {"FG-1001": "AL-01", "FG-1002": "AL-02", "FG-1003": "AL-02", "FG-1101": "AL-03",
           "FG-1102": "AL-03", "FG-1201": "CR-01", "FG-1202": "CR-01", "SA-2001": "AL-01",
           "SA-2002": "CR-01"}
_BINS: dict[str, list[str]] = {}
for _code, _zone in wms_bins():
    _BINS.setdefault(_zone, []).append(_code)


def lot_label(key: LotKey) -> str:
    return f"{key[0]}/{key[1]}"


def add_months(day: datetime, months: int) -> str:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return f"{year:04d}-{month:02d}-{min(day.day, 28):02d}"


class Production:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.inspection_lot_of: dict[LotKey, str] = {}
        self.pending_sub_assemblies: set[str] = set()
        self.wrong_issue_rate = 0.08
        self.excursion_rate = 0.05
        self.final_failure_rate = 0.01
        self.incoming_failure_rate = 0.01
        self.failed_but_released: set[LotKey] = set()  # the unusable_component fault
        self.uninspected: set[LotKey] = set()  # the skipped_inspection fault

    def bin_in(self, zone: str) -> str:
        return self.ctx.rng.choice(_BINS[zone])

    # ------------------------------------------------------------ opening balances
    def opening_balance(self, moment: datetime, *, material: str, quantity: float,
                        manufactured: datetime) -> None:
        ctx = self.ctx
        product = PRODUCTS.get(material)
        kind = "component" if product is None else (
            "finished" if product.material_type == "FERT" else "sub_assembly")
        gtin = COMPONENTS[material].gtin if product is None else product.gtin
        number = ctx.numbers.next("opening", 0)
        lot = LotInfo(
            gtin=gtin, lot=f"OB{manufactured:%y%m}{number:04d}", material=material, kind=kind,
            origin="opening_balance", quantity=quantity,
            manufactured=manufactured.date().isoformat(),
            expiry=add_months(manufactured, product.shelf_life_months if product else 60),
            serialised=bool(product and product.serialised), status="released",
        )
        ctx.world.add_lot(lot)
        serials = self._serials(product, int(quantity)) if lot.serialised and product else []
        zone = ZONE_OF_KIND[kind]
        location = self.bin_in(zone)
        ctx.world.put(lot.key, location, quantity, serials)
        user = ctx.person("warehouse")
        ctx.wms.transaction("OPN", moment, sku=material, gtin=gtin, lot=lot.lot, qty=quantity,
                            loc=location, user=user.wms_user, serials=serials,
                            mfg_date=lot.manufactured, exp_date=lot.expiry)
        ctx.erp.goods_movement(moment, [Movement(
            "561", material, lot.lot, ERP_STORE_OF_ZONE[zone], quantity, user.code,
            manufactured=lot.manufactured or "", expiry=lot.expiry or "")])

    # ------------------------------------------------------------ purchasing
    def receive(self, moment: datetime, material: str, quantity: float) -> None:
        ctx = self.ctx
        component = COMPONENTS[material]
        supplier = SUPPLIERS[component.supplier]
        number = ctx.numbers.next("component-lot", 0)
        lot = LotInfo(
            gtin=component.gtin, lot=f"C{number:08d}", material=material, kind="component",
            origin="received", quantity=quantity, supplier=supplier.code,
            supplier_lot=f"{supplier.code[-2:]}{moment:%y%j}-{ctx.rng.randint(100, 999)}",
            manufactured=(moment - timedelta(days=ctx.rng.randint(10, 60))).date().isoformat(),
            expiry=add_months(moment, 60),
        )
        ctx.world.add_lot(lot)
        po = str(ctx.numbers.next("po", 4500000000))
        clerk = ctx.person("warehouse")
        ctx.world.put(lot.key, "DOCK-01", quantity)
        ctx.wms.transaction("RCV", moment, sku=material, gtin=lot.gtin, lot=lot.lot, qty=quantity,
                            loc="DOCK-01", user=clerk.wms_user,
                            ref={"po": po, "supplier": supplier.code,
                                 "supplier_lot": lot.supplier_lot})
        ctx.erp.goods_movement(moment, [Movement(
            "101", material, lot.lot, "RM01", quantity, clerk.code, supplier=supplier.code,
            supplier_lot=lot.supplier_lot or "", po=po, purchase=True,
            manufactured=lot.manufactured or "", expiry=lot.expiry or "")])
        ctx.clock.at(moment + timedelta(minutes=ctx.minutes(20, 60)),
                     lambda: self._put_away(lot.key, "DOCK-01", "RM"))
        ctx.clock.at(moment + timedelta(minutes=ctx.minutes(90, 180)),
                     lambda: self._incoming_inspection(lot.key))

    def _put_away(self, key: LotKey, source: str, zone: str) -> None:
        ctx = self.ctx
        lot = ctx.world.lots[key]
        target = self.bin_in(zone)
        quantity = ctx.world.bins_of(key).get(source, 0.0)
        if quantity <= 0:
            return
        serials = ctx.world.move(key, source, target, quantity)
        ctx.wms.transaction("PUT", ctx.clock.now, sku=lot.material, gtin=lot.gtin, lot=lot.lot,
                            qty=quantity, loc=target, from_loc=source, serials=serials,
                            user=ctx.person("warehouse").wms_user)

    def _incoming_inspection(self, key: LotKey) -> None:
        ctx = self.ctx
        lot = ctx.world.lots[key]
        now = ctx.clock.now
        inspection_lot = str(ctx.numbers.next("inspection-lot", 10000000))
        inspector = ctx.person("quality_inspector").code
        fail = ctx.rng.random() < self.incoming_failure_rate
        # the plant fault: the lot fails, and is released and used all the same
        released_anyway = not fail and ctx.plant_fault("unusable_component")
        if fail or released_anyway:
            ctx.log.expect("failed-inspection", "lot", lot_label(key))
        if released_anyway:
            self.failed_but_released.add(key)
            ctx.log.note("unusable_component", "plant", lot_label(key))
        measured = round(ctx.rng.uniform(0.9, 1.1) + (0.5 if fail or released_anyway else 0), 3)
        # the plant fault: the lot is inspected on paper only, its results never posted
        if not (fail or released_anyway) and ctx.plant_fault("skipped_inspection"):
            self.uninspected.add(key)
            ctx.log.note("skipped_inspection", "erp", inspection_lot)
        else:
            ctx.erp.inspection(now, inspection_lot=inspection_lot, characteristic_no=10,
                               stage="incoming", material=lot.material, lot=lot.lot,
                               text="Dimensional check (AQL 1.0)", unit="MM",
                               measured=measured, lower=0.85, upper=1.15, inspector=inspector)
            ctx.erp.inspection(now + timedelta(minutes=5), inspection_lot=inspection_lot,
                               characteristic_no=20, stage="incoming", material=lot.material,
                               lot=lot.lot, text="Certificate of analysis present", unit="",
                               measured=1, lower=1, upper=1, inspector=inspector)
        self.inspection_lot_of[key] = inspection_lot
        decided = now + timedelta(minutes=ctx.minutes(30, 90))
        qp = ctx.person("qualified_person").code
        if fail:
            lot.status = "rejected"
            ctx.erp.usage_decision(decided, inspection_lot=inspection_lot, code="R1",
                                   material=lot.material, lot=lot.lot, person=qp,
                                   text="Dimensions out of tolerance")
            ctx.clock.at(decided + timedelta(hours=2), lambda: self.scrap_all(key, "IQC"))
        else:
            lot.status = "released"
            ctx.erp.usage_decision(decided, inspection_lot=inspection_lot, code="A1",
                                   material=lot.material, lot=lot.lot, person=qp,
                                   text="Accepted")

    def scrap_all(self, key: LotKey, reason: str) -> None:
        ctx = self.ctx
        lot = ctx.world.lots[key]
        user = ctx.person("warehouse")
        for location, quantity in sorted(ctx.world.bins_of(key).items()):
            serials = ctx.world.take(key, location, quantity)
            lot.scrapped += quantity
            ctx.wms.transaction("SCR", ctx.clock.now, sku=lot.material, gtin=lot.gtin,
                                lot=lot.lot, qty=quantity, loc=location, user=user.wms_user,
                                serials=serials, reason=reason)
            ctx.erp.goods_movement(ctx.clock.now, [Movement(
                "551", lot.material, lot.lot, ERP_STORE_OF_ZONE[location.split("-")[0]],
                quantity, user.code, reason=reason)])

    # ------------------------------------------------------------ work orders
    def shortages(self, product: Product, quantity: int) -> list[str]:
        """Materials the work order could not issue now."""
        short = []
        for line in product.bom:
            need = line.per_unit * quantity
            zone = "WIP" if line.material in PRODUCTS else "RM"
            have = sum(
                self.ctx.world.bins_of(k).get(b, 0.0)
                for k in self.ctx.world.available_lots(line.material, zone)
                for b in self.ctx.world.bins_of(k) if b.startswith(zone)
            )
            if have < need:
                short.append(line.material)
        return short

    def lot_size(self, product: Product) -> int:
        low, high = product.lot_size
        step = 50 if product.erp_unit == "BOX" else 1
        return self.ctx.rng.randint(low // step, high // step) * step

    def start(self, product: Product, quantity: int, *, kind: str = "production",
              rework_of: LotKey | None = None) -> str:
        ctx = self.ctx
        now = ctx.clock.now
        order = str(ctx.numbers.next("work-order", 1000000))
        prefix = {"production": "", "sub_assembly": "S", "rework": "R"}[kind]
        lot_no = f"{prefix}{now:%y%m%d}{ctx.numbers.daily('lot', now.date()):03d}"
        lot = ctx.world.add_lot(LotInfo(
            gtin=product.gtin, lot=lot_no, material=product.material,
            kind="finished" if product.material_type == "FERT" else "sub_assembly",
            origin="produced", quantity=quantity, work_order=order,
            manufactured=now.date().isoformat(),
            expiry=add_months(now, product.shelf_life_months), serialised=product.serialised,
        ))
        ctx.world.add_work_order(WorkOrder(order, product.material, lot.key, kind))
        operator = ctx.person("production")
        lines: list[Movement] = []
        bom = [b for b in product.bom if b.material.startswith("PK")] if rework_of else product.bom
        for line in bom:
            zone = "WIP" if line.material in PRODUCTS else "RM"
            remaining = line.per_unit * quantity
            for key in ctx.world.available_lots(line.material, zone):
                for location, have in sorted(ctx.world.bins_of(key).items()):
                    if remaining <= 0 or not location.startswith(zone):
                        continue
                    take = min(have, remaining)
                    remaining -= take
                    self._issue(order, key, location, take, operator.wms_user)
                    lines.append(Movement("261", line.material, key[1], ERP_STORE_OF_ZONE[zone],
                                          take, operator.code, order=order))
        if rework_of:
            for location, have in sorted(ctx.world.bins_of(rework_of).items()):
                if location.startswith("FG"):
                    self._issue(order, rework_of, location, have, operator.wms_user)
            source = ctx.world.lots[rework_of]
            lines.insert(0, Movement("261", source.material, source.lot, "FG01", float(quantity),
                                     operator.code, order=order))
        self._post_issue(now, order, lines)
        self._schedule_steps(order, product, lot.key, now)
        return order

    def _issue(self, order: str, key: LotKey, location: str, quantity: float, user: str) -> None:
        ctx = self.ctx
        lot = ctx.world.lots[key]
        serials = ctx.world.take(key, location, quantity)
        ctx.world.consume(order, key, quantity)
        if key in self.failed_but_released:
            ctx.log.expect("unusable-component", "lot", lot_label(key))
        ctx.wms.transaction("ISS", ctx.clock.now, sku=lot.material, gtin=lot.gtin, lot=lot.lot,
                            qty=quantity, loc=location, user=user, serials=serials,
                            ref={"order": order})

    def _post_issue(self, now: datetime, order: str, lines: list[Movement]) -> None:
        """The ERP goods issue; now and then a wrong lot is posted and reversed (262)."""
        ctx = self.ctx
        if lines and ctx.rng.random() < self.wrong_issue_rate:
            for right in lines:
                zone = "WIP" if right.material in PRODUCTS else "RM"
                others = [k for k in ctx.world.available_lots(right.material, zone)
                          if k[1] != right.lot]
                if not others:
                    continue
                wrong = ctx.rng.choice(others)
                mistake = Movement("261", right.material, wrong[1], right.storage_location,
                                   right.quantity_ea, right.user, order=order)
                if wrong in self.failed_but_released:  # posted, if only by mistake
                    ctx.log.expect("unusable-component", "lot", lot_label(wrong))
                posted = ctx.erp.goods_movement(now, [mistake], protected=True)
                reversal = Movement("262", right.material, wrong[1], right.storage_location,
                                    right.quantity_ea, right.user, order=order,
                                    reverses=posted[0])
                ctx.erp.goods_movement(now + timedelta(minutes=ctx.minutes(5, 40)), [reversal],
                                       protected=True)
                break
        if lines:
            ctx.erp.goods_movement(now + timedelta(minutes=1), lines)

    # ------------------------------------------------------------ process steps
    def _serials(self, product: Product, count: int) -> list[str]:
        first = self.ctx.numbers.next(f"serial-{product.material}", 0)
        for _ in range(count - 1):
            self.ctx.numbers.next(f"serial-{product.material}", 0)
        return [f"{product.material[-4:]}{first + i:08d}" for i in range(count)]

    def _confirm(self, start: datetime, hours: float, order: str, key: LotKey, operation: str,
                 text: str, equipment: str, sensors: dict[str, float]) -> None:
        ctx = self.ctx
        lot = ctx.world.lots[key]
        ctx.erp.confirmation(start, start + timedelta(hours=hours),
                             confirmation=str(ctx.numbers.next("confirmation", 30000000)),
                             counter=1, order=order, operation=operation, text=text,
                             equipment=equipment, person=ctx.person("production").code,
                             material=lot.material, lot=lot.lot, yield_ea=lot.quantity,
                             sensors=sensors)

    def _schedule_steps(self, order: str, product: Product, key: LotKey, start: datetime) -> None:
        ctx = self.ctx
        rng = ctx.rng
        line = LINE_OF[product.material]
        inspection_lot = str(ctx.numbers.next("inspection-lot", 10000000))
        self.inspection_lot_of[key] = inspection_lot
        inspector = ctx.person("quality_inspector").code
        lot = ctx.world.lots[key]
        t_assembly = start + timedelta(minutes=ctx.minutes(30, 90))
        self._confirm(t_assembly, 1.5, order, key, "0010", "Assembly", line, {})
        t_check = t_assembly + timedelta(hours=2)
        if product.material_type == "FERT":
            sealer = "SL-02" if product.serialised else "SL-01"
            self._confirm(t_assembly + timedelta(hours=1.6), 1.0, order, key, "0020",
                          "Sterile barrier sealing", sealer,
                          {"SEAL_TEMP_C": round(rng.uniform(178, 186), 2)})
            ctx.erp.inspection(t_check, inspection_lot=inspection_lot, characteristic_no=10,
                               stage="in_process", material=lot.material, lot=lot.lot,
                               text="Seal peel strength", unit="N",
                               measured=round(rng.uniform(2.0, 4.5), 3), lower=1.5, upper=5.0,
                               inspector=inspector)
        else:
            ctx.erp.inspection(t_check, inspection_lot=inspection_lot, characteristic_no=10,
                               stage="in_process", material=lot.material, lot=lot.lot,
                               text="Leak test pressure decay", unit="KPA",
                               measured=round(rng.uniform(0.1, 0.8), 3), lower=0.0, upper=1.0,
                               inspector=inspector)
        ctx.clock.at(t_check + timedelta(minutes=30), lambda: self._receive_output(order, key))
        if product.material_type != "FERT":
            ctx.clock.at(start + timedelta(days=1, hours=1),
                         lambda: self._decide(key, "A1", "Sub-assembly accepted"))
            return
        excursion = rng.random() < self.excursion_rate
        failure = not excursion and rng.random() < self.final_failure_rate
        t_eo = start + timedelta(days=1, minutes=ctx.minutes(0, 120))
        self._confirm(t_eo, 14.0, order, key, "0030", "EO sterilisation and aeration",
                      rng.choice(("EO-01", "EO-02")), {
                          "TEMP_C": round(rng.uniform(57.5, 60) if excursion
                                          else rng.uniform(50, 55.5), 2),
                          "RH_PCT": round(rng.uniform(55, 75), 2),
                          "EO_MGL": round(rng.uniform(580, 650), 2),
                          "EXPO_H": round(rng.uniform(6, 8), 2)})
        t_final = start + timedelta(days=2, minutes=ctx.minutes(0, 120))
        self._confirm(t_final, 1.0, order, key, "0040", "Final inspection", "QC-01", {})
        characteristics = [
            ("EO residual per device", "UG", 0.0, 4.0, rng.uniform(0.5, 3.0)),
            ("Biological indicator growth", "", 0.0, 0.0, 0.0),
            ("Visual defects in AQL sample", "", 0.0, 1.0, float(rng.randint(0, 1))),
        ]
        if failure:
            characteristics[2] = ("Visual defects in AQL sample", "", 0.0, 1.0, 4.0)
            ctx.log.expect("failed-inspection", "lot", lot_label(key))
        for number, (text, unit, lower, upper, measured) in enumerate(characteristics, 2):
            ctx.erp.inspection(t_final + timedelta(minutes=10 * number),
                               inspection_lot=inspection_lot, characteristic_no=number * 10,
                               stage="final", material=lot.material, lot=lot.lot, text=text,
                               unit=unit, measured=round(measured, 3), lower=lower, upper=upper,
                               inspector=inspector)
        t_decision = t_final + timedelta(hours=2)
        if failure:
            ctx.clock.at(t_decision, lambda: self._decide(key, "R1", "Final inspection failed"))
        elif excursion:
            ctx.clock.at(t_decision, lambda: self._decide(key, "H1", "EO temperature excursion"))
            ctx.clock.at(t_decision + timedelta(days=rng.randint(2, 4)),
                         lambda: self._decide(key, "F1", "Excursion assessed: no impact"))
        else:
            ctx.clock.at(t_decision, lambda: self._decide(key, "A1", "Released for sale"))

    def _receive_output(self, order: str, key: LotKey) -> None:
        ctx = self.ctx
        lot = ctx.world.lots[key]
        product = PRODUCTS[lot.material]
        now = ctx.clock.now
        serials = self._serials(product, int(lot.quantity)) if product.serialised else []
        repeated: str | None = None
        if serials and int(serials[0][-8:]) > 1 and ctx.plant_fault("duplicate_serial"):
            # the printer repeats a serial of an earlier lot of the same product
            earlier = ctx.fault_rng.randint(1, int(serials[0][-8:]) - 1)
            repeated = serials[-1] = f"{product.material[-4:]}{earlier:08d}"
            ctx.log.note("duplicate_serial", "plant", f"{lot.gtin}/{repeated}")
            ctx.log.expect("duplicate-serial", "serial", f"{lot.gtin}/{repeated}")
        location = self.bin_in("QRT")
        ctx.world.put(key, location, lot.quantity, serials)
        operator = ctx.person("production")
        receipt = ctx.wms.transaction("PRD", now, sku=lot.material, gtin=lot.gtin, lot=lot.lot,
                                      qty=lot.quantity, loc=location, user=operator.wms_user,
                                      serials=serials, mfg_date=lot.manufactured,
                                      exp_date=lot.expiry, ref={"order": order})
        if repeated:
            # duplicate-serial holds the serial (GTIN + serial: both lots' units) once
            # this receipt arrives
            ctx.held_units.setdefault((lot.gtin, repeated), receipt)
        store = "FG01" if product.material_type == "FERT" else "WP01"
        ctx.erp.goods_movement(now, [Movement(
            "101", lot.material, lot.lot, store, lot.quantity, operator.code, order=order,
            manufactured=lot.manufactured or "", expiry=lot.expiry or "")])

    def _decide(self, key: LotKey, code: str, text: str) -> None:
        ctx = self.ctx
        lot = ctx.world.lots[key]
        now = ctx.clock.now
        qp = ctx.person("qualified_person").code
        ctx.erp.usage_decision(now, inspection_lot=self.inspection_lot_of[key], code=code,
                               material=lot.material, lot=lot.lot, person=qp, text=text)
        if code == "R1":
            lot.status = "rejected"
            ctx.clock.at(now + timedelta(hours=3), lambda: self.scrap_all(key, "QC"))
        elif code == "H1":
            lot.status = "held"
        elif code == "F1" and lot.status == "held" and lot.kind != "finished":
            lot.status = "released"
        elif code == "F1" and lot.status == "held":
            ctx.clock.at(now + timedelta(minutes=10),
                         lambda: self._decide(key, "A1", "Released for sale after hold"))
            lot.status = "quarantine"
        elif code == "A1":
            lot.status = "released"
            zone = "FG" if lot.kind == "finished" else "WIP"
            for location in sorted(ctx.world.bins_of(key)):
                if location.startswith("QRT"):
                    ctx.clock.at(now + timedelta(minutes=ctx.minutes(15, 60)),
                                 functools.partial(self._put_away, key, location, zone))
