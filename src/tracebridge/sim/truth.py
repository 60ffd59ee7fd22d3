"""Ground truth of a simulated plant, written from the simulator's own model.

``truth/lots.jsonl`` holds one line per lot with its true backward set (ancestor lots,
supplier lots, work orders) and forward set (descendant lots, work orders, shipments);
``truth/stock.jsonl`` the true final WMS stock per lot and location; ``faults.json``
what was injected; ``rules.json`` per built-in quality rule the lots or records it should
fire for (:class:`RuleTruth`); ``summary.json`` the run's figures. A trace built from the exports
must equal these, whatever faults were injected.

>>> lot = TruthLot.model_validate({"gtin": "1", "lot": "A", "material": "RM",
...     "kind": "component", "origin": "received", "quantity": 5, "status": "released"})
>>> lot.key, lot.backward.lots
(('1', 'A'), [])
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tracebridge.errors import SimulationError
from tracebridge.sim.faults import FaultLog
from tracebridge.sim.state import LotKey, World


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SupplierLot(_Model):
    gtin: str
    lot: str
    supplier: str
    supplier_lot: str


class TruthShipment(_Model):
    delivery: str
    customer: str
    gtin: str
    lot: str
    quantity: float
    serials: list[str] = Field(default_factory=list)


class Backward(_Model):
    lots: list[str] = Field(default_factory=list)  # "gtin/lot", sorted
    supplier_lots: list[SupplierLot] = Field(default_factory=list)
    work_orders: list[str] = Field(default_factory=list)


class Forward(_Model):
    lots: list[str] = Field(default_factory=list)
    work_orders: list[str] = Field(default_factory=list)
    shipments: list[TruthShipment] = Field(default_factory=list)


class TruthLot(_Model):
    gtin: str
    lot: str
    material: str
    kind: str  # finished | sub_assembly | component
    origin: str  # produced | received | opening_balance
    quantity: float
    uom: str = "EA"
    status: str
    work_order: str | None = None
    supplier: str | None = None
    supplier_lot: str | None = None
    manufactured: str | None = None
    expiry: str | None = None
    serialised: bool = False
    returned: float = 0
    scrapped: float = 0
    backward: Backward = Field(default_factory=Backward)
    forward: Forward = Field(default_factory=Forward)

    @property
    def key(self) -> LotKey:
        return (self.gtin, self.lot)


class StockRow(_Model):
    gtin: str
    lot: str
    location: str
    quantity: float


class RuleTruth(_Model):
    """What one built-in rule should fire for: lots (``gtin/lot``) or records
    (``system:record id``, the record the rule sees the problem on) — and, for a rule that
    catches several kinds of problem, the keys of each kind (``expired-shipment``:
    ``expired`` and ``below_minimum``, a customer's minimum remaining shelf life; a lot
    shipped both ways is in both)."""

    by: str  # lot | record
    keys: list[str] = Field(default_factory=list)
    kinds: dict[str, list[str]] = Field(default_factory=dict)


@dataclass(frozen=True)
class Truth:
    lots: dict[LotKey, TruthLot]
    stock: list[StockRow]
    faults: dict[str, Any]
    summary: dict[str, Any]
    rules: dict[str, RuleTruth] = field(default_factory=dict)

    def lot(self, gtin: str, lot: str) -> TruthLot:
        return self.lots[(gtin, lot)]


def _label(key: LotKey) -> str:
    return f"{key[0]}/{key[1]}"


def truth_lot(world: World, key: LotKey) -> TruthLot:
    info = world.lots[key]
    ancestors = sorted(world.ancestors(key))
    descendants = sorted(world.descendants(key))
    produced_by = [world.lots[k].work_order for k in [key, *ancestors]]
    consumed_by = {wo for k in [key, *descendants] for wo in world.lots[k].consumed_by}
    shipments = [
        TruthShipment(delivery=s.delivery, customer=s.customer, gtin=k[0], lot=k[1],
                      quantity=s.quantity, serials=sorted(s.serials))
        for k in [key, *descendants]
        for s in world.lots[k].shipments.values()
    ]
    supplier_lots = [
        SupplierLot(gtin=k[0], lot=k[1], supplier=world.lots[k].supplier or "",
                    supplier_lot=world.lots[k].supplier_lot or "")
        for k in ancestors if world.lots[k].supplier
    ]
    return TruthLot(
        gtin=info.gtin, lot=info.lot, material=info.material, kind=info.kind, origin=info.origin,
        quantity=info.quantity, uom=info.uom, status=info.status, work_order=info.work_order,
        supplier=info.supplier, supplier_lot=info.supplier_lot, manufactured=info.manufactured,
        expiry=info.expiry, serialised=info.serialised, returned=info.returned,
        scrapped=info.scrapped,
        backward=Backward(lots=[_label(k) for k in ancestors], supplier_lots=supplier_lots,
                          work_orders=sorted({wo for wo in produced_by if wo})),
        forward=Forward(lots=[_label(k) for k in descendants], work_orders=sorted(consumed_by),
                        shipments=sorted(shipments, key=lambda s: (s.delivery, s.gtin, s.lot))),
    )


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


def rule_truth(world: World, log: FaultLog,
               uninspected: Iterable[LotKey] = ()) -> dict[str, RuleTruth]:
    """Per built-in rule, what it should fire for.

    The plant's own life and the plant faults were noted as they happened (``log.expect``);
    record faults add theirs here: late records (``late-data``) and shifted WMS clocks
    (``clock-skew``). A finished lot that was never released (it failed final inspection),
    or one made from a component lot whose incoming inspection was never posted
    (``uninspected``), is a genealogy gap: its chain lacks a link an auditor asks for.
    """
    for record in log.records("late"):
        log.expect("late-data", "record", record)
    for record in log.records("clock_skew"):
        log.expect("clock-skew", "record", record)
    broken = {d for key in uninspected for d in world.descendants(key)}
    for key, lot in world.lots.items():
        if lot.origin == "produced" and not lot.consumed_by and (
                lot.status != "released" or key in broken):
            log.expect("genealogy-gap", "lot", _label(key))
    return {rule: RuleTruth.model_validate(value)
            for rule, value in log.expectations().items()}


def write_truth(directory: Path, *, world: World, faults: dict[str, Any],
                summary: dict[str, Any], log: FaultLog | None = None,
                uninspected: Iterable[LotKey] = ()) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "lots.jsonl").open("w", encoding="utf-8") as out:
        for key in sorted(world.lots):
            out.write(_dump(truth_lot(world, key).model_dump(mode="json")))
    with (directory / "stock.jsonl").open("w", encoding="utf-8") as out:
        for gtin, lot, location, quantity in world.stock_rows():
            out.write(_dump({"gtin": gtin, "lot": lot, "location": location,
                             "quantity": quantity}))
    (directory / "faults.json").write_text(
        json.dumps(faults, ensure_ascii=False, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    rules = {name: value.model_dump(mode="json", exclude_defaults=True)  # no empty "kinds"
             for name, value in rule_truth(world, log or FaultLog(), uninspected).items()}
    (directory / "rules.json").write_text(_dump(rules), encoding="utf-8")
    (directory / "summary.json").write_text(
        json.dumps(summary, ensure_ascii=False, sort_keys=True, indent=1) + "\n", encoding="utf-8")


def load_truth(dir: Path) -> Truth:
    """Read the truth of a simulated plant: ``dir`` is the ``--out`` directory or its ``truth/``."""
    base = dir / "truth" if (dir / "truth" / "lots.jsonl").exists() else dir
    try:
        lots: dict[LotKey, TruthLot] = {}
        with (base / "lots.jsonl").open(encoding="utf-8") as source:
            for line in source:
                lot = TruthLot.model_validate_json(line)
                lots[lot.key] = lot
        with (base / "stock.jsonl").open(encoding="utf-8") as source:
            stock = [StockRow.model_validate_json(line) for line in source]
        faults = json.loads((base / "faults.json").read_text(encoding="utf-8"))
        summary = json.loads((base / "summary.json").read_text(encoding="utf-8"))
        rules_file = base / "rules.json"  # absent from runs of older versions
        rules = ({name: RuleTruth.model_validate(value) for name, value in
                  json.loads(rules_file.read_text(encoding="utf-8")).items()}
                 if rules_file.exists() else {})
    except OSError as e:
        raise SimulationError(
            f"no simulator truth in '{dir}': {e.strerror} ({e.filename}); expected the --out "
            "directory of 'tracebridge sim generate'"
        ) from e
    return Truth(lots=lots, stock=stock, faults=faults, summary=summary, rules=rules)
