"""``tracebridge recall …`` against a SQLite file named by ``TRACEBRIDGE_DATABASE_URL``."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tracebridge.bootstrap import bootstrap
from tracebridge.cli import recall as recall_cli
from tracebridge.settings import Settings
from tracebridge.store import master_data

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from test_recall_workflow import COMP, FG, SER, masters, plant_events


def _root() -> typer.Typer:
    from tracebridge.cli.main import app

    if any(group.name == "recall" for group in app.registered_groups):
        return app
    root = typer.Typer()  # until the lead registers the recall commands in cli/main.py
    root.add_typer(recall_cli.app, name="recall")
    return root


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("TRACEBRIDGE_DATABASE_URL", url)
    container = bootstrap(Settings(database_url=url))
    container.ingest.append_events(plant_events())
    with container.engine.begin() as conn:
        master_data.append_versions(conn, masters(), record_time=datetime.now(UTC))
    container.close()
    return CliRunner()


def run(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(_root(), ["recall", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_recall_from_start_to_close(cli: CliRunner, tmp_path: Path) -> None:
    started = json.loads(run(cli, "start", "--scope", f"lot:{COMP}/C-1", "--class", "I",
                             "--depth", "consumer", "--level", "A", "--reason", "leak",
                             "--actor", "qa", "--public-warning", "--json"))
    recall_id = started["id"]
    assert started["public_warning"] is True and started["recall_class"] == "I"
    impact = json.loads(run(cli, "impact", recall_id, "--json"))
    assert set(impact["finished_lots"]) == {f"{FG}/F-1", f"{SER}/S-1"}
    assert "HOSP-1" in run(cli, "impact", recall_id)
    assert f"{FG}/F-1: blocked" in run(cli, "contain", recall_id, "--actor", "qa")
    out = tmp_path / "lists"
    assert "2 customer(s) notified" in run(cli, "notify", recall_id, "--actor", "qa",
                                           "--out", str(out))
    assert (out / f"{recall_id}-HOSP-1.xlsx").exists()
    assert (out / f"{recall_id}-notice.txt").read_text().count("LOT ") == 2
    run(cli, "respond", recall_id, "HOSP-1", "--actor", "qa", "--on-hand", "0",
        "--returned", "8")
    status = json.loads(run(cli, "status", recall_id, "--json"))
    assert status["non_responders"] == ["DIST-1"] and status["quantity_returned"] == 8
    assert "closed" in run(cli, "close", recall_id, "--actor", "qa", "--reason", "complete")


def test_drill_json_gives_the_full_impact_and_stage_times(cli: CliRunner) -> None:
    drill = json.loads(run(cli, "drill", f"/01/{COMP}/10/C-1", "--json"))
    assert set(drill["seconds"]) == {"scope", "impact", "lists", "total"}
    impact = drill["impact"]
    assert set(impact["finished_lots"]) == {f"{FG}/F-1", f"{SER}/S-1"}
    shipped = {c["consignee"]["code"]: (c["shipped"], c["serials"]) for c in impact["customers"]}
    assert shipped == {"HOSP-1": (8, []), "DIST-1": (6, [f"{SER}/S001", f"{SER}/S002"])}
    assert {(s["lot"], s["location"], s["quantity"]) for s in impact["stock"]
            if s["gtin"] != COMP} == {("F-1", "WH", 8.0), ("S-1", "WH", 3.0)}
    assert "mock recall" in run(cli, "drill", f"lot:{COMP}/C-1")


def test_errors_print_their_code_and_exit_1(cli: CliRunner) -> None:
    missing = cli.invoke(_root(), ["recall", "status", "RCL-19990101-001"])
    assert missing.exit_code == 1 and "recall-not-found" in missing.output
    bad = cli.invoke(_root(), ["recall", "start", "--scope", "lot:x", "--class", "I",
                               "--depth", "consumer", "--level", "A", "--reason", "r",
                               "--actor", "qa"])
    assert bad.exit_code == 1 and "recall-input-invalid" in bad.output


def test_track_answers_821_questions(cli: CliRunner) -> None:
    out = run(cli, "track", SER, "S001")
    assert "at-distributor" in out and "MedDist Ltd" in out and "+86 21 2222" in out
