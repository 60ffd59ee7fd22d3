"""``GET /reconciliation`` and ``GET /reconciliation/findings/{id}`` over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tracebridge.api import errors
from tracebridge.api.routes import reconcile
from tracebridge.bootstrap import Container
from tracebridge.domain.events import BizTransaction, CanonicalEvent, EventKind, LotRef, Source
from tracebridge.domain.identifiers import gs1_check_digit
from tracebridge.reconcile.service import ReconcileService

GTIN = "0950600000001" + str(gs1_check_digit("0950600000001"))
T = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _shipment(system: str, record: str, quantity: int) -> CanonicalEvent:
    return CanonicalEvent(
        kind=EventKind.SHIPPED, event_time=T, event_time_zone_offset="+08:00",
        lots=(LotRef(gtin=GTIN, lot="L-1", quantity=quantity, uom="EA"),),
        biz_location="WH", destination_party="HOSP-1",
        biz_transactions=(BizTransaction(type="desadv", id="DN-7"),),
        source=Source(system=system, record_id=record))


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    container.ingest.append_events([_shipment("erp", "4900-1", 5), _shipment("wms", "T-1", 4)])
    service = ReconcileService(container.engine)
    service.run()
    # The router alone, as create_app mounts it, over a container that has the service.
    api = FastAPI()
    api.state.container = SimpleNamespace(reconcile=service)
    errors.install(api)
    api.include_router(reconcile.router)
    with TestClient(api) as test_client:
        yield test_client


def test_reconciliation_gives_the_kpi_and_open_findings(client: TestClient) -> None:
    response = client.get("/reconciliation")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["last_run"]["consistency"] == 0.0 and body["open"] == 2
    codes = {f["code"] for f in body["findings"]}
    assert codes == {"quantity-mismatch-shipped", "quantity-mismatch-on-hand"}
    assert client.get("/reconciliation", params={"status": "closed"}).json()["findings"] == []


def test_finding_detail_has_both_sides_raw_records(client: TestClient) -> None:
    listed = client.get("/reconciliation").json()["findings"]
    shipped = next(f for f in listed if f["code"] == "quantity-mismatch-shipped")
    detail = client.get(f"/reconciliation/findings/{shipped['id']}").json()
    assert [s["source_record_id"] for s in detail["left_sources"]] == ["4900-1"]
    assert [s["source_record_id"] for s in detail["right_sources"]] == ["T-1"]
    assert detail["left"]["system"] == "erp" and detail["right"]["value"] == 4.0


def test_unknown_finding_is_a_404_with_a_code(client: TestClient) -> None:
    response = client.get("/reconciliation/findings/99")
    assert response.status_code == 404
    assert response.json()["code"] == "finding-not-found"
    assert client.get("/reconciliation", params={"status": "maybe"}).status_code == 422
