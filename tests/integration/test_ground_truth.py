"""Ground truth: a simulated plant, faults injected, traced end to end.

The simulator knows the physical truth (which component lots went into which finished
lots, what was shipped to whom). Its ERP and WMS exports carry duplicates,
out-of-order and late records, missing fields and unknown codes (each followed by a
corrected re-send), quantity mismatches and clock skew. After ingesting both exports,
every lot's backward and forward trace must equal the truth.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tracebridge.bootstrap import Container, bootstrap
from tracebridge.mapping.engine import load_mapping
from tracebridge.settings import Settings
from tracebridge.sim.faults import FaultRates
from tracebridge.sim.generator import generate
from tracebridge.sim.truth import Truth, TruthLot, load_truth
from tracebridge.store import tables as t
from tracebridge.trace.model import TraceResult

pytestmark = pytest.mark.slow

Shipments = dict[tuple[str, str, str, str], tuple[float, frozenset[str]]]


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plant")
    generate(out, seed=20261125, scale=0.3, faults=FaultRates())
    return out


@pytest.fixture(scope="module")
def truth(plant: Path) -> Truth:
    return load_truth(plant)


def ingest_plant(plant: Path, url: str) -> Container:
    # Taking over history in bulk: per-type export files are not in time order, so the rule
    # pack is off here (as for `tracebridge demo`); it is proven in test_rules_plant.py.
    app = bootstrap(Settings(database_url=url, batch_size=700, rules_enabled=False))
    for source in ("erp", "wms"):
        app.ingest.ingest_paths(load_mapping(source), [plant / source])
    return app


@pytest.fixture(scope="module")
def store(plant: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    app = ingest_plant(plant, f"sqlite:///{tmp_path_factory.mktemp('db') / 'plant.db'}")
    yield app
    app.close()


def traced_shipments(result: TraceResult) -> Shipments:
    assert result.forward is not None
    grouped: dict[tuple[str, str, str, str], list[float]] = defaultdict(lambda: [0.0])
    serials: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    for line in result.forward.shipments:
        if line.kind != "shipped":
            continue
        party = line.consignee.code if line.consignee else ""
        key = (line.shipment, party, line.gtin, line.lot)
        grouped[key][0] += line.quantity or 0.0
        if line.serial:
            serials[key].add(line.serial)
    return {key: (round(total[0], 6), frozenset(serials[key])) for key, total in grouped.items()}


def true_shipments(lot: TruthLot) -> Shipments:
    out: dict[tuple[str, str, str, str], tuple[float, frozenset[str]]] = {}
    for s in lot.forward.shipments:
        key = (s.delivery, s.customer, s.gtin, s.lot)
        quantity, serials = out.get(key, (0.0, frozenset()))
        out[key] = (round(quantity + s.quantity, 6), serials | frozenset(s.serials))
    return out


def test_every_lot_traces_to_the_truth(store: Container, truth: Truth) -> None:
    """REQ-22, REQ-26, REQ-16: backward to component and supplier lots, forward to consignees."""
    finished = [lot for lot in truth.lots.values() if lot.kind == "finished"]
    assert len(finished) >= 20, "the plant is too small to prove anything"
    mismatches: list[str] = []
    for lot in truth.lots.values():
        result = store.trace.trace(f"/01/{lot.gtin}/10/{lot.lot}")
        assert result.backward is not None and result.forward is not None
        label = f"{lot.gtin}/{lot.lot}"
        backward = {f"{n.gtin}/{n.lot}" for n in result.backward.lots}
        if backward != set(lot.backward.lots):
            mismatches.append(
                f"{label} backward: extra {sorted(backward - set(lot.backward.lots))}"
                f" missing {sorted(set(lot.backward.lots) - backward)}"
            )
        forward = {f"{n.gtin}/{n.lot}" for n in result.forward.lots}
        if forward != set(lot.forward.lots):
            mismatches.append(
                f"{label} forward: extra {sorted(forward - set(lot.forward.lots))}"
                f" missing {sorted(set(lot.forward.lots) - forward)}"
            )
        work_orders = {w.work_order for w in result.backward.work_orders}
        if lot.work_order:
            work_orders.add(lot.work_order)
        if work_orders != set(lot.backward.work_orders):
            mismatches.append(
                f"{label} work orders {sorted(work_orders)} != {lot.backward.work_orders}"
            )
        suppliers = {
            (n.gtin, n.lot, n.supplier.code if n.supplier else None, n.supplier_lot)
            for n in result.backward.lots
            if n.origin == "received"
        }
        expected = {(s.gtin, s.lot, s.supplier, s.supplier_lot) for s in lot.backward.supplier_lots}
        if suppliers != expected:
            mismatches.append(
                f"{label} supplier lots {sorted(map(str, suppliers))} != "
                f"{sorted(map(str, expected))}"
            )
        if traced_shipments(result) != true_shipments(lot):
            mismatches.append(
                f"{label} shipments {traced_shipments(result)} != {true_shipments(lot)}"
            )
    assert mismatches == [], f"{len(mismatches)} mismatches, first: {mismatches[:5]}"


def test_lot_records_equal_the_truth(store: Container, truth: Truth) -> None:
    """REQ-16, REQ-24: each lot's identity, dates, quantity, origin and status."""
    columns = (t.lot.c.gtin, t.lot.c.lot, t.lot.c.origin, t.lot.c.quantity, t.lot.c.manufactured,
               t.lot.c.expiry, t.lot.c.status, t.lot.c.supplier, t.lot.c.supplier_lot)
    with store.engine.connect() as conn:
        ours = {(r.gtin, r.lot): r for r in conn.execute(select(*columns))}
    mismatches = []
    for key, lot in truth.lots.items():
        row = ours.get(key)
        expected = (lot.origin, lot.quantity, lot.manufactured, lot.expiry, lot.status,
                    lot.supplier, lot.supplier_lot)
        got = None if row is None else (row.origin, row.quantity, row.manufactured, row.expiry,
                                        row.status, row.supplier, row.supplier_lot)
        if got != expected:
            mismatches.append(f"{key}: {got} != {expected}")
    assert mismatches == [], f"{len(mismatches)} of {len(truth.lots)}: {mismatches[:5]}"


def test_stock_per_location_equals_the_truth(store: Container, truth: Truth) -> None:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(t.stock.c.gtin, t.stock.c.lot, t.stock.c.location, t.stock.c.quantity).where(
                t.stock.c.source_system == "wms"
            )
        )
        ours = {(g, lot, loc): round(q, 6) for g, lot, loc, q in rows}
    expected = {
        (s.gtin, s.lot, s.location): round(s.quantity, 6)
        for s in truth.stock
        if abs(s.quantity) > 1e-9
    }
    assert ours == expected


def records_in_exports(plant: Path) -> int:
    csv_rows = sum(
        len((plant / "erp" / f.name).read_bytes().splitlines()) - 1
        for f in (plant / "erp").glob("*.csv")
    )
    json_rows = sum(len(f.read_bytes().splitlines()) for f in (plant / "wms").glob("*.jsonl"))
    return csv_rows + json_rows


def test_bad_records_are_dead_lettered_and_nothing_is_lost(
    store: Container, truth: Truth, plant: Path
) -> None:
    injected = truth.summary["faults"]
    with store.engine.connect() as conn:
        dead = conn.execute(select(func.count()).select_from(t.dead_letter)).scalar_one()
        raw = conn.execute(select(func.count()).select_from(t.raw_record)).scalar_one()
    assert dead == injected["missing_field"] + injected["unknown_code"]
    assert raw == records_in_exports(plant)  # every record received is kept, bad ones too


@pytest.mark.postgres
def test_postgresql_gives_the_same_projections(
    plant: Path, store: Container, postgres_url: str
) -> None:
    """The same exports ingested into PostgreSQL give the same state as on SQLite."""
    pg = ingest_plant(plant, postgres_url)
    try:
        for table in (t.lot, t.stock, t.serial):
            columns = [c for c in table.c if not c.name.endswith("event_time")]
            with store.engine.connect() as a, pg.engine.connect() as b:
                left = sorted(tuple(r) for r in a.execute(select(*columns)))
                right = sorted(tuple(r) for r in b.execute(select(*columns)))
            assert left == right, table.name
    finally:
        pg.close()
