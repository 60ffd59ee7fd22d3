"""Interface health over HTTP: liveness, readiness, per-connector health, Prometheus metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from tracebridge.api.app import create_app
from tracebridge.bootstrap import Container
from tracebridge.domain.identifiers import gs1_check_digit
from tracebridge.monitor.health import connector_health

GTIN = "0950600000001" + str(gs1_check_digit("0950600000001"))
SOURCE_TIME = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture
def client(sqlite_container: Container) -> Iterator[TestClient]:
    sqlite_container.settings.api_keys = {"wms": SecretStr("k")}
    app = create_app(sqlite_container)
    with TestClient(app) as test_client:
        lines = [json.dumps({"txn_id": f"T{n}", "type": "RCV",
                             "ts": int(SOURCE_TIME.timestamp() * 1000), "gtin": GTIN,
                             "lot_no": "L-1", "qty": 1, "uom": "EA" if n else "BOX",
                             "loc": "WH", "ref": {}}) for n in range(4)]
        posted = test_client.post("/ingest/wms", content="\n".join(lines),
                                  headers={"X-API-Key": "k", "Content-Type": "application/jsonl"})
        assert posted.status_code == 422
        yield test_client


def test_live_ready_and_the_old_health_still_answer(client: TestClient) -> None:
    assert client.get("/health/live").json() == {"status": "alive"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["migrations"] == "at-head"
    assert client.get("/health").json() == {"status": "ok", "database": "ok"}


def test_connector_health_figures(client: TestClient) -> None:
    [wms] = client.get("/health/connectors").json()
    assert (wms["records_received"], wms["dlq_depth"], wms["error_rate"]) == (4, 1, 0.25)
    assert wms["throughput_per_minute"] == pytest.approx(4 / 60, abs=1e-3)
    assert wms["lag_seconds"] > 0 and wms["last_success"] is not None
    engine = client.app.state.container.engine  # type: ignore[attr-defined]
    later = datetime.now(UTC) + timedelta(hours=2)
    [quiet] = connector_health(engine, now=later)  # nothing in the last hour then
    assert (quiet.throughput_per_minute, quiet.error_rate) == (0, None)
    assert quiet.outbox_backlog is None or quiet.outbox_backlog == 0


def test_prometheus_exposition(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "text/plain")
    samples = {(s.name, s.labels.get("connector")): s.value
               for family in text_string_to_metric_families(response.text)
               for s in family.samples}
    assert samples[("tracebridge_connector_records_received_total", "wms")] == 4
    assert samples[("tracebridge_connector_dead_letters_open", "wms")] == 1
    assert samples[("tracebridge_connector_error_rate", "wms")] == 0.25
    assert samples[("tracebridge_connector_lag_seconds", "wms")] > 0


def test_dead_letters_over_http(client: TestClient) -> None:
    [letter] = client.get("/dead-letters", params={"status": "open"}).json()
    shown = client.get(f"/dead-letters/{letter['id']}").json()
    assert '"uom": "BOX"' in shown["payload"] and shown["errors"][0]["field"] == "uom"
    assert client.post(f"/dead-letters/{letter['id']}/retry").status_code == 422  # still bad
    assert client.get(f"/dead-letters/{letter['id']}").json()["attempts"] == 2
    no_reason = client.post(f"/dead-letters/{letter['id']}/discard",
                            json={"reason": "", "actor": "qa"})
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "reason-required"
    ok = client.post(f"/dead-letters/{letter['id']}/discard",
                     json={"reason": "duplicate test", "actor": "qa"})
    assert ok.status_code == 200 and ok.json()["status"] == "discarded"
    again = client.post(f"/dead-letters/{letter['id']}/retry")
    assert again.status_code == 409 and again.json()["code"] == "dead-letter-closed"
    assert client.get("/dead-letters/999").status_code == 404
