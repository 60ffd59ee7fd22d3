"""821 tracking with a patient through the CLI and the API: hospital reports ingested with
``tracebridge ingest --source device-tracking``, answers masked unless revealed (REQ 41)."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tracebridge.api.app import create_app
from tracebridge.bootstrap import bootstrap
from tracebridge.cli.main import app as cli_app
from tracebridge.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from test_tracking_reports import PORT, report, seed_plant

from tracebridge.sim.tracking_export import COLUMNS


def _reports_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "device-tracking"
    folder.mkdir()
    with (folder / "tracking_reports_202603.csv").open("w", encoding="utf-8",
                                                       newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows([report("P001"), report("P002", "LOST")])
    with (folder / "tracking_reports_202604.csv").open("w", encoding="utf-8",
                                                       newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerow(report("P001", "EXPLANT", reported_on="2026-04-03",
                               explant_date="2026-04-01"))
    return folder


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'tracking.db'}"
    monkeypatch.setenv("TRACEBRIDGE_DATABASE_URL", url)
    monkeypatch.setenv("TRACEBRIDGE_RULES_ENABLED", "false")
    container = bootstrap(Settings(database_url=url, rules_enabled=False))
    seed_plant(container)
    container.close()
    return url


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli_app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_req41_cli_ingests_hospital_reports_and_answers_masked_unless_revealed(
        database: str, tmp_path: Path) -> None:
    """REQ-41: after `ingest --source device-tracking`, `recall track` names the patient
    masked, the physicians, the implant and explant dates; --reveal shows the patient."""
    output = _run("ingest", "--source", "device-tracking", "--json",
                  str(_reports_folder(tmp_path)))
    summary = json.loads(output.strip().splitlines()[-1])  # after the progress line
    assert summary["master_versions"] == 2 and summary["rejected"] == {"unknown-code": 1}
    shown = _run("recall", "track", PORT, "P001")
    assert "explanted" in shown and "implanted 2026-03-10 at Suzhou Heart Hospital" in shown
    assert "王*" in shown and "王芳" not in shown and "5678" in shown
    assert "1234 5678" not in shown and "ZY12345678" not in shown
    assert "prescribing physician 李明 医师" in shown and "explanted 2026-04-01" in shown
    assert "--reveal" in shown
    revealed = _run("recall", "track", PORT, "P001", "--reveal")
    assert "王芳" in revealed and "+86 138 1234 5678" in revealed and "ZY12345678" in revealed
    as_json = json.loads(_run("recall", "track", PORT, "P001", "--json"))
    assert as_json["patient_masked"] is True and as_json["patient"]["name"] == "王*"
    assert as_json["state"] == "explanted" and as_json["report_versions"] == 2
    assert as_json["answer_due_working_days"] == 10


@pytest.fixture
def client(database: str) -> Iterator[TestClient]:
    container = bootstrap(Settings(database_url=database, rules_enabled=False))
    with TestClient(create_app(container)) as client:
        yield client
    container.close()


def test_req41_api_masks_patient_identity_unless_reveal_is_asked(
        client: TestClient, tmp_path: Path) -> None:
    container = client.app.state.container  # type: ignore[attr-defined]
    from tracebridge.mapping.engine import load_mapping

    folder = _reports_folder(tmp_path)
    container.ingest.ingest_paths(load_mapping("device-tracking"), sorted(folder.iterdir()))
    masked = client.get(f"/tracking/01/{PORT}/21/P001")
    assert masked.status_code == 200, masked.text
    body = masked.json()
    assert body["patient_masked"] is True
    assert body["patient"] == {"name": "王*", "address": "***", "phone": "+** *** **** 5678",
                               "identifier": "********78"}
    assert body["prescribing_physician"]["name"] == "李明 医师"
    assert (body["implanted_on"], body["explanted_on"]) == ("2026-03-10", "2026-04-01")
    revealed = client.get(f"/tracking/01/{PORT}/21/P001", params={"reveal": "true"}).json()
    assert revealed["patient_masked"] is False and revealed["patient"]["name"] == "王芳"
    assert revealed["patient"]["identifier"] == "ZY12345678"
    without = client.get(f"/tracking/01/{PORT}/21/P003").json()
    assert without["state"] == "at-distributor" and without["patient"] is None
    missing = client.get(f"/tracking/01/{PORT}/21/NOPE")
    assert missing.status_code == 404 and missing.json()["code"] == "not-found"


def test_a_hospital_posts_its_reports_as_csv_and_a_two_line_address_stays_whole(
        client: TestClient) -> None:
    """The REST connector takes a CSV mapping's records as ``text/csv``, cut as a file is:
    a quoted field may span lines, and a bad report is a per-record 422 while the good one
    is stored (REQ 41 data arriving by the hospital's own integration)."""
    import io

    from pydantic import SecretStr

    container = client.app.state.container  # type: ignore[attr-defined]
    container.settings.api_keys = {"device-tracking": SecretStr("hospital-secret")}
    key = {"X-API-Key": "hospital-secret"}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows([report("P001", patient_address="苏州市人民路 1 号\n2 栋 301 室"),
                      report("P002", patient_name="")])
    body = out.getvalue().encode("utf-8")

    wrong_type = client.post("/ingest/device-tracking", content=body,
                             headers={**key, "Content-Type": "application/json"})
    assert wrong_type.status_code == 415 and "text/csv" in wrong_type.json()["message"]

    posted = client.post("/ingest/device-tracking", content=body,
                         headers={**key, "Content-Type": "text/csv; charset=utf-8"})
    assert posted.status_code == 422, posted.text
    answer = posted.json()
    assert (answer["received"], answer["accepted"], answer["rejected"]) == (2, 1, 1)
    [error] = answer["errors"]
    assert error["index"] == 1 and error["origin"].endswith(":4")  # the address took two lines
    assert error["errors"][0]["field"] == "patient_name"
    revealed = client.get(f"/tracking/01/{PORT}/21/P001", params={"reveal": "true"}).json()
    assert revealed["patient"]["address"] == "苏州市人民路 1 号\n2 栋 301 室"
