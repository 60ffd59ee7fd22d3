"""``tracebridge reconcile`` against a SQLite file named by ``TRACEBRIDGE_DATABASE_URL``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tracebridge.bootstrap import bootstrap
from tracebridge.cli import reconcile
from tracebridge.domain.events import BizTransaction, CanonicalEvent, EventKind, LotRef, Source
from tracebridge.domain.identifiers import gs1_check_digit
from tracebridge.settings import Settings

GTIN = "0950600000001" + str(gs1_check_digit("0950600000001"))
T = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

# The command as the root app mounts it (``app.add_typer(reconcile.app, name="reconcile")``).
cli = typer.Typer()
cli.add_typer(reconcile.app, name="reconcile")


def _shipment(system: str, record: str, quantity: int) -> CanonicalEvent:
    return CanonicalEvent(
        kind=EventKind.SHIPPED, event_time=T, event_time_zone_offset="+08:00",
        lots=(LotRef(gtin=GTIN, lot="L-1", quantity=quantity, uom="EA"),),
        biz_location="WH", destination_party="HOSP-1",
        biz_transactions=(BizTransaction(type="desadv", id="DN-7"),),
        source=Source(system=system, record_id=record))


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("TRACEBRIDGE_DATABASE_URL", url)
    container = bootstrap(Settings(database_url=url))
    container.ingest.append_events([_shipment("erp", "4900-1", 5), _shipment("wms", "T-1", 4)])
    container.close()
    return CliRunner()


def test_reconcile_json_has_the_kpi_and_the_findings_side_by_side(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["reconcile", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["run"]["consistency"] == 0.0 and body["run"]["lots_total"] == 1
    shipped = next(f for f in body["findings"] if f["code"] == "quantity-mismatch-shipped")
    assert (shipped["reference"], shipped["left"]["value"], shipped["right"]["value"]) == (
        "DN-7", 5.0, 4.0)
    assert (shipped["left"]["records"], shipped["right"]["records"]) == (["4900-1"], ["T-1"])


def test_reconcile_prints_a_headline_and_a_table(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["reconcile", "--since", "24h"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "consistency 0.0%" in result.output
    assert "quantity-mismatch-shipped" in result.output and "4900-1" in result.output


def test_show_drills_down_to_both_source_records(runner: CliRunner) -> None:
    runner.invoke(cli, ["reconcile"])
    result = runner.invoke(cli, ["reconcile", "show", "1", "--json"])
    assert result.exit_code == 0, result.output
    detail = json.loads(result.stdout)
    assert [s["source_record_id"] for s in detail["left_sources"]] == ["4900-1"]
    assert [s["source_record_id"] for s in detail["right_sources"]] == ["T-1"]
    human = runner.invoke(cli, ["reconcile", "show", "1"], env={"COLUMNS": "200"})
    assert human.exit_code == 0 and "T-1" in human.output


def test_show_of_an_unknown_finding_says_what_exists(runner: CliRunner) -> None:
    runner.invoke(cli, ["reconcile"])
    result = runner.invoke(cli, ["reconcile", "show", "42"])
    assert result.exit_code == 1
    assert "finding-not-found" in result.output and "1 to 2" in result.output


def test_bad_durations_and_tolerances_are_refused(runner: CliRunner, tmp_path: Path) -> None:
    bad = runner.invoke(cli, ["reconcile", "--every", "soon"])
    assert bad.exit_code == 2 and "expected a positive duration" in bad.output
    since = runner.invoke(cli, ["reconcile", "--since", "yesterday"])
    assert since.exit_code == 2 and "ISO 8601" in since.output
    broken = tmp_path / "tol.yaml"
    broken.write_text("quantities:\n  shipped: {absolute: lots}\n", encoding="utf-8")
    refused = runner.invoke(cli, ["reconcile", "--tolerances", str(broken)])
    assert refused.exit_code == 2
    assert "reconciliation-config-invalid" in refused.output and "tol.yaml:2" in refused.output


def test_a_tolerance_file_changes_what_is_a_finding(runner: CliRunner, tmp_path: Path) -> None:
    loose = tmp_path / "loose.yaml"
    loose.write_text("quantities:\n  default: {absolute: 1}\n", encoding="utf-8")
    result = runner.invoke(cli, ["reconcile", "--json", "--tolerances", str(loose)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["findings"] == []
