"""The trace API over HTTP: answers, error bodies, health and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tracebridge.api.app import create_app
from tracebridge.bootstrap import Container
from tracebridge.domain.events import BizTransaction, CanonicalEvent, EventKind, LotRef, Source
from tracebridge.domain.identifiers import gs1_check_digit

GTIN_A = "0950600000001" + str(gs1_check_digit("0950600000001"))
GTIN_B = "0950600000002" + str(gs1_check_digit("0950600000002"))
T = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _event(kind: EventKind, record: str, *refs: LotRef, **fields: Any) -> CanonicalEvent:
    return CanonicalEvent(kind=kind, event_time=T, event_time_zone_offset="+08:00", lots=refs,
                          source=Source(system="wms", record_id=record), **fields)


@pytest.fixture
def client(sqlite_container: Container) -> Iterator[TestClient]:
    sqlite_container.ingest.append_events([
        _event(EventKind.RECEIVED, "R1", LotRef(gtin=GTIN_A, lot="L-1", quantity=10),
               biz_location="WH"),
        _event(EventKind.RECEIVED, "R2", LotRef(gtin=GTIN_A, lot="DUP", quantity=1),
               biz_location="WH"),
        _event(EventKind.RECEIVED, "R3", LotRef(gtin=GTIN_B, lot="DUP", quantity=1),
               biz_location="WH"),
        _event(EventKind.SHIPPED, "S1", LotRef(gtin=GTIN_A, lot="L-1", quantity=4),
               biz_location="WH", destination_party="HOSP-1",
               biz_transactions=(BizTransaction(type="desadv", id="DN-1"),)),
    ])
    with TestClient(create_app(sqlite_container)) as test_client:
        yield test_client


def test_trace_by_digital_link_path_returns_the_trace(client: TestClient) -> None:
    response = client.get(f"/trace/01/{GTIN_A}/10/L-1", params={"direction": "forward"})
    assert response.status_code == 200
    body = response.json()
    assert body["subject"]["lot"] == "L-1" and body["backward"] is None
    [line] = body["forward"]["shipments"]
    assert (line["shipment"], line["quantity"], line["consignee"]["code"]) == ("DN-1", 4, "HOSP-1")


def test_trace_as_of_before_anything_was_recorded(client: TestClient) -> None:
    response = client.get("/trace/L-1", params={"as_of": "2000-01-01T00:00:00Z"})
    assert response.status_code == 200
    assert response.json()["lot"]["status"] is None


def test_unknown_lot_is_404_with_suggestions(client: TestClient) -> None:
    response = client.get("/trace/L-2")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "not-found" and f"/01/{GTIN_A}/10/L-1" in body["suggestions"]


def test_lot_number_of_two_gtins_is_409_with_candidates(client: TestClient) -> None:
    response = client.get("/trace/DUP")
    assert response.status_code == 409
    assert response.json()["candidates"] == [f"/01/{GTIN_A}/10/DUP", f"/01/{GTIN_B}/10/DUP"]


def test_bad_check_digit_is_422_with_code_and_message(client: TestClient) -> None:
    wrong = GTIN_A[:-1] + str((int(GTIN_A[-1]) + 1) % 10)
    response = client.get(f"/trace/01/{wrong}/10/L-1")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid-identifier" and "check digit" in body["message"]


def test_bad_direction_is_rejected_in_the_same_error_shape(client: TestClient) -> None:
    response = client.get("/trace/L-1", params={"direction": "sideways"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid-request" and "'sideways'" in body["message"]


def test_health_checks_the_database(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_health_reports_an_unreachable_database(sqlite_container: Container) -> None:
    from sqlalchemy import create_engine

    broken = replace(sqlite_container, engine=create_engine("sqlite:////nonexistent-dir/x.db"))
    response = TestClient(create_app(broken)).get("/health")
    assert response.status_code == 503 and response.json()["database"] == "error"


def test_openapi_documents_trace_and_its_error_responses(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "TraceBridge"
    responses = spec["paths"]["/trace/{ref}"]["get"]["responses"]
    assert {"200", "404", "409", "422"} <= set(responses)
    assert "TraceResult" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def test_root_points_to_docs_and_health(sqlite_container: Container) -> None:
    from fastapi.testclient import TestClient

    from tracebridge.api.app import create_app

    body = TestClient(create_app(sqlite_container)).get("/").json()
    assert body["docs"] == "/docs" and body["health"] == "/health"


def test_a_serving_app_freezes_its_start_up_heap(sqlite_container: Container) -> None:
    """``tracebridge serve`` builds the app with ``freeze_heap``: once started, what start-up
    built is out of the collector's full scans (which put 50–90 ms into some traces)."""
    import gc

    thresholds = gc.get_threshold()
    gc.unfreeze()
    try:
        with TestClient(create_app(sqlite_container, freeze_heap=True)) as served:
            assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] == 10_000
            assert served.get("/health/live").status_code == 200
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        with TestClient(create_app(sqlite_container)):
            assert gc.get_freeze_count() == 0 and gc.get_threshold() == thresholds
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_the_command_settles_its_heap_and_a_host_program_keeps_its_own(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from tracebridge import process
    from tracebridge.bootstrap import bootstrap
    from tracebridge.settings import Settings

    thresholds = gc.get_threshold()
    gc.unfreeze()
    try:
        bootstrap(Settings(database_url=sqlite_url)).close()
        assert gc.get_freeze_count() == 0 and gc.get_threshold() == thresholds
        monkeypatch.setattr(process, "owned_by_command", True)
        bootstrap(Settings(database_url=sqlite_url)).close()
        assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] == 10_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
