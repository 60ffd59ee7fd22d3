"""Database polling against a real PostgreSQL schema standing in for an ERP.

The ERP table keeps WMS-style stock moves with an ``updated_at`` time stamp; several rows
share one time stamp so that batch boundaries fall between them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from typer import Typer
from typer.testing import CliRunner

from tracebridge.bootstrap import Container
from tracebridge.cli import connectors
from tracebridge.errors import ConnectorError
from tracebridge.ingest.db_poll import DbPoller, Mark, PollConfig, load_poll_config
from tracebridge.mapping.engine import load_mapping
from tracebridge.mapping.records import MappedRecord, RawRecord

pytestmark = pytest.mark.postgres

WMS = load_mapping("wms")
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
SCHEMA = """
CREATE TABLE erp_stock_move (
    id         serial PRIMARY KEY,
    txn_id     text NOT NULL,
    type       text NOT NULL,
    ts         bigint NOT NULL,
    gtin       text NOT NULL,
    lot_no     text NOT NULL,
    qty        numeric(12, 3) NOT NULL,
    uom        text NOT NULL,
    loc        text NOT NULL,
    from_loc   text,
    operator   text,
    updated_at timestamptz NOT NULL
)"""
QUERY = ("SELECT id, txn_id, type, ts, gtin, lot_no, qty, uom, loc, from_loc, "
         "operator AS \"user\", updated_at FROM erp_stock_move")


@pytest.fixture
def erp(postgres_url: str) -> Iterator[Engine]:
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text(SCHEMA))
    yield engine
    engine.dispose()


def insert(erp: Engine, numbers: list[int], updated_at: datetime) -> None:
    rows = [{"txn_id": f"E{n:04d}", "type": "MOV", "ts": 1_714_550_400_000 + n, "gtin":
             "09506000134352", "lot_no": f"L{n % 3}", "qty": "2.500", "uom": "EA",
             "loc": "A-01", "from_loc": "RCV", "operator": "erp", "updated_at": updated_at}
            for n in numbers]
    with erp.begin() as conn:
        conn.execute(text(
            "INSERT INTO erp_stock_move (txn_id, type, ts, gtin, lot_no, qty, uom, loc, "
            "from_loc, operator, updated_at) VALUES (:txn_id, :type, :ts, :gtin, :lot_no, "
            ":qty, :uom, :loc, :from_loc, :operator, :updated_at)"), rows)


def config(**changes: Any) -> PollConfig:
    return PollConfig(name="erp-moves", source_url="unused-here", query=QUERY,
                      hwm_column="updated_at", key_column="id", mapping="wms",
                      record_type="transaction", batch_size=2, **changes)


def store_counts(app: Container) -> dict[str, int]:
    with app.engine.connect() as conn:
        return {
            "raw": conn.execute(text("SELECT COUNT(*) FROM raw_record")).scalar_one(),
            "events": conn.execute(text("SELECT COUNT(*) FROM event")).scalar_one(),
            "records": conn.execute(text(
                "SELECT COUNT(DISTINCT source_record_id) FROM event")).scalar_one(),
        }


def test_req1_polls_new_rows_once_with_same_timestamp_ties(
    erp: Engine, sqlite_container: Container
) -> None:
    """REQ-1: every ERP row becomes one event, also when rows share a time stamp across a
    batch boundary, and nothing is read twice."""
    insert(erp, [1, 2], T0)
    insert(erp, [3, 4, 5], T0 + timedelta(seconds=1))  # three rows, one time stamp
    insert(erp, [6, 7], T0 + timedelta(seconds=2))
    poller = DbPoller(sqlite_container.ingest, WMS, config(), source=erp,
                      record_type="transaction")
    first = poller.poll_once()
    assert first.rows == 2 and first.mark is not None and first.mark.key == 2
    poller.run(until_caught_up=True)
    assert store_counts(sqlite_container) == {"raw": 7, "events": 7, "records": 7}
    assert poller.mark() == Mark(T0 + timedelta(seconds=2), 7)

    # More rows, two of them with the time stamp of the current mark itself.
    insert(erp, [8, 9], T0 + timedelta(seconds=2))
    insert(erp, [10, 11], T0 + timedelta(seconds=3))
    summary = poller.run(until_caught_up=True)
    assert summary.received == 4 and summary.events_stored == 4 and summary.duplicates == 0
    assert store_counts(sqlite_container) == {"raw": 11, "events": 11, "records": 11}
    assert poller.poll_once().rows == 0


def test_req31_a_changed_source_row_is_a_new_version(
    erp: Engine, sqlite_container: Container
) -> None:
    """REQ-31 / REQ-4: an ERP row updated after it was polled arrives as version 2; the
    first version stays in the log."""
    insert(erp, [1, 2, 3], T0)
    poller = DbPoller(sqlite_container.ingest, WMS, config(), source=erp,
                      record_type="transaction")
    poller.run(until_caught_up=True)
    with erp.begin() as conn:
        conn.execute(text("UPDATE erp_stock_move SET qty = 4, updated_at = :t WHERE id = 2"),
                     {"t": T0 + timedelta(minutes=5)})
    assert poller.run(until_caught_up=True).events_stored == 1
    with sqlite_container.engine.connect() as conn:
        versions = conn.execute(text(
            "SELECT version, body FROM event WHERE source_record_id = 'E0002' ORDER BY version"
        )).all()
    assert [v.version for v in versions] == [1, 2]
    assert [json.loads(v.body)["lots"][0]["quantity"] for v in versions] == [2.5, 4.0]


class FailingMapper:
    """The WMS mapping, except that a mapping bug blows up on one record."""

    source_system, mapping_id, version = WMS.source_system, WMS.mapping_id, WMS.version

    def __init__(self, bad_key: str) -> None:
        self.bad_key = bad_key

    def read(self, path: Path) -> Iterator[RawRecord]:
        return WMS.read(path)

    def map(self, raw: RawRecord) -> MappedRecord:
        if raw.record_key == self.bad_key:
            raise RuntimeError("simulated crash in the middle of a batch")
        return WMS.map(raw)


def test_a_batch_that_fails_moves_neither_data_nor_mark(
    erp: Engine, sqlite_container: Container
) -> None:
    insert(erp, [1, 2, 3, 4], T0)
    failing = DbPoller(sqlite_container.ingest, FailingMapper("4"), config(), source=erp,
                       record_type="transaction")
    failing.poll_once()
    mark_before = failing.mark()
    with pytest.raises(RuntimeError):
        failing.poll_once()  # rows 3 and 4: the whole batch rolls back with its mark
    assert failing.mark() == mark_before
    assert store_counts(sqlite_container) == {"raw": 2, "events": 2, "records": 2}
    healthy = DbPoller(sqlite_container.ingest, WMS, config(), source=erp,
                       record_type="transaction")
    healthy.run(until_caught_up=True)
    assert store_counts(sqlite_container) == {"raw": 4, "events": 4, "records": 4}


def test_cli_poll_reads_the_yaml_config(
    erp: Engine, postgres_url: str, sqlite_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    insert(erp, [1, 2, 3], T0)
    path = tmp_path / "erp-poll.yaml"
    path.write_text(
        f"name: erp-moves\nsource_url: {postgres_url}\nquery: '{QUERY}'\n"
        "hwm_column: updated_at\nkey_column: id\nmapping: wms\nrecord_type: transaction\n",
        encoding="utf-8")
    monkeypatch.setenv("TRACEBRIDGE_DATABASE_URL", sqlite_url)
    app = Typer()
    connectors.register(app)
    result = CliRunner().invoke(app, ["poll", "--config", str(path), "--once"])
    assert result.exit_code == 0, result.output
    assert '"events_stored": 3' in result.output


def test_config_errors_name_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nsource_url: sqlite://\nquery: SELECT 1\n"
                    "hwm_column: 'updated at; drop'\nkey_column: id\n", encoding="utf-8")
    with pytest.raises(ConnectorError) as caught:
        load_poll_config(path)
    assert str(path) in caught.value.message
    assert "hwm_column" in caught.value.message and "mapping" in caught.value.message
