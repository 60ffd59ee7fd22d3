"""``tracebridge dlq`` and ``tracebridge status`` against a SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tracebridge.bootstrap import bootstrap
from tracebridge.cli import dlq, status
from tracebridge.domain.identifiers import gs1_check_digit
from tracebridge.mapping import load_mapping
from tracebridge.mapping.engine import BUILTIN_DIR
from tracebridge.settings import Settings

GTIN = "0950600000001" + str(gs1_check_digit("0950600000001"))

cli = typer.Typer()
cli.add_typer(dlq.app, name="dlq")
status.register(cli)


def txn(number: int, uom: str) -> str:
    return json.dumps({"txn_id": f"T{number}", "type": "RCV", "ts": 1767571200000 + number,
                       "gtin": GTIN, "lot_no": "L-1", "qty": 1, "uom": uom, "loc": "WH-01",
                       "ref": {}})


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("TRACEBRIDGE_DATABASE_URL", url)
    container = bootstrap(Settings(database_url=url))
    path = tmp_path / "transactions_1.jsonl"
    path.write_text("\n".join([txn(1, "EA"), txn(2, "BOX"), txn(3, "CAR")]) + "\n",
                    encoding="utf-8")
    container.ingest.ingest_paths(load_mapping("wms"), [path])
    container.close()
    return CliRunner()


def _listed(runner: CliRunner, *options: str) -> list[dict[str, object]]:
    result = runner.invoke(cli, ["dlq", "list", "--json", *options])
    assert result.exit_code == 0, result.output
    return list(json.loads(result.stdout))


def test_list_show_and_filters(runner: CliRunner) -> None:
    letters = _listed(runner)
    assert [(d["reason"], d["status"]) for d in letters] == [("unknown-code", "open")] * 2
    assert _listed(runner, "--source", "erp") == []
    assert len(_listed(runner, "--status", "open", "--reason", "unknown-code")) == 2
    shown = runner.invoke(cli, ["dlq", "show", str(letters[0]["id"])])
    assert shown.exit_code == 0 and '"uom": "BOX"' in shown.stdout and "attempts 1" in shown.stdout
    missing = runner.invoke(cli, ["dlq", "show", "999"])
    assert missing.exit_code == 1 and "not-found" in missing.output


def test_retry_with_a_fixed_mapping_then_discard_the_rest(runner: CliRunner,
                                                         tmp_path: Path) -> None:
    fixed = tmp_path / "wms-fixed.yaml"
    fixed.write_text((BUILTIN_DIR / "wms.yaml").read_text(encoding="utf-8").replace(
        "values: {EA: EA}", "values: {EA: EA, BOX: EA}"), encoding="utf-8")
    retried = runner.invoke(cli, ["dlq", "retry", "--all", "--mapping", str(fixed)])
    assert retried.exit_code == 1  # one letter (CAR) still fails, and the exit code says so
    assert "retried, 1 event(s) stored" in retried.stdout and "still failing" in retried.stdout
    [left] = _listed(runner, "--status", "open")
    assert left["attempts"] == 2

    no_reason = runner.invoke(cli, ["dlq", "discard", str(left["id"]), "--actor", "qa",
                                    "--reason", " "])
    assert no_reason.exit_code == 1 and "reason-required" in no_reason.output
    done = runner.invoke(cli, ["dlq", "discard", str(left["id"]), "--actor", "qa",
                               "--reason", "unit CAR retired"])
    assert done.exit_code == 0
    shown = json.loads(runner.invoke(cli, ["dlq", "show", str(left["id"]), "--json"]).stdout)
    assert shown["status"] == "discarded"
    assert [(a["action"], a["actor"]) for a in shown["actions"]] == [("retry-failed", "cli"),
                                                                     ("discarded", "qa")]
    assert runner.invoke(cli, ["dlq", "retry"]).exit_code == 2


def test_status_reports_each_connector(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["status", "--json"])
    assert result.exit_code == 0, result.output
    [wms] = json.loads(result.stdout)
    assert (wms["connector"], wms["records_received"], wms["dlq_depth"]) == ("wms", 3, 2)
    assert wms["error_rate"] == pytest.approx(2 / 3, abs=1e-3)
    table = runner.invoke(cli, ["status"])
    assert table.exit_code == 0 and "wms" in table.stdout
