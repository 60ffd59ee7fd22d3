"""The simulator's truth is self-consistent, and the exports — faults and all — rebuild it.

The rebuild here is deliberately naive (last valid version per record id, error
declarations drop what they correct): if it equals the truth, the faults injected are
recoverable and the truth is knowable from the exports alone.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from tracebridge.domain.events import CanonicalEvent, EventKind
from tracebridge.errors import SimulationError
from tracebridge.mapping.engine import load_mapping
from tracebridge.mapping.records import RecordRejected
from tracebridge.sim.faults import FaultRates
from tracebridge.sim.generator import generate
from tracebridge.sim.truth import Truth, load_truth

Key = tuple[str, str]


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plant")
    generate(out, seed=21, scale=0.4, faults=FaultRates(duplicate=0.03, out_of_order=0.05,
                                                       missing_field=0.02, unknown_code=0.02,
                                                       late=0.02, clock_skew=0.05))
    return out


@pytest.fixture(scope="module")
def truth(plant: Path) -> Truth:
    return load_truth(plant)


def _events(out: Path, system: str) -> list[CanonicalEvent]:
    """The valid events of a system: last valid version per record, corrections applied."""
    mapping = load_mapping(system)
    latest: dict[str, CanonicalEvent] = {}
    for path in sorted((out / system).iterdir()):
        for raw in mapping.read(path):
            try:
                mapped = mapping.map(raw)
            except RecordRejected:
                continue
            for event in mapped.events:
                latest[event.source.record_id] = event
    withdrawn = {rid for e in latest.values() if e.kind is EventKind.ERROR_DECLARED
                 for rid in e.corrects}
    return [e for rid, e in latest.items() if rid not in withdrawn]


def _genealogy(events: list[CanonicalEvent]) -> dict[Key, set[Key]]:
    inputs: dict[str, set[Key]] = defaultdict(set)
    outputs: dict[str, set[Key]] = defaultdict(set)
    for event in events:
        if event.kind is EventKind.CONSUMED and event.work_order:
            inputs[event.work_order].update(lot.key for lot in event.inputs)
        elif event.kind is EventKind.PRODUCED and event.work_order:
            outputs[event.work_order].update(lot.key for lot in event.lots)
    parents: dict[Key, set[Key]] = defaultdict(set)
    for order, made in outputs.items():
        for lot in made:
            parents[lot] |= inputs[order]
    return parents


def _ancestors(parents: dict[Key, set[Key]], key: Key) -> set[Key]:
    seen: set[Key] = set()
    stack = [key]
    while stack:
        for parent in parents.get(stack.pop(), ()):
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def _label(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


def test_truth_sets_are_symmetric_and_closed(truth: Truth) -> None:
    labels = {_label(k) for k in truth.lots}
    for key, lot in truth.lots.items():
        assert set(lot.backward.lots) <= labels
        for ancestor in lot.backward.lots:
            gtin, number = ancestor.split("/", 1)
            assert _label(key) in truth.lot(gtin, number).forward.lots
        if lot.origin == "opening_balance":
            assert lot.backward.lots == [] and lot.work_order is None
        if lot.origin == "produced":
            assert lot.work_order in lot.backward.work_orders
        for supplier_lot in lot.backward.supplier_lots:
            assert truth.lot(supplier_lot.gtin, supplier_lot.lot).origin == "received"


def test_truth_has_multi_level_assemblies_reworks_and_opening_stock(truth: Truth) -> None:
    lots = list(truth.lots.values())
    kinds = {(lot.kind, lot.origin) for lot in lots}
    assert ("component", "received") in kinds and ("finished", "opening_balance") in kinds
    assert any(lot.kind == "sub_assembly" and lot.forward.lots for lot in lots)
    assert any(any(f"/{lot.lot}" in a and lot.kind == "finished" for a in other.backward.lots)
               for lot in lots for other in lots if other.lot.startswith("R"))


def test_serialised_shipments_list_one_serial_per_unit(truth: Truth) -> None:
    shipped = [s for lot in truth.lots.values() if lot.serialised
               for s in lot.forward.shipments if (s.gtin, s.lot) == lot.key]
    assert shipped, "the plant ships serialised devices"
    assert all(len(s.serials) == s.quantity for s in shipped)


def test_faults_json_counts_its_records(truth: Truth) -> None:
    for kind, entry in truth.faults.items():
        assert entry["count"] == len(entry["records"]), kind
    assert truth.faults["missing_field"]["count"] > 0
    assert truth.summary["total_records"] == sum(truth.summary["records"].values())


def test_wms_export_rebuilds_true_stock(plant: Path, truth: Truth) -> None:
    stock: dict[tuple[str, str, str], float] = defaultdict(float)
    plus = {EventKind.RECEIVED, EventKind.PRODUCED, EventKind.RETURNED,
            EventKind.OPENING_BALANCE, EventKind.STOCK_ADJUSTED}
    for event in _events(plant, "wms"):
        location = event.biz_location or ""
        if event.kind in plus:
            for lot in event.lots:
                stock[(lot.gtin, lot.lot, location)] += lot.quantity or 0
        elif event.kind in (EventKind.SHIPPED, EventKind.SCRAPPED):
            for lot in event.lots:
                stock[(lot.gtin, lot.lot, location)] -= lot.quantity or 0
        elif event.kind is EventKind.CONSUMED:
            for lot in event.inputs:
                stock[(lot.gtin, lot.lot, location)] -= lot.quantity or 0
        elif event.kind is EventKind.MOVED:
            for lot in event.lots:
                stock[(lot.gtin, lot.lot, str(event.details["from_location"]))] -= lot.quantity or 0
                stock[(lot.gtin, lot.lot, location)] += lot.quantity or 0
    rebuilt = {k: round(v, 6) for k, v in stock.items() if abs(v) > 1e-6}
    expected = {(r.gtin, r.lot, r.location): r.quantity for r in truth.stock}
    assert rebuilt == expected


@pytest.mark.parametrize("system", ["erp", "wms"])
def test_each_system_rebuilds_true_genealogy(plant: Path, truth: Truth, system: str) -> None:
    """REQ-22: every finished lot links back to its component lots — from either export."""
    parents = _genealogy(_events(plant, system))
    for key, lot in truth.lots.items():
        assert sorted(_label(k) for k in _ancestors(parents, key)) == lot.backward.lots, key


def test_wms_shipments_equal_true_distribution_records(plant: Path, truth: Truth) -> None:
    """REQ-34: each consignee, quantity and serials per lot, from the WMS (system of record)."""
    shipped: dict[tuple[str, str, str], list[float | set[str] | str]] = {}
    for event in _events(plant, "wms"):
        if event.kind is EventKind.SHIPPED:
            delivery = next(t.id for t in event.biz_transactions if t.type == "desadv")
            for lot in event.lots:
                entry = shipped.setdefault((delivery, lot.gtin, lot.lot),
                                           [0.0, set(), event.destination_party or ""])
                entry[0] = float(entry[0]) + (lot.quantity or 0)  # type: ignore[arg-type]
                entry[1] |= set(lot.serials)  # type: ignore[operator]
    expected = {
        (s.delivery, s.gtin, s.lot): [s.quantity, set(s.serials), s.customer]
        for lot in truth.lots.values() for s in lot.forward.shipments if (s.gtin, s.lot) == lot.key
    }
    assert shipped == expected


def test_load_truth_without_a_run_says_what_it_expected(tmp_path: Path) -> None:
    with pytest.raises(SimulationError, match="expected the --out directory"):
        load_truth(tmp_path)
