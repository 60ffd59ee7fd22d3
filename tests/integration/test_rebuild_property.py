"""Property: projections maintained batch by batch equal projections rebuilt from the log.

Random event sequences over a small world of lots and record ids, so that duplicates,
new versions, error declarations (before and after their originals), out-of-order
event times and rework all happen, cut into random batches.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tracebridge.bootstrap import bootstrap
from tracebridge.domain.events import (
    BizTransaction,
    CanonicalEvent,
    EventKind,
    Inspection,
    LotRef,
    Source,
)
from tracebridge.domain.lot_status import STATUS_CHANGING_KINDS
from tracebridge.settings import Settings
from tracebridge.store import tables as t
from tracebridge.store.rebuild import rebuild

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GTINS = ("09506000134352", "09506000134369")
LOTS = ("A", "B", "C", "D")
RECORDS = tuple(f"R{i}" for i in range(12))
LOCATIONS = ("BIN-1", "BIN-2", "DOCK")
SIMPLE_KINDS = (
    EventKind.RECEIVED,
    EventKind.SHIPPED,
    EventKind.RELEASED,
    EventKind.HELD,
    EventKind.HOLD_RELEASED,
    EventKind.REJECTED,
    EventKind.RETURNED,
    EventKind.SCRAPPED,
    EventKind.STOCK_ADJUSTED,
    EventKind.RECALLED,
    EventKind.PICKED,
)
STATUS_KINDS = tuple(sorted(STATUS_CHANGING_KINDS))

lot_refs = st.builds(
    LotRef,
    gtin=st.sampled_from(GTINS),
    lot=st.sampled_from(LOTS),
    quantity=st.integers(min_value=-5, max_value=50).map(float),
    uom=st.just("EA"),
    serials=st.lists(st.sampled_from(("S1", "S2", "S3")), max_size=2, unique=True).map(tuple),
)


@st.composite
def events(draw: st.DrawFn) -> CanonicalEvent:
    when = T0 + timedelta(minutes=draw(st.integers(min_value=0, max_value=500)))
    source = Source(
        system=draw(st.sampled_from(("erp", "wms"))), record_id=draw(st.sampled_from(RECORDS))
    )
    common = {
        "event_time": when,
        "event_time_zone_offset": "+08:00",
        "source": source,
        "biz_location": draw(st.sampled_from(LOCATIONS)),
    }
    shape = draw(
        st.sampled_from(
            ("simple", "produce", "consume", "move", "inspect", "error", "pack", "decision")
        )
    )
    if shape == "decision":  # a status decision naming only the lot (or single units of it)
        units = draw(st.lists(st.sampled_from(("S1", "S2")), max_size=1).map(tuple))
        return CanonicalEvent(
            kind=draw(st.sampled_from(STATUS_KINDS)),
            lots=(
                LotRef(gtin=draw(st.sampled_from(GTINS)), lot=draw(st.sampled_from(LOTS)),
                       serials=units),
            ),
            **common,
        )
    if shape == "produce":
        return CanonicalEvent(
            kind=EventKind.PRODUCED,
            lots=(draw(lot_refs),),
            inputs=tuple(draw(st.lists(lot_refs, min_size=1, max_size=2))),
            work_order=draw(st.sampled_from(("WO1", "WO2"))),
            **common,
        )
    if shape == "consume":
        return CanonicalEvent(
            kind=EventKind.CONSUMED,
            inputs=(draw(lot_refs),),
            work_order=draw(st.sampled_from(("WO1", "WO2"))),
            **common,
        )
    if shape == "move":
        return CanonicalEvent(
            kind=EventKind.MOVED,
            lots=(draw(lot_refs),),
            details={"from_location": draw(st.sampled_from(LOCATIONS))},
            **common,
        )
    if shape == "inspect":
        return CanonicalEvent(
            kind=EventKind.INSPECTED,
            lots=(draw(lot_refs),),
            inspection=Inspection(
                stage="final", characteristic="leak", result=draw(st.sampled_from(("pass", "fail")))
            ),
            **common,
        )
    if shape == "error":
        return CanonicalEvent(
            kind=EventKind.ERROR_DECLARED,
            corrects=tuple(
                draw(st.lists(st.sampled_from(RECORDS), min_size=1, max_size=2, unique=True))
            ),
            error_reason="did_not_occur",
            **common,
        )
    if shape == "pack":
        return CanonicalEvent(
            kind=EventKind.PACKED, parent="095060001000000017", lots=(draw(lot_refs),), **common
        )
    kind = draw(st.sampled_from(SIMPLE_KINDS))
    return CanonicalEvent(
        kind=kind,
        lots=(draw(lot_refs),),
        destination_party="HOSP-1" if kind is EventKind.SHIPPED else None,
        biz_transactions=(BizTransaction(type="desadv", id="DN1"),)
        if kind is EventKind.SHIPPED
        else (),
        **common,
    )


def snapshot(engine: object) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return {
            table.name: sorted((tuple(r) for r in conn.execute(select(table))), key=repr)
            for table in t.PROJECTION_TABLES
        }


# TB_PROPERTY_EXAMPLES=400 for a longer search by hand; 40 keeps `make test` quick.
@settings(max_examples=int(os.environ.get("TB_PROPERTY_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    sequence=st.lists(events(), min_size=1, max_size=25),
    cuts=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=25),
    redeliver=st.booleans(),
)
def test_rebuild_equals_incremental(
    sequence: list[CanonicalEvent], cuts: list[int], redeliver: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        app = bootstrap(Settings(database_url=f"sqlite:///{Path(folder) / 'p.db'}"))
        position, cut_index = 0, 0
        while position < len(sequence):
            size = cuts[cut_index % len(cuts)]
            app.ingest.append_events(sequence[position : position + size])
            position += size
            cut_index += 1
        if redeliver:
            app.ingest.append_events(sequence)  # a full re-delivery changes nothing
        incremental = snapshot(app.engine)
        rebuild(app.engine)
        assert snapshot(app.engine) == incremental
        app.close()


def test_regression_earliest_withdrawal_wins_within_one_batch() -> None:
    """Found by the property above: a record superseded and also declared in error.

    Replayed in one batch, the supersession (later record time) was applied before the
    error declaration (earlier record time), so the rebuilt ``retracted_at`` differed.
    """
    def declared(record: str, corrects: str) -> CanonicalEvent:
        return CanonicalEvent(kind=EventKind.ERROR_DECLARED, event_time=T0,
                              event_time_zone_offset="+08:00", corrects=(corrects,),
                              error_reason="did_not_occur",
                              source=Source(system="erp", record_id=record))

    def receipt(quantity: float) -> CanonicalEvent:
        return CanonicalEvent(kind=EventKind.RECEIVED, event_time=T0,
                              event_time_zone_offset="+08:00", biz_location="BIN-1",
                              lots=(LotRef(gtin=GTINS[0], lot="A", quantity=quantity, uom="EA"),),
                              source=Source(system="erp", record_id="R0"))

    sequence = [declared("R0", "R1"), receipt(1), declared("R1", "R0"), receipt(0)]
    with tempfile.TemporaryDirectory() as folder:
        app = bootstrap(Settings(database_url=f"sqlite:///{Path(folder) / 'p.db'}"))
        for item in sequence:
            app.ingest.append_events([item])
        incremental = snapshot(app.engine)
        rebuild(app.engine)
        assert snapshot(app.engine) == incremental
        app.close()
