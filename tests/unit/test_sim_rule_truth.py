"""The simulator's plant faults and ``truth/rules.json``: what each built-in rule should
fire for, deterministic per seed, and absent from a default run's faults."""

from __future__ import annotations

import json
import random
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tracebridge.domain.events import EventKind
from tracebridge.errors import SimulationError
from tracebridge.mapping.engine import load_mapping
from tracebridge.mapping.records import RecordRejected
from tracebridge.sim.catalogue import CUSTOMERS
from tracebridge.sim.faults import PLANT_FAULT_KINDS, FaultLog, FaultRates, load_fault_rates
from tracebridge.sim.generator import GO_LIVE, generate
from tracebridge.sim.streams import FaultyStream, OutRecord, RotatingFile, json_line
from tracebridge.sim.truth import Truth, load_truth
from tracebridge.sim.wms_export import REQUIRED as WMS_REQUIRED
from tracebridge.sim.wms_export import UNKNOWN_CODES as WMS_UNKNOWN_CODES


def test_plant_faults_are_off_by_default_and_on_for_the_rules_preset() -> None:
    assert all(getattr(FaultRates(), kind) == 0 for kind in PLANT_FAULT_KINDS)
    assert all(getattr(FaultRates.every_rule(), kind) > 0 for kind in PLANT_FAULT_KINDS)
    assert load_fault_rates("rules") == FaultRates.every_rule()
    assert FaultRates.every_rule().late == FaultRates().late  # record faults as by default


def test_default_run_names_no_plant_fault(tmp_path: Path) -> None:
    summary = generate(tmp_path, seed=11, scale=0.1, faults=FaultRates())
    faults = json.loads((tmp_path / "truth" / "faults.json").read_text(encoding="utf-8"))
    assert not set(PLANT_FAULT_KINDS) & (set(faults) | set(summary.faults))


def test_rule_truth_keys_name_lots_serials_or_records(tmp_path: Path) -> None:
    generate(tmp_path, seed=20261125, scale=0.5, faults=FaultRates.every_rule())
    truth = load_truth(tmp_path)
    shapes = {"lot": r"^\d{14}/\w+$", "serial": r"^\d{14}/\w+$", "record": r"^(erp|wms):\S+$"}
    for rule, expected in truth.rules.items():
        assert expected.by in shapes, rule
        assert expected.keys == sorted(set(expected.keys)), rule
        assert all(re.match(shapes[expected.by], k)
                   for k in expected.keys), rule
    lots = {f"{g}/{lot}" for g, lot in truth.lots}
    for rule in ("unreleased-shipment", "unusable-component", "failed-inspection"):
        assert set(truth.rules[rule].keys) <= lots, rule
    # each unreleased shipment names a lot the plant really shipped
    shipped = {f"{g}/{lot}" for (g, lot), info in truth.lots.items() if info.forward.shipments}
    assert set(truth.rules["unreleased-shipment"].keys) <= shipped
    assert set(truth.rules["late-data"].keys) == set(truth.faults["late"]["records"])
    assert set(truth.rules["clock-skew"].keys) == set(truth.faults["clock_skew"]["records"])


def test_rule_truth_is_deterministic_per_seed(tmp_path: Path) -> None:
    generate(tmp_path / "a", seed=3, scale=0.2, faults=FaultRates.every_rule())
    generate(tmp_path / "b", seed=3, scale=0.2, faults=FaultRates.every_rule())
    first, second = (p / "truth" / "rules.json" for p in (tmp_path / "a", tmp_path / "b"))
    assert first.read_bytes() == second.read_bytes()


def test_plant_fault_rates_are_validated(tmp_path: Path) -> None:
    bad = tmp_path / "rates.yaml"
    bad.write_text("unreleased_shipment: 1.5\n", encoding="utf-8")
    with pytest.raises(SimulationError, match=r"rates\.yaml: unreleased_shipment"):
        load_fault_rates(bad)


def shelf_life_shortfalls(plant: Path, truth: Truth) -> dict[str, set[str]]:
    """Per kind (``expired``, ``below_minimum``), the lots the ERP export shows shipped
    past their expiry or with fewer days left than the customer master's ``MHDRZ`` — read
    through the built-in mapping (last valid version of each record), not from the
    simulator's model."""
    mapping = load_mapping("erp")
    minimums: dict[str, int] = {}
    shipped: dict[str, tuple[str, str, str, date]] = {}
    for path in sorted((plant / "erp").iterdir()):
        for raw in mapping.read(path):
            try:
                mapped = mapping.map(raw)
            except RecordRejected:
                continue
            for master in mapped.master:
                days = master.attributes.get("min_remaining_shelf_life_days")
                if master.entity == "party" and days is not None:
                    minimums[master.key] = int(days)
            for event in mapped.events:
                if event.kind is EventKind.SHIPPED and event.destination_party:
                    ref = event.lots[0]
                    shipped[event.source.record_id] = (ref.gtin, ref.lot, event.destination_party,
                                                       event.event_time.date())
    found: dict[str, set[str]] = {"expired": set(), "below_minimum": set()}
    for gtin, lot, customer, day in shipped.values():
        expiry = truth.lot(gtin, lot).expiry
        assert expiry, f"{gtin}/{lot} has no expiry"
        left = (date.fromisoformat(expiry) - day).days
        if left < 0:
            found["expired"].add(f"{gtin}/{lot}")
        elif left < minimums.get(customer, 0):
            found["below_minimum"].add(f"{gtin}/{lot}")
    return found


def test_customer_minimums_reach_the_erp_customer_master(tmp_path: Path) -> None:
    generate(tmp_path, seed=5, scale=0.05, faults=FaultRates.none())
    mapping = load_mapping("erp")
    parties = {m.key: m.attributes for raw in mapping.read(tmp_path / "erp" / "customers.csv")
               for m in mapping.map(raw).master}
    assert {code: attrs.get("min_remaining_shelf_life_days")
            for code, attrs in parties.items()} == {
        code: c.min_remaining_shelf_life_days for code, c in CUSTOMERS.items()}
    hospitals = [c for c in CUSTOMERS.values() if c.kind == "hospital"]
    assert all(180 <= (c.min_remaining_shelf_life_days or 0) <= 365 for c in hospitals)
    assert any(c.min_remaining_shelf_life_days is None for c in CUSTOMERS.values())


def test_default_run_ships_nothing_expired_or_below_a_customers_minimum(tmp_path: Path) -> None:
    generate(tmp_path, seed=11, scale=0.5, faults=FaultRates())
    truth = load_truth(tmp_path)
    assert "expired-shipment" not in truth.rules
    assert shelf_life_shortfalls(tmp_path, truth) == {"expired": set(), "below_minimum": set()}


def test_truth_lists_every_shipment_below_minimum_or_expired_by_kind(tmp_path: Path) -> None:
    generate(tmp_path, seed=20261125, scale=0.5, faults=FaultRates.every_rule())
    truth = load_truth(tmp_path)
    expected = truth.rules["expired-shipment"]
    found = shelf_life_shortfalls(tmp_path, truth)
    assert {kind: set(keys) for kind, keys in expected.kinds.items()} == found
    assert found["expired"] and found["below_minimum"]
    assert set(expected.keys) == found["expired"] | found["below_minimum"]


def test_short_shelf_life_fault_ships_near_dated_stock_below_minimum_never_expired(
    tmp_path: Path,
) -> None:
    generate(tmp_path, seed=8, scale=0.3, faults=FaultRates(short_shelf_life_shipment=1.0))
    truth = load_truth(tmp_path)
    expected = truth.rules["expired-shipment"]
    assert set(expected.kinds) == {"below_minimum"}
    near_dated = {f"{g}/{lot}" for (g, lot), info in truth.lots.items()
                  if info.origin == "opening_balance" and info.expiry
                  and 97 <= (date.fromisoformat(info.expiry) - GO_LIVE.date()).days <= 170}
    assert near_dated and set(expected.keys) <= near_dated
    assert len(expected.keys) == len({k.split("/")[0] for k in expected.keys})  # one a product
    assert truth.faults["short_shelf_life_shipment"]["count"] == 7  # every finished good


def test_short_shelf_life_fault_draws_from_its_own_stream(tmp_path: Path) -> None:
    """Turning the fault on leaves the other plant faults' draws as they were: the lots
    the expired-stock fault takes over expire on the same days."""
    def expiring_at_go_live(rates: FaultRates, out: Path) -> list[tuple[str, str | None]]:
        generate(out, seed=9, scale=0.1, faults=rates)
        return sorted((info.material, info.expiry) for info in load_truth(out).lots.values()
                      if info.expiry and info.expiry < "2026-01-09")

    alone = expiring_at_go_live(FaultRates(expired_stock=1.0), tmp_path / "a")
    both = expiring_at_go_live(FaultRates(expired_stock=1.0, short_shelf_life_shipment=1.0),
                               tmp_path / "b")
    assert len(alone) == 9 and alone == both


def held_unit_moves(plant: Path) -> set[str]:
    """The WMS picks and shipments naming a unit on hold when they arrive, read from the
    transaction export in delivery order, not from the simulator's model: a serial received
    into a second lot is held from the later receipt's arrival on — the units of both lots
    alike, since a serial names one unit of its GTIN."""
    arrived: list[dict[str, Any]] = []  # first valid copy of each record, in file order
    seen: set[str] = set()
    for path in sorted((plant / "wms").glob("transactions_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            valid = all(record.get(name) not in (None, "") for name in WMS_REQUIRED) and not any(
                record.get(name) == code for name, code in WMS_UNKNOWN_CODES.items())
            if valid and record["txn_id"] not in seen:
                seen.add(record["txn_id"])
                arrived.append(record)
    receipts: dict[tuple[str, str], list[tuple[int, int]]] = {}  # unit -> (ts, position)
    for position, record in enumerate(arrived):
        if record["type"] in ("OPN", "PRD"):
            for serial in record.get("serials", ()):
                receipts.setdefault((record["gtin"], serial), []).append((record["ts"], position))
    held_from = {unit: max(times)[1] for unit, times in receipts.items() if len(times) > 1}
    return {f"wms:{record['txn_id']}" for position, record in enumerate(arrived)
            if record["type"] in ("PICK", "SHIP")
            and any(held_from.get((record["gtin"], s), position) < position
                    for s in record.get("serials", ()))}


def test_held_serial_shipment_truth_is_every_later_move_of_a_repeated_serial(
    tmp_path: Path,
) -> None:
    """REQ-9, REQ-18: the truth of ``held-serial-shipment`` names exactly the picks and WMS
    shipments, of either lot, that the export delivers after the receipt repeating their
    serial."""
    generate(tmp_path, seed=20261125, scale=1.0, faults=FaultRates.every_rule())
    truth = load_truth(tmp_path)
    expected = truth.rules["held-serial-shipment"]
    assert expected.by == "record"
    assert expected.keys, "no unit on hold was picked or shipped: nothing to prove"
    assert set(expected.keys) == held_unit_moves(tmp_path)


def test_clean_run_holds_no_unit(tmp_path: Path) -> None:
    generate(tmp_path, seed=7, scale=0.3, faults=FaultRates.none())
    truth = load_truth(tmp_path)
    assert "held-serial-shipment" not in truth.rules
    assert held_unit_moves(tmp_path) == set()


def test_a_held_back_record_counts_as_delivered_only_once_written(tmp_path: Path) -> None:
    stream = FaultyStream(system="wms", sink=RotatingFile(tmp_path, "t", ".jsonl", None),
                          serialise=json_line, rates=FaultRates.none().model_copy(
                              update={"late": 1.0, "late_delay": (3, 3)}),
                          log=FaultLog(), rng=random.Random(1))
    stream.set_period("1")
    stream.emit(OutRecord("A", {"id": "A"}))
    assert not stream.delivered("A")
    for name in ("B", "C"):
        stream.emit(OutRecord(name, {"id": name}))
    assert not stream.delivered("A")
    stream.emit(OutRecord("D", {"id": "D"}))  # the third record after it: A falls due
    assert stream.delivered("A") and not stream.delivered("D")
    stream.close()
    assert stream.delivered("D")
    assert (tmp_path / "t_1.jsonl").read_text(encoding="utf-8").splitlines()[0] == '{"id":"A"}'
