"""``GET /alerts``, ``POST /alerts/{id}/ack|assign|resolve`` and ``GET /rules`` over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tracebridge.alerts.inbox import NewAlert, raise_alert
from tracebridge.api.app import create_app
from tracebridge.api.routes import alerts, rules
from tracebridge.bootstrap import Container

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    app: FastAPI = create_app(container)
    app.include_router(alerts.router)  # the lead wires these into create_app
    app.include_router(rules.router)
    with container.engine.begin() as conn:
        for severity, lot in (("critical", "F1"), ("warning", "F2")):
            raise_alert(conn, NewAlert(code="unreleased-shipment", severity=severity,
                                       title_en="Shipment of an unreleased lot",
                                       title_zh="未放行批次发货", gtin="06901234010015", lot=lot,
                                       detail={"source": "wms:T1"}), now=NOW)
    with TestClient(app) as test_client:
        yield test_client


def test_alerts_are_listed_and_filtered(client: TestClient) -> None:
    listed = client.get("/alerts").json()
    assert [a["lot"] for a in listed] == ["F2", "F1"]  # newest first
    critical = client.get("/alerts", params={"severity": "critical"}).json()
    assert [a["lot"] for a in critical] == ["F1"]
    assert client.get("/alerts", params={"status": "sleeping"}).status_code == 422


def test_ack_assign_resolve_and_refusals(client: TestClient) -> None:
    first = client.get("/alerts", params={"lot": "F1"}).json()[0]["id"]
    acked = client.post(f"/alerts/{first}/ack", json={"actor": "qa.li"})
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    assigned = client.post(f"/alerts/{first}/assign", json={"actor": "qa.li",
                                                            "assignee": "qe.wu"})
    assert assigned.json()["assignee"] == "qe.wu"
    refused = client.post(f"/alerts/{first}/ack", json={"actor": "qa.li"})
    assert refused.status_code == 409 and refused.json()["code"] == "alert-transition"
    no_note = client.post(f"/alerts/{first}/resolve", json={"actor": "qe.wu", "note": ""})
    assert no_note.status_code == 422
    done = client.post(f"/alerts/{first}/resolve",
                       json={"actor": "qe.wu", "note": "Shipment stopped at the dock"})
    assert done.json()["status"] == "resolved" and done.json()["resolved_at"]
    missing = client.post("/alerts/999999/ack", json={"actor": "qa.li"})
    assert missing.status_code == 404 and missing.json()["code"] == "not-found"


def test_rules_are_listed_and_shown(client: TestClient) -> None:
    listed = client.get("/rules").json()
    assert {"failed-inspection", "genealogy-gap"} <= {r["id"] for r in listed}
    shown = client.get("/rules/unreleased-shipment").json()
    assert shown[0]["severity"] == "critical" and shown[0]["title"]["zh-CN"]
    assert client.get("/rules/nope").status_code == 404
    assert client.get("/rules/firings").json() == []
