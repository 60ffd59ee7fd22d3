"""Recall impact against simulator ground truth, with faults injected (issue #4, proof).

The simulator knows which finished lots each component lot really went into and what
was really shipped to whom. Its ERP and WMS exports carry duplicates, late and
out-of-order records, corrections and quantity mismatches. For several component lots,
the impact of a recall must name exactly the true downstream lots, every true shipment
with its quantity and serials, and no customer that did not receive an affected unit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracebridge.bootstrap import Container, bootstrap
from tracebridge.domain.recall import LotScope, RecallPlan
from tracebridge.mapping.engine import load_mapping
from tracebridge.recall.model import Impact
from tracebridge.recall.service import RecallService
from tracebridge.settings import Settings
from tracebridge.sim.faults import FaultRates
from tracebridge.sim.generator import generate
from tracebridge.sim.truth import Truth, TruthLot, load_truth

pytestmark = pytest.mark.slow

Shipments = dict[tuple[str, str, str, str], tuple[float, frozenset[str]]]


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("recall-plant")
    generate(out, seed=20261126, scale=0.3, faults=FaultRates())
    return out


@pytest.fixture(scope="module")
def store(plant: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    db = tmp_path_factory.mktemp("recall-db") / "plant.db"
    app = bootstrap(Settings(database_url=f"sqlite:///{db}", batch_size=700))
    for source in ("erp", "wms"):
        app.ingest.ingest_paths(load_mapping(source), [plant / source])
    yield app
    app.close()


def impact_shipments(found: Impact) -> Shipments:
    grouped: dict[tuple[str, str, str, str], list[float]] = defaultdict(lambda: [0.0])
    serials: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    for customer in found.customers:
        for s in customer.shipments:
            if s.kind == "shipped":
                key = (s.shipment, customer.consignee.code, s.gtin, s.lot)
                grouped[key][0] += s.quantity
                serials[key].update(s.serials)
    return {k: (round(v[0], 6), frozenset(serials[k])) for k, v in grouped.items()}


def true_shipments(lot: TruthLot) -> Shipments:
    out: Shipments = {}
    for s in lot.forward.shipments:
        key = (s.delivery, s.customer, s.gtin, s.lot)
        quantity, serials = out.get(key, (0.0, frozenset()))
        out[key] = (round(quantity + s.quantity, 6), serials | frozenset(s.serials))
    return out


def test_recall_impact_of_component_lots_equals_the_truth(store: Container, truth_of: Truth
                                                          ) -> None:
    """REQ-34, REQ-35: no affected unit missed, no unaffected customer named."""
    service = RecallService(store.engine, store.quality)
    components = [lot for lot in truth_of.lots.values()
                  if lot.kind == "component" and lot.forward.shipments]
    assert len(components) >= 5, "the plant is too small to prove anything"
    plan = RecallPlan.parse(recall_class="I", depth="consumer", public_warning=True,
                            effectiveness_level="A", reason="ground-truth check")
    mismatches: list[str] = []
    for lot in components:
        recall = service.start(plan, [LotScope(lot.gtin, lot.lot)], actor="test")
        found = service.impact(recall.id)
        label = f"{lot.gtin}/{lot.lot}"
        downstream = {f"{x.gtin}/{x.lot}" for x in found.lots if x.depth > 0}
        if downstream != set(lot.forward.lots):
            mismatches.append(f"{label} lots: extra {sorted(downstream - set(lot.forward.lots))}"
                              f" missing {sorted(set(lot.forward.lots) - downstream)}")
        truly = true_shipments(lot)
        if impact_shipments(found) != truly:
            mismatches.append(f"{label} shipments {impact_shipments(found)} != {truly}")
        named = {c.consignee.code for c in found.customers}
        if named != {s.customer for s in lot.forward.shipments}:
            mismatches.append(f"{label} customers {sorted(named)}")
        unit_count = sum(len(s.serials) for s in lot.forward.shipments)
        if sum(len(c.serials) for c in found.customers) != unit_count:
            mismatches.append(f"{label} serials shipped differ")
    assert mismatches == [], f"{len(mismatches)} mismatches, first: {mismatches[:3]}"


def test_drill_of_a_component_lot_gives_the_true_customers(store: Container, truth_of: Truth
                                                           ) -> None:
    service = RecallService(store.engine, store.quality)
    lot = max((x for x in truth_of.lots.values() if x.kind == "component"),
              key=lambda x: len(x.forward.shipments))
    drill = service.drill(f"lot:{lot.gtin}/{lot.lot}")
    assert {c.consignee.code for c in drill.impact.customers} == {
        s.customer for s in lot.forward.shipments}
    assert drill.customer_lists == len({s.customer for s in lot.forward.shipments})


@pytest.fixture(scope="module")
def truth_of(plant: Path) -> Truth:
    return load_truth(plant)
