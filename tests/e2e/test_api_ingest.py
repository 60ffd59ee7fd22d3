"""``POST /ingest/{source}``: 200, 401, 413, 422 with partial accept; nothing is ever lost."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import Table, func, select

from tracebridge.api.app import create_app
from tracebridge.bootstrap import Container
from tracebridge.domain.identifiers import gs1_check_digit
from tracebridge.store.tables import dead_letter, event, raw_record

GTIN = "0950600000001" + str(gs1_check_digit("0950600000001"))
KEY = {"X-API-Key": "wms-secret"}


def txn(number: int, *, uom: str = "EA") -> dict[str, object]:
    return {"txn_id": f"T{number}", "type": "RCV", "ts": 1767571200000 + number, "gtin": GTIN,
            "lot_no": "L-1", "qty": number, "uom": uom, "loc": "WH-01", "user": "u1",
            "ref": {"po": "PO-1", "supplier": "S"}}


def app_with_connectors(container: Container) -> FastAPI:
    return create_app(container)


@pytest.fixture
def client(sqlite_container: Container) -> Iterator[TestClient]:
    sqlite_container.settings.api_keys = {"wms": SecretStr("wms-secret"),
                                          "erp": SecretStr("erp-secret")}
    sqlite_container.settings.max_batch_bytes = 4096
    sqlite_container.settings.max_batch_records = 5
    with TestClient(app_with_connectors(sqlite_container)) as test_client:
        yield test_client


def stored(client: TestClient, table: Table = raw_record) -> int:
    engine = client.app.state.container.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_clean_batch_is_200_with_a_summary(client: TestClient) -> None:
    response = client.post("/ingest/wms", json={"records": [txn(1), txn(2)]}, headers=KEY)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["received"], body["accepted"], body["rejected"]) == (2, 2, 0)
    assert body["events_stored"] == 2 and stored(client, event) == 2


def test_raw_bytes_are_the_exact_slices_of_the_body(client: TestClient) -> None:
    elements = [b'{ "txn_id":"T1", "type":"RCV",  "ts":1767571200001,"gtin":"' + GTIN.encode()
                + b'","lot_no":"L-1","qty":1,"uom":"EA","loc":"W","ref":{}}', b"[1,2]"]
    body = b'{"source": "wms-1",\n "records": [ ' + b" ,\n ".join(elements) + b" ]}"
    response = client.post("/ingest/wms", content=body, headers=KEY)
    assert response.status_code == 422
    engine = client.app.state.container.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        payloads = list(conn.execute(select(raw_record.c.payload).order_by(raw_record.c.id))
                        .scalars())
    assert payloads == elements


def test_json_lines_partial_accept_is_422_with_each_failure(client: TestClient) -> None:
    lines = [json.dumps(txn(1)), "not json", json.dumps(txn(3, uom="BOX")), json.dumps(txn(4))]
    response = client.post("/ingest/wms", content="\n".join(lines).encode(),
                           headers={**KEY, "Content-Type": "application/x-ndjson"})
    assert response.status_code == 422
    body = response.json()
    assert (body["received"], body["accepted"], body["rejected"]) == (4, 2, 2)
    assert [(e["index"], e["reason"]) for e in body["errors"]] == [
        (1, "malformed-record"), (2, "unknown-code")]
    assert body["errors"][1]["errors"][0]["field"] == "uom"
    # the accepted records ARE kept; nothing lost: raw records == records sent
    assert (stored(client), stored(client, event), stored(client, dead_letter)) == (4, 2, 2)


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": "erp-secret"}])
def test_without_the_source_key_it_is_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/ingest/wms", json={"records": [txn(1)]}, headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"
    assert stored(client) == 0


def test_a_source_with_no_key_configured_accepts_nothing(client: TestClient) -> None:
    response = client.post("/ingest/acme", json={"records": []}, headers={"X-API-Key": ""})
    assert response.status_code == 401


@pytest.mark.parametrize("records", [[txn(n) for n in range(6)],  # over the record limit
                                     [{**txn(1), "note": "x" * 5000}]])  # over the byte limit
def test_an_oversize_batch_is_413_and_nothing_is_kept(client: TestClient,
                                                     records: list[dict[str, object]]) -> None:
    response = client.post("/ingest/wms", json={"records": records}, headers=KEY)
    assert response.status_code == 413 and response.json()["code"] == "payload-too-large"
    assert stored(client) == 0


def test_a_csv_source_cannot_take_json(client: TestClient) -> None:
    response = client.post("/ingest/erp", json={"records": []},
                           headers={"X-API-Key": "erp-secret"})
    assert response.status_code == 415 and response.json()["code"] == "unsupported-source"


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.builds(lambda items: json.dumps({"records": items}).encode()[:-1],  # truncated
              st.lists(st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
                       max_size=3)),
    st.lists(st.one_of(st.binary(max_size=40), st.just(json.dumps(txn(1)).encode())),
             max_size=4).map(b"\n".join),
), json_lines=st.booleans())
def test_random_bodies_never_500_and_never_lose_raw_bytes(client: TestClient, body: bytes,
                                                          json_lines: bool) -> None:
    before = stored(client)
    headers = {**KEY, "Content-Type": "application/x-ndjson" if json_lines
               else "application/json"}
    response = client.post("/ingest/wms", content=body, headers=headers)
    assert response.status_code in (200, 422), response.text
    result = response.json()
    assert stored(client) - before == result["received"]
    if result["received"] == 1 and result["errors"] and result["errors"][0]["index"] is None:
        engine = client.app.state.container.engine  # type: ignore[attr-defined]
        with engine.connect() as conn:
            kept = conn.execute(select(raw_record.c.payload).order_by(raw_record.c.id.desc())
                                .limit(1)).scalar_one()
        assert kept == body  # a body that could not be cut is kept whole, byte for byte
