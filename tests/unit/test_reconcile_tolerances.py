"""Reconciliation tolerances are data: loaded, validated, errors with file:line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tracebridge.errors import ReconciliationConfigError
from tracebridge.reconcile.compare import CODES
from tracebridge.reconcile.tolerances import BUILTIN, load_tolerances

ROOT = Path(__file__).resolve().parents[2]


def test_builtin_tolerances_load_and_map_both_systems_to_the_site() -> None:
    tolerances = load_tolerances()
    assert (tolerances.left, tolerances.right) == ("erp", "wms")
    assert tolerances.shared_location("erp", "1000-FG01") == "site"
    assert tolerances.shared_location("wms", "QRT-01-02") == "site"
    assert tolerances.quantity("shipped").allowed(10, 10) < 1e-3
    assert load_tolerances(BUILTIN) == tolerances


def test_a_wrong_value_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "tol.yaml"
    path.write_text("left: erp\nquantities:\n  shipped:\n    absolute: -1\n", encoding="utf-8")
    with pytest.raises(ReconciliationConfigError) as caught:
        load_tolerances(path)
    assert re.search(r"tol\.yaml:4: quantities\.shipped\.absolute: .*-1", caught.value.message)


def test_an_unknown_key_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "tol.yaml"
    path.write_text("left: erp\nright: wms\ntolerance: 3\n", encoding="utf-8")
    with pytest.raises(ReconciliationConfigError, match=r"tol\.yaml:3: tolerance"):
        load_tolerances(path)


def test_broken_yaml_and_missing_files_are_reported(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("left: [erp\n", encoding="utf-8")
    with pytest.raises(ReconciliationConfigError, match=r"broken\.yaml:.*not valid YAML"):
        load_tolerances(broken)
    with pytest.raises(ReconciliationConfigError, match="cannot read"):
        load_tolerances(tmp_path / "absent.yaml")
    listed = tmp_path / "list.yaml"
    listed.write_text("- erp\n", encoding="utf-8")
    with pytest.raises(ReconciliationConfigError, match="expected a mapping"):
        load_tolerances(listed)


def test_every_reconciliation_code_is_documented() -> None:
    doc = (ROOT / "docs" / "error-codes.md").read_text(encoding="utf-8")
    codes = {*CODES.values(), "reconciliation-config-invalid", "finding-not-found"}
    assert sorted(c for c in codes if f"`{c}`" not in doc) == []
