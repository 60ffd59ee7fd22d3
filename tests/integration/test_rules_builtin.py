"""The built-in rule pack on a real store: each rule fires on its fault and stays quiet without it.

Runs on SQLite and PostgreSQL (``container``). Events are told in domain language —
receive, inspect, release, pick, ship — through the ingest write path with the rules
reaction installed, exactly as a connector would deliver them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tracebridge.bootstrap import Container
from tracebridge.domain.events import (
    BizTransaction,
    CanonicalEvent,
    EventKind,
    Inspection,
    LotRef,
    SensorReading,
    Source,
)
from tracebridge.domain.master import MasterRecord
from tracebridge.mapping.engine import load_mapping
from tracebridge.quality.rules_reaction import RulesReaction
from tracebridge.quality.service import QualityService
from tracebridge.rules.loader import load_builtin
from tracebridge.store import master_data
from tracebridge.store import tables as t

GTIN = "06901234010015"  # a sterile product of the simulator's catalogue
PART = "16923456031019"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class Plant:
    """A store with the built-in rules installed, and verbs to tell it what happened."""

    def __init__(self, app: Container) -> None:
        self.app = app
        quality = QualityService(app.engine, reactions=(app.forwarding,))
        self.rules = RulesReaction(load_builtin(), quality=quality)
        app.ingest.reactions = (app.forwarding, self.rules)
        self.clock = T0
        self.n = 0
        self.master("product", GTIN, name="IV set", sterile=True, serialised=False)
        self.master("party", "C1", name="Hospital", party_type="hospital")

    def master(self, entity: str, key: str, **attributes: Any) -> None:
        record = MasterRecord(entity=entity, key=key, attributes=attributes,
                              source=Source(system="erp", record_id=f"{entity}-{key}"))
        with self.app.engine.begin() as conn:
            master_data.append_versions(conn, [(record, None)], record_time=T0)

    def tell(self, kind: EventKind, *, system: str = "wms", at: datetime | None = None,
             **fields: Any) -> None:
        self.n += 1
        self.clock += timedelta(hours=1)
        event = CanonicalEvent(
            kind=kind, event_time=at or self.clock, event_time_zone_offset="+08:00",
            source=Source(system=system, record_id=f"{kind.value}-{self.n}"), **fields,
        )
        self.app.ingest.append_events([event])

    def receive(self, lot: str, *, gtin: str = PART, expiry: str | None = "2030-01-01",
                serials: tuple[str, ...] = (), system: str = "erp") -> None:
        ref = LotRef(gtin=gtin, lot=lot, quantity=float(len(serials) or 100), uom="EA",
                     expiry=expiry, manufactured="2026-01-01", serials=serials)
        self.tell(EventKind.RECEIVED, system=system, lots=(ref,), source_party="V1",
                  biz_location="RM-01-01")

    def produce(self, lot: str, *, expiry: str | None = "2029-01-01",
                serials: tuple[str, ...] = (), system: str = "erp") -> None:
        ref = LotRef(gtin=GTIN, lot=lot, quantity=float(len(serials) or 100), uom="EA",
                     expiry=expiry, manufactured="2026-03-01", serials=serials)
        self.tell(EventKind.PRODUCED, system=system, lots=(ref,), work_order=f"WO-{lot}",
                  biz_location="FG-01-01")

    def inspect(self, lot: str, result: str, *, gtin: str = PART,
                stage: str = "incoming") -> None:
        self.tell(EventKind.INSPECTED, system="erp", lots=(LotRef(gtin=gtin, lot=lot),),
                  inspection=Inspection(stage=stage, characteristic="Leak", result=result))

    def release(self, lot: str, *, gtin: str = GTIN) -> None:
        self.tell(EventKind.RELEASED, system="erp", lots=(LotRef(gtin=gtin, lot=lot),))

    def ship(self, lot: str, *, quantity: float = 10, system: str = "wms",
             delivery: str = "D1", party: str = "C1", at: datetime | None = None,
             serials: tuple[str, ...] = ()) -> None:
        self.tell(EventKind.SHIPPED, system=system, at=at,
                  lots=(LotRef(gtin=GTIN, lot=lot, quantity=quantity, uom="EA",
                               serials=serials),),
                  destination_party=party, biz_location="FG-01-01",
                  biz_transactions=(BizTransaction(type="desadv", id=delivery),))

    def consume(self, lot: str, *, work_order: str = "WO-9") -> None:
        self.tell(EventKind.CONSUMED, system="erp", work_order=work_order,
                  inputs=(LotRef(gtin=PART, lot=lot, quantity=5, uom="EA"),))

    def firings(self, rule_id: str | None = None) -> list[Any]:
        query = select(t.rule_firing).order_by(t.rule_firing.c.id)
        if rule_id:
            query = query.where(t.rule_firing.c.rule_id == rule_id)
        with self.app.engine.connect() as conn:
            return list(conn.execute(query))

    def alerts(self, code: str) -> list[Any]:
        with self.app.engine.connect() as conn:
            return list(conn.execute(select(t.alert).where(t.alert.c.code == code)))

    def status(self, lot: str, gtin: str = GTIN) -> str:
        with self.app.engine.connect() as conn:
            return str(conn.execute(select(t.lot.c.status).where(
                t.lot.c.gtin == gtin, t.lot.c.lot == lot)).scalar_one())


@pytest.fixture
def plant(container: Container) -> Iterator[Plant]:
    yield Plant(container)


def test_failed_inspection_holds_the_lot_and_alerts(plant: Plant) -> None:
    plant.receive("C1")
    plant.inspect("C1", "fail")
    (firing,) = plant.firings("failed-inspection")
    assert firing.inputs["event"]["inspection"]["result"] == "fail"
    assert [a["outcome"] for a in firing.actions] == ["held", "raised"]
    assert plant.status("C1", PART) == "hold"
    assert len(plant.alerts("failed-inspection")) == 1


def test_passed_inspection_stays_quiet(plant: Plant) -> None:
    plant.receive("C1")
    plant.inspect("C1", "pass")
    assert plant.firings() == []
    assert plant.status("C1", PART) == "quarantine"


def test_req9_req18_shipping_an_unreleased_lot_is_blocked_with_a_critical_alert(
    plant: Plant,
) -> None:
    plant.produce("F1")
    plant.ship("F1")
    (firing,) = plant.firings("unreleased-shipment")
    assert firing.inputs["lot"]["status"] == "quarantine"
    assert firing.actions[0]["type"] == "block_shipment"
    assert firing.actions[0]["outcome"] == "held"
    (alert,) = plant.alerts("unreleased-shipment")
    assert alert.severity == "critical" and alert.lot == "F1"
    assert plant.status("F1") == "hold"
    with plant.app.engine.connect() as conn:  # the block went to WMS and ERP via the outbox
        targets = set(conn.execute(select(t.outbox.c.target).where(
            t.outbox.c.lot == "F1", t.outbox.c.kind == "held")).scalars())
    assert targets == set(plant.app.forwarding.targets)


def test_req18_shipping_a_released_lot_stays_quiet(plant: Plant) -> None:
    plant.produce("F1")
    plant.release("F1")
    plant.ship("F1")
    assert plant.firings("unreleased-shipment") == []


def test_shipping_an_expired_lot_is_blocked(plant: Plant) -> None:
    plant.produce("F1", expiry="2026-03-01")  # expires before the shipment (T0 is 2 March)
    plant.release("F1")
    plant.ship("F1")
    (firing,) = plant.firings("expired-shipment")
    assert firing.inputs["lot"]["days_to_expiry"] < 0


def test_customer_minimum_shelf_life_blocks_and_a_long_dated_lot_passes(plant: Plant) -> None:
    plant.master("party", "C9", name="Strict hospital", min_remaining_shelf_life_days=400)
    plant.produce("F1", expiry="2027-01-01")  # ~300 days left
    plant.produce("F2", expiry="2029-01-01")
    plant.release("F1")
    plant.release("F2")
    plant.ship("F1", party="C9", delivery="D9")
    plant.ship("F2", party="C9", delivery="D9")
    fired = plant.firings("expired-shipment")
    assert [f.lot for f in fired] == ["F1"]
    assert fired[0].inputs["party"]["min_remaining_shelf_life_days"] == 400


def test_erp_customer_minimum_blocks_a_lot_one_day_short_and_passes_one_exactly_at_it(
    plant: Plant, tmp_path: Path,
) -> None:
    """Issue 4, built-in pack: "ship of ... one under the customer's minimum remaining
    shelf life -> block", end to end. The minimum comes from the ERP customer master
    (``MHDRZ``) through the built-in mapping; an empty ``MHDRZ`` sets none."""
    customers = tmp_path / "customers.csv"
    customers.write_text(
        "KUNNR,NAME1,STRAS,ORT01,PSTLZ,LAND1,TELF1,GLN,KTOKD,MHDRZ\n"
        "C3004,南京鼓楼医院,中山路 321 号,南京,210008,CN,+86 25 8310 3004,6967890000241,ZHOS,180\n"
        "C2002,上海医药分销有限公司,张江路 92 号,上海,201203,CN,+86 21 5080,6956789000127,ZDIS,\n",
        encoding="utf-8")
    summary = plant.app.ingest.ingest_paths(load_mapping("erp"), [customers])
    assert summary.rejected_total == 0
    shipped_at = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    for lot, days_left in (("SHORT", 179), ("EXACT", 180), ("NEAR", 20)):
        plant.produce(lot, expiry=(shipped_at.date() + timedelta(days=days_left)).isoformat())
        plant.release(lot)
    plant.ship("SHORT", party="C3004", delivery="D7", at=shipped_at)
    plant.ship("EXACT", party="C3004", delivery="D7", at=shipped_at + timedelta(minutes=1))
    plant.ship("NEAR", party="C2002", delivery="D8", at=shipped_at + timedelta(minutes=2))
    (firing,) = plant.firings("expired-shipment")
    assert firing.lot == "SHORT"
    assert firing.inputs["lot"]["days_to_expiry"] == 179
    assert firing.inputs["party"]["min_remaining_shelf_life_days"] == 180
    assert [a["type"] for a in firing.actions] == ["block_shipment", "alert"]
    assert (plant.status("SHORT"), plant.status("EXACT"), plant.status("NEAR")) == (
        "hold", "released", "released")
    (alert,) = plant.alerts("expired-shipment")
    assert alert.severity == "critical" and alert.lot == "SHORT"


def test_consuming_a_component_that_failed_incoming_inspection_raises_a_nonconformance(
    plant: Plant,
) -> None:
    plant.receive("C1")
    plant.inspect("C1", "fail")  # held by the failed-inspection rule as well
    plant.consume("C1")
    (firing,) = plant.firings("unusable-component")
    assert firing.inputs["inputs"][0]["failed_incoming"] is True
    assert [a["type"] for a in firing.actions] == ["alert", "open_nonconformance"]
    with plant.app.engine.connect() as conn:
        kinds = list(conn.execute(select(t.event.c.kind).where(
            t.event.c.source_system == "tracebridge")).scalars())
    assert kinds.count("nonconformance_raised") == 1


def test_consuming_an_accepted_component_stays_quiet(plant: Plant) -> None:
    plant.receive("C1")
    plant.inspect("C1", "pass")
    plant.consume("C1")
    assert plant.firings("unusable-component") == []


def test_temperature_excursion_holds_the_lots_stored_in_the_zone(plant: Plant) -> None:
    plant.master("location", "FG-01-01", zone="FG", temperature_max=25.0)
    plant.produce("F1")
    plant.tell(EventKind.MOVED, lots=(LotRef(gtin=GTIN, lot="F1", quantity=100, uom="EA"),),
               biz_location="FG-01-01")
    plant.tell(EventKind.ENVIRONMENT_OBSERVED, biz_location="ZONE-FG",
               sensor=(SensorReading(type="temperature", value=24.0, uom="CEL"),))
    assert plant.firings("storage-excursion") == []  # within limits: quiet
    plant.tell(EventKind.ENVIRONMENT_OBSERVED, biz_location="ZONE-FG",
               sensor=(SensorReading(type="temperature", value=31.5, uom="CEL"),))
    (firing,) = plant.firings("storage-excursion")
    assert firing.inputs["stock"][0]["lot"] == "F1"
    assert plant.status("F1") == "hold"


def test_duplicate_serial_in_another_lot_fires_and_new_serials_do_not(plant: Plant) -> None:
    plant.produce("F1", serials=("S1", "S2"))
    plant.produce("F2", serials=("S3",))
    assert plant.firings("duplicate-serial") == []
    plant.produce("F3", serials=("S2", "S4"))
    (firing,) = plant.firings("duplicate-serial")
    assert firing.inputs["checks"]["duplicate_serials"] == ["S2"]


def test_duplicate_serial_holds_only_the_repeated_units_not_their_lot(plant: Plant) -> None:
    plant.produce("F1", serials=("S1", "S2"))
    plant.produce("F3", serials=("S2", "S4"))
    (firing,) = plant.firings("duplicate-serial")
    assert firing.rule_version == 2
    held = [a for a in firing.actions if a["type"] == "hold"]
    assert [(a["lot"], a["serials"], a["outcome"]) for a in held] == [("F3", ["S2"], "held")]
    assert plant.status("F3") == "quarantine"  # the rest of the lot is not blocked
    with plant.app.engine.connect() as conn:
        rows = conn.execute(select(t.serial.c.serial, t.serial.c.on_hold)).all()
    assert {row.serial for row in rows if row.on_hold} == {"S2"}


def test_req9_req18_shipping_a_unit_on_hold_raises_a_critical_alert(plant: Plant) -> None:
    plant.produce("F1", serials=("S1", "S2", "S3"))
    plant.release("F1")
    # the WMS blocks one unit (a hold naming serials): the lot stays released
    plant.tell(EventKind.HELD, lots=(LotRef(gtin=GTIN, lot="F1", serials=("S1",)),))
    assert plant.status("F1") == "released"
    plant.ship("F1", quantity=1, serials=("S2",), delivery="D1")
    assert plant.firings("held-serial-shipment") == []
    plant.ship("F1", quantity=2, serials=("S1", "S3"), delivery="D2")
    (firing,) = plant.firings("held-serial-shipment")
    assert firing.inputs["checks"]["held_serials"] == ["S1"]
    (alert,) = plant.alerts("held-serial-shipment")
    assert alert.severity == "critical"


def test_req27_sterile_lot_without_expiry_from_the_system_of_record_is_flagged(
    plant: Plant,
) -> None:
    plant.produce("F1", expiry=None)  # ERP is the dictionary's system of record for expiry
    plant.produce("F2", expiry=None, system="wms")  # not the system of record: not its job
    plant.produce("F3")
    fired = plant.firings("missing-required-field")
    assert [(f.lot, f.inputs["checks"]["missing_fields"]) for f in fired] == [
        ("F1", ["expiry_date"])
    ]


def test_erp_wms_shipment_quantity_disagreement_fires_once(plant: Plant) -> None:
    plant.produce("F1")
    plant.release("F1")
    plant.ship("F1", quantity=10, system="erp", delivery="D1")
    plant.ship("F1", quantity=9, system="wms", delivery="D1")
    plant.ship("F1", quantity=5, system="erp", delivery="D2")
    plant.ship("F1", quantity=5, system="wms", delivery="D2")
    (firing,) = plant.firings("erp-wms-quantity-mismatch")
    assert firing.inputs["checks"]["erp_wms_difference"] == 1.0


def test_clock_skew_against_the_other_systems_record_of_the_same_shipment(plant: Plant) -> None:
    plant.produce("F1")
    plant.release("F1")
    at = plant.clock + timedelta(hours=1)
    plant.ship("F1", system="erp", delivery="D1", at=at)
    plant.ship("F1", system="wms", delivery="D1", at=at)  # same time: quiet
    plant.ship("F1", system="erp", delivery="D2", at=at + timedelta(hours=1))
    plant.ship("F1", system="wms", delivery="D2", at=at + timedelta(hours=1, minutes=-6))
    (firing,) = plant.firings("clock-skew")
    assert firing.inputs["checks"]["counterpart_minutes"] == -6.0


def test_clock_skew_event_before_its_lots_receipt(plant: Plant) -> None:
    plant.receive("C1", system="wms")
    plant.tell(EventKind.MOVED, lots=(LotRef(gtin=PART, lot="C1", quantity=1, uom="EA"),),
               biz_location="RM-01-02", at=T0 - timedelta(hours=5))
    (firing,) = plant.firings("clock-skew")
    assert firing.inputs["checks"]["predecessor_minutes"] > 60


def test_late_data_is_measured_against_its_own_stream_and_subject(plant: Plant) -> None:
    plant.receive("C1", system="wms")
    plant.tell(EventKind.MOVED, lots=(LotRef(gtin=PART, lot="C1", quantity=1, uom="EA"),),
               biz_location="RM-01-02", at=T0 + timedelta(days=3))
    assert plant.firings("late-data") == []
    plant.tell(EventKind.PICKED, lots=(LotRef(gtin=PART, lot="C1", quantity=1, uom="EA"),),
               biz_location="RM-01-02", at=T0 + timedelta(days=1))
    (firing,) = plant.firings("late-data")
    assert firing.inputs["checks"]["lateness_hours"] > 40


def test_complaints_above_the_threshold_within_the_window_propose_a_recall(
    plant: Plant,
) -> None:
    plant.produce("F1")
    for number in range(3):
        plant.tell(EventKind.COMPLAINT_RECEIVED, system="erp",
                   lots=(LotRef(gtin=GTIN, lot="F1"),), details={"complaint": f"Q{number}"})
        if number < 2:
            assert plant.firings("complaint-cluster") == []
    (firing,) = plant.firings("complaint-cluster")
    assert len(firing.inputs["checks"]["complaint_ages_days"]) == 3
    (alert,) = plant.alerts("complaint-cluster")
    assert alert.severity == "critical" and alert.detail["proposal"] == "recall"


def test_events_made_by_rules_do_not_trigger_rules(plant: Plant) -> None:
    """A rule's hold is a HELD event: it must not be evaluated again (bounded recursion)."""
    plant.produce("F1")
    plant.ship("F1")
    seqs = {f.event_seq for f in plant.firings()}
    with plant.app.engine.connect() as conn:
        own = set(conn.execute(select(t.event.c.seq).where(
            t.event.c.source_system == "tracebridge")).scalars())
    assert own and not (own & seqs)


def test_a_rule_firing_is_stored_with_version_inputs_and_time(plant: Plant) -> None:
    plant.produce("F1")
    plant.ship("F1")
    (firing,) = plant.firings("unreleased-shipment")
    assert (firing.rule_version, firing.code, firing.severity) == (
        1, "unreleased-shipment", "critical")
    assert firing.inputs["params"] is not None and firing.fired_at is not None
    with plant.app.engine.connect() as conn:
        kind = conn.execute(select(t.event.c.kind).where(
            t.event.c.seq == firing.event_seq)).scalar_one()
    assert kind == "shipped"
