"""The recall routes: thin HTTP over ``RecallService`` (same plant as the workflow test)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook  # type: ignore[import-untyped]
from test_recall_workflow import COMP, SER, masters, plant_events

from tracebridge.api.app import create_app
from tracebridge.bootstrap import Container
from tracebridge.store import master_data


@pytest.fixture
def client(sqlite_container: Container) -> Iterator[TestClient]:
    sqlite_container.ingest.append_events(plant_events())
    with sqlite_container.engine.begin() as conn:
        master_data.append_versions(conn, masters(), record_time=datetime.now(UTC))
    app = create_app(sqlite_container)
    with TestClient(app) as client:
        yield client


START = {"recall_class": "II", "depth": "retail", "public_warning": False,
         "effectiveness_level": "C", "reason": "bubbles in tubing",
         "scope": [f"lot:{COMP}/C-1"], "actor": "qa"}


def test_recall_round_trip_over_http(client: TestClient) -> None:
    started = client.post("/recalls", json=START)
    assert started.status_code == 201, started.text
    recall_id = started.json()["id"]
    impact = client.get(f"/recalls/{recall_id}/impact").json()
    assert {c["consignee"]["code"] for c in impact["customers"]} == {"HOSP-1", "DIST-1"}
    contained = client.post(f"/recalls/{recall_id}/contain", json={"actor": "qa"}).json()
    assert {r["outcome"] for r in contained} == {"blocked"}
    assert client.post(f"/recalls/{recall_id}/notify",
                       json={"actor": "qa", "method": "e-mail"}).status_code == 200
    listed = client.get(f"/recalls/{recall_id}/lists/DIST-1", params={"format": "xlsx"})
    assert listed.status_code == 200
    rows = list(load_workbook(io.BytesIO(listed.content)).active.iter_rows(values_only=True))
    assert {row[5] for row in rows[2:]} == {"S001", "S002", None}  # F-1 is not serialised
    report = client.post(f"/recalls/{recall_id}/responses", json={
        "actor": "qa", "party": "DIST-1", "quantity_on_hand": 6, "quantity_returned": 0}).json()
    assert report["consignees_responded"] == 1 and report["non_responders"] == ["HOSP-1"]
    closed = client.post(f"/recalls/{recall_id}/close", json={"actor": "qa", "reason": "done"})
    assert closed.json()["status"] == "closed"
    refused = client.post(f"/recalls/{recall_id}/contain", json={"actor": "qa"})
    assert refused.status_code == 409 and refused.json()["code"] == "recall-step-refused"


def test_errors_have_stable_codes(client: TestClient) -> None:
    missing = client.get("/recalls/RCL-19990101-001/status")
    assert missing.status_code == 404 and missing.json()["code"] == "recall-not-found"
    bad_scope = client.post("/recalls", json={**START, "scope": ["colour:red"]})
    assert bad_scope.status_code == 422 and bad_scope.json()["code"] == "recall-input-invalid"
    bad_class = client.post("/recalls", json={**START, "recall_class": "IV"})
    assert bad_class.status_code == 422 and bad_class.json()["code"] == "invalid-request"


def test_drill_and_tracking(client: TestClient) -> None:
    drill = client.get(f"/recall-drill/lot:{COMP}/C-1")
    assert drill.status_code == 200, drill.text
    assert drill.json()["customer_lists"] == 2
    tracked = client.get(f"/tracking/01/{SER}/21/S002").json()
    assert tracked["state"] == "at-distributor" and tracked["holder"]["code"] == "DIST-1"
