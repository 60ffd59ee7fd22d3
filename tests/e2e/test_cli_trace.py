"""``tracebridge trace`` against a SQLite file named by ``TRACEBRIDGE_DATABASE_URL``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tracebridge.bootstrap import bootstrap
from tracebridge.cli.main import app
from tracebridge.domain.events import BizTransaction, CanonicalEvent, EventKind, LotRef, Source
from tracebridge.domain.identifiers import gs1_check_digit
from tracebridge.settings import Settings

GTIN = "0950600000001" + str(gs1_check_digit("0950600000001"))
T = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("TRACEBRIDGE_DATABASE_URL", url)
    container = bootstrap(Settings(database_url=url))
    shipment = BizTransaction(type="desadv", id="DN-7")
    container.ingest.append_events([
        CanonicalEvent(kind=EventKind.RECEIVED, event_time=T, event_time_zone_offset="+08:00",
                       lots=(LotRef(gtin=GTIN, lot="L-1", quantity=10, uom="EA"),),
                       biz_location="WH", source=Source(system="wms", record_id="R1")),
        CanonicalEvent(kind=EventKind.SHIPPED, event_time=T, event_time_zone_offset="+08:00",
                       lots=(LotRef(gtin=GTIN, lot="L-1", quantity=4, uom="EA"),),
                       biz_location="WH", destination_party="HOSP-1",
                       biz_transactions=(shipment,), source=Source(system="wms", record_id="S1")),
    ])
    container.close()
    return CliRunner()


def test_trace_prints_tree_and_shipments(runner: CliRunner) -> None:
    result = runner.invoke(app, ["trace", "L-1"])
    assert result.exit_code == 0, result.output
    assert "L-1" in result.output and "DN-7" in result.output and "HOSP-1" in result.output


def test_trace_json_is_the_result_model(runner: CliRunner) -> None:
    result = runner.invoke(app, ["trace", f"{GTIN}:L-1", "--json", "--direction", "forward"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["direction"] == "forward" and body["forward"]["shipments"][0]["shipment"] == "DN-7"


def test_trace_as_of_before_recording(runner: CliRunner) -> None:
    result = runner.invoke(app, ["trace", "L-1", "--json", "--as-of", "2000-01-01T00:00:00"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["lot"]["status"] is None


def test_not_found_prints_suggestions_to_stderr_and_exits_1(runner: CliRunner) -> None:
    result = runner.invoke(app, ["trace", "L-2"])
    assert result.exit_code == 1
    assert "not-found" in result.stderr and f"/01/{GTIN}/10/L-1" in result.stderr
    assert result.stdout == ""


def test_bad_direction_exits_2(runner: CliRunner) -> None:
    result = runner.invoke(app, ["trace", "L-1", "--direction", "up"])
    assert result.exit_code == 2 and "expected backward, forward or both" in result.stderr
