"""The simulator is deterministic: same seed and scale, same bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracebridge.errors import SimulationError
from tracebridge.sim.faults import FaultRates, load_fault_rates
from tracebridge.sim.generator import Plan, generate


def _snapshot(root: Path) -> dict[str, bytes]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    generate(tmp_path / "a", seed=11, scale=0.05, faults=FaultRates())
    generate(tmp_path / "b", seed=11, scale=0.05, faults=FaultRates())
    first, second = _snapshot(tmp_path / "a"), _snapshot(tmp_path / "b")
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []
    assert any(name.startswith("erp/goods_movements_") for name in first)
    assert any(name.startswith("wms/transactions_") for name in first)


def test_different_seed_different_bytes(tmp_path: Path) -> None:
    generate(tmp_path / "a", seed=1, scale=0.05, faults=FaultRates())
    generate(tmp_path / "b", seed=2, scale=0.05, faults=FaultRates())
    first, second = _snapshot(tmp_path / "a"), _snapshot(tmp_path / "b")
    assert first["truth/lots.jsonl"] != second["truth/lots.jsonl"]
    # master data does not depend on the seed
    assert first["erp/materials.csv"] == second["erp/materials.csv"]


def test_rerun_into_same_directory_replaces_earlier_run(tmp_path: Path) -> None:
    generate(tmp_path, seed=5, scale=0.05, faults=FaultRates.none())
    before = _snapshot(tmp_path)
    generate(tmp_path, seed=5, scale=0.05, faults=FaultRates.none())
    assert _snapshot(tmp_path) == before


def test_record_count_grows_linearly_with_scale(tmp_path: Path) -> None:
    small = generate(tmp_path / "s", seed=3, scale=0.25, faults=FaultRates.none())
    large = generate(tmp_path / "l", seed=3, scale=1.0, faults=FaultRates.none())
    assert 7_000 <= large.total_records <= 14_000
    assert 2.5 <= large.total_records / small.total_records <= 5.5


def test_faults_none_injects_nothing(tmp_path: Path) -> None:
    summary = generate(tmp_path, seed=4, scale=0.05, faults=load_fault_rates("none"))
    assert set(summary.faults.values()) == {0}


def test_fault_file_errors_name_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "rates.yaml"
    bad.write_text("duplicate: 2\n", encoding="utf-8")
    with pytest.raises(SimulationError, match=r"rates\.yaml: duplicate"):
        load_fault_rates(bad)
    good = tmp_path / "good.yaml"
    good.write_text("late: 0.5\n", encoding="utf-8")
    assert load_fault_rates(good).late == 0.5


def test_scale_out_of_range_is_refused() -> None:
    with pytest.raises(SimulationError, match="scale 0"):
        Plan.for_scale(0)
