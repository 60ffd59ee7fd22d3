"""The event store contract, run on SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from tracebridge.bootstrap import Container, bootstrap
from tracebridge.domain.events import (
    CanonicalEvent,
    EventKind,
    Inspection,
    LotRef,
    Source,
)
from tracebridge.domain.master import MasterRecord
from tracebridge.ingest import inbox
from tracebridge.mapping.records import RawRecord
from tracebridge.settings import Settings
from tracebridge.store import master_data
from tracebridge.store import tables as t
from tracebridge.store.event_log import verify_chain
from tracebridge.store.rebuild import rebuild

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
COMPONENT = "09506000134352"
DEVICE = "09506000134369"


def received(lot: str, qty: float, record: str = "GR-1", minutes: int = 0) -> CanonicalEvent:
    return CanonicalEvent(
        kind=EventKind.RECEIVED,
        event_time=T0 + timedelta(minutes=minutes),
        event_time_zone_offset="+08:00",
        lots=(LotRef(gtin=COMPONENT, lot=lot, quantity=qty, uom="EA"),),
        biz_location="WH1-RCV",
        source_party="SUP-1",
        details={"supplier_lot": f"S-{lot}"},
        source=Source(system="erp", record_id=record),
    )


def status_event(kind: EventKind, lot: str, record: str, minutes: int) -> CanonicalEvent:
    return CanonicalEvent(
        kind=kind,
        event_time=T0 + timedelta(minutes=minutes),
        event_time_zone_offset="+08:00",
        lots=(LotRef(gtin=DEVICE, lot=lot),),
        operator="QA-1",
        source=Source(system="erp", record_id=record),
    )


def produced(
    lot: str, inputs: list[tuple[str, float]], record: str, minutes: int = 60
) -> CanonicalEvent:
    return CanonicalEvent(
        kind=EventKind.PRODUCED,
        event_time=T0 + timedelta(minutes=minutes),
        event_time_zone_offset="+08:00",
        lots=(LotRef(gtin=DEVICE, lot=lot, quantity=100, uom="EA", expiry="2029-03-01"),),
        inputs=tuple(LotRef(gtin=COMPONENT, lot=i, quantity=q, uom="EA") for i, q in inputs),
        work_order=f"WO-{lot}",
        biz_location="WH1-RCV",
        source=Source(system="erp", record_id=record),
    )


def rows(container: Container, table: t.Table) -> list[tuple[object, ...]]:
    with container.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(table)))


def test_same_record_twice_is_one_event(container: Container) -> None:
    first = container.ingest.append_events([received("C1", 100)])
    again = container.ingest.append_events([received("C1", 100)])
    assert len(first.stored) == 1 and again.duplicates == 1 and not again.stored
    assert len(rows(container, t.event)) == 1


def test_changed_record_is_a_new_version_and_both_are_kept(container: Container) -> None:
    """REQ-31 style versioning: the old version stays, the new one supersedes it."""
    container.ingest.append_events([received("C1", 100)])
    result = container.ingest.append_events([received("C1", 90)])
    assert result.stored[0].version == 2
    assert result.stored[0].supersedes_seq == 1
    assert len(rows(container, t.event)) == 2
    with container.engine.connect() as conn:
        quantity = conn.execute(select(t.stock.c.quantity)).scalar_one()
    assert quantity == 90


def test_error_declaration_withdraws_the_original_but_keeps_it(container: Container) -> None:
    container.ingest.append_events([received("C1", 100, record="GR-1")])
    container.ingest.append_events(
        [
            CanonicalEvent(
                kind=EventKind.ERROR_DECLARED,
                event_time=T0 + timedelta(hours=1),
                event_time_zone_offset="+08:00",
                corrects=("GR-1",),
                error_reason="did_not_occur",
                source=Source(system="erp", record_id="GR-1-REV"),
            )
        ]
    )
    assert len(rows(container, t.event)) == 2
    assert rows(container, t.stock) == []
    with container.engine.connect() as conn:
        retracted = conn.execute(select(t.stock_move.c.retracted_at)).scalar_one()
    assert retracted is not None


def test_error_declaration_arriving_before_its_original(container: Container) -> None:
    container.ingest.append_events(
        [
            CanonicalEvent(
                kind=EventKind.ERROR_DECLARED,
                event_time=T0 + timedelta(hours=1),
                event_time_zone_offset="+08:00",
                corrects=("GR-7",),
                error_reason="did_not_occur",
                source=Source(system="erp", record_id="GR-7-REV"),
            )
        ]
    )
    container.ingest.append_events([received("C7", 10, record="GR-7")])
    assert rows(container, t.stock) == []


def test_lot_status_follows_event_time_not_arrival(container: Container) -> None:
    container.ingest.append_events([produced("F1", [("C1", 5)], "P1")])
    container.ingest.append_events([status_event(EventKind.HELD, "F1", "H1", minutes=200)])
    container.ingest.append_events([status_event(EventKind.RELEASED, "F1", "UD1", minutes=100)])
    with container.engine.connect() as conn:
        status = conn.execute(select(t.lot.c.status).where(t.lot.c.lot == "F1")).scalar_one()
    assert status == "hold"  # released at 100, then held at 200, whatever the arrival order


def test_later_status_decisions_fold_onto_the_lot_row_and_equal_a_rebuild(
    container: Container, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Status-only batches later than the lot's history are applied to its stored state
    (``store/status_fold.py``); an earlier one refolds the history. Both equal a rebuild."""
    from tracebridge.store import projections

    refolded: list[set[tuple[str, str]]] = []
    original = projections.refresh_lots
    monkeypatch.setattr(projections, "refresh_lots",
                        lambda conn, keys: (refolded.append(set(keys)), original(conn, keys)))
    container.ingest.append_events([produced("F1", [("C1", 5)], "P1")])
    for kind, record, minutes in ((EventKind.RELEASED, "UD1", 100), (EventKind.HELD, "H1", 200),
                                  (EventKind.HELD, "H2", 300)):  # the second hold: a conflict
        container.ingest.append_events([status_event(kind, "F1", record, minutes)])
    assert all((DEVICE, "F1") not in keys for keys in refolded[1:])  # folded, not refolded

    def state() -> tuple[object, ...]:
        with container.engine.connect() as conn:
            return tuple(conn.execute(select(t.lot).where(t.lot.c.lot == "F1")).one())

    with container.engine.connect() as conn:
        status = conn.execute(select(t.lot.c.status, t.lot.c.status_conflicts)
                              .where(t.lot.c.lot == "F1")).one()
    assert tuple(status) == ("hold", 1)
    container.ingest.append_events([status_event(EventKind.REJECTED, "F1", "RJ1", minutes=150)])
    assert (DEVICE, "F1") in refolded[-1]  # earlier than the lot's last event: refolded
    incremental = state()
    rebuild(container.engine)
    assert state() == incremental


@pytest.mark.parametrize("table", ["event", "raw_record", "master_record"])
@pytest.mark.parametrize(
    "statement", ["UPDATE {table} SET source_system = 'x'", "DELETE FROM {table}"]
)
def test_database_refuses_to_change_history(
    container: Container, table: str, statement: str
) -> None:
    """REQ-5 / REQ-4: history tables are append-only in the database itself."""
    container.ingest.append_events([received("C1", 100)])
    now = datetime.now(UTC)
    with container.engine.begin() as conn:
        raw = RawRecord(
            source_system="erp",
            record_type="material",
            payload=b"MATNR\nM-1",
            origin="materials.csv:2",
            fields={"MATNR": "M-1"},
            record_key="M-1",
        )
        inbox.keep(conn, [raw], received_at=now)
        master = MasterRecord(
            entity="product",
            key="M-1",
            attributes={"name": "IV set"},
            source=Source(system="erp", record_id="M-1"),
        )
        master_data.append_versions(conn, [(master, None)], record_time=now)
    with pytest.raises(DBAPIError, match="append-only"), container.engine.begin() as conn:
        conn.execute(text(statement.format(table=table)))


def test_hash_chain_detects_a_direct_edit(sqlite_container: Container) -> None:
    """REQ-8: tampering with a stored event is detected by verification."""
    container = sqlite_container
    container.ingest.append_events([received("C1", 100), received("C2", 50, record="GR-2")])
    with container.engine.connect() as conn:
        assert verify_chain(conn) == []
    with container.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER event_no_update"))  # an attacker with file access
        conn.execute(text("UPDATE event SET body = replace(body, '100', '999') WHERE seq = 1"))
    with container.engine.connect() as conn:
        problems = verify_chain(conn)
    assert [p.seq for p in problems] == [1, 1]


def test_rebuild_reproduces_incremental_state(container: Container) -> None:
    container.ingest.append_events([received("C1", 100), received("C2", 40, record="GR-2")])
    container.ingest.append_events([produced("F1", [("C1", 10), ("C2", 4)], "P1")])
    container.ingest.append_events([status_event(EventKind.RELEASED, "F1", "UD1", 120)])
    container.ingest.append_events([received("C2", 45, record="GR-2")])
    before = {name: rows(container, table) for name, table in _state_tables()}
    rebuild(container.engine)
    after = {name: rows(container, table) for name, table in _state_tables()}
    assert before == after


def _state_tables() -> list[tuple[str, t.Table]]:
    return [(table.name, table) for table in t.PROJECTION_TABLES]


@pytest.mark.postgres
def test_concurrent_writers_produce_one_chain(postgres_url: str) -> None:
    """Several processes' worth of writers racing on PostgreSQL still give one valid chain."""
    app = bootstrap(Settings(database_url=postgres_url))
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                app.ingest.append_events(
                    [
                        received(f"W{n}-{i}", 1 + i, record=f"W{n}-{i}"),
                        CanonicalEvent(
                            kind=EventKind.INSPECTED,
                            event_time=T0,
                            event_time_zone_offset="+08:00",
                            lots=(LotRef(gtin=COMPONENT, lot=f"W{n}-{i}"),),
                            inspection=Inspection(
                                stage="incoming", characteristic="visual", result="pass"
                            ),
                            source=Source(system="erp", record_id=f"QI-{n}-{i}"),
                        ),
                    ]
                )
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with app.engine.connect() as conn:
        assert verify_chain(conn) == []
        count = conn.execute(text("SELECT count(*), max(seq) FROM event")).one()
    assert tuple(count) == (120, 120)
    app.close()


def test_read_snapshot_does_not_see_a_write_committed_during_it(container: Container) -> None:
    """A multi-query answer (trace, recall impact) reads one committed state, on SQLite too."""
    from sqlalchemy import func, select

    from tracebridge.store.database import read_snapshot

    container.ingest.append_events([received("L-SNAP-1", 10, record="GR-S1")])
    count = select(func.count()).select_from(t.event)
    with read_snapshot(container.engine) as conn:
        before = conn.execute(count).scalar_one()
        container.ingest.append_events([received("L-SNAP-2", 5, record="GR-S2")])
        during = conn.execute(count).scalar_one()
    with read_snapshot(container.engine) as conn:
        after = conn.execute(count).scalar_one()
    assert (before, during, after) == (1, 1, 2)
