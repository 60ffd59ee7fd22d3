"""821 tracking with patient data, end to end through ingest, on SQLite and PostgreSQL.

An implantable port, lot IMP-1, serials P001-P004: P001 and P002 were shipped to the
hospital HOSP-9, P003 to the distributor DIST-9, P004 is in stock. The hospital's
device-tracking reports are ingested with the built-in ``device-tracking`` mapping
(REQ 41); units without a report still answer who holds them (REQ 40).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tracebridge.bootstrap import Container, bootstrap
from tracebridge.domain.events import BizTransaction, CanonicalEvent, EventKind, LotRef, Source
from tracebridge.domain.identifiers import gs1_check_digit
from tracebridge.domain.master import MasterRecord
from tracebridge.ingest.service import IngestSummary, expand
from tracebridge.mapping.engine import load_mapping
from tracebridge.settings import Settings
from tracebridge.sim.faults import FaultRates
from tracebridge.sim.generator import generate
from tracebridge.sim.tracking_export import COLUMNS, load_tracking_truth
from tracebridge.store import master_data
from tracebridge.store import tables as t

PORT = "0950600000099" + str(gs1_check_digit("0950600000099"))
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SERIALS = ("P001", "P002", "P003", "P004")


def _ev(kind: EventKind, hours: float, record: str, **fields: Any) -> CanonicalEvent:
    return CanonicalEvent(kind=kind, event_time=T0 + timedelta(hours=hours),
                          event_time_zone_offset="+08:00",
                          source=Source(system="wms", record_id=record), **fields)


def _events() -> list[CanonicalEvent]:
    def ship(hours: float, record: str, serials: tuple[str, ...], party: str,
             document: str) -> CanonicalEvent:
        return _ev(EventKind.SHIPPED, hours, record, biz_location="WH",
                   lots=(LotRef(gtin=PORT, lot="IMP-1", quantity=len(serials), uom="EA",
                                serials=serials),),
                   destination_party=party,
                   biz_transactions=(BizTransaction(type="desadv", id=document),))

    return [
        _ev(EventKind.PRODUCED, 0, "p1", biz_location="WH", work_order="WO-7",
            lots=(LotRef(gtin=PORT, lot="IMP-1", quantity=4, uom="EA", serials=SERIALS),)),
        _ev(EventKind.RELEASED, 1, "rel", lots=(LotRef(gtin=PORT, lot="IMP-1"),)),
        ship(24, "s1", SERIALS[:2], "HOSP-9", "DN-10"),
        ship(25, "s2", SERIALS[2:3], "DIST-9", "DN-11"),
    ]


def _masters() -> list[tuple[MasterRecord, int | None]]:
    src = Source(system="erp", record_id="md")
    parties = {"HOSP-9": {"name": "Suzhou Heart Hospital", "street": "188 Shizi St",
                          "city": "Suzhou", "phone": "+86 512 6778 3001",
                          "party_type": "hospital"},
               "DIST-9": {"name": "East Med Supply", "street": "9 Harbour Rd",
                          "city": "Shanghai", "phone": "+86 21 5555 0101",
                          "party_type": "distributor"}}
    return [(MasterRecord(entity="party", key=k, attributes=a, source=src), None)
            for k, a in parties.items()]


def report(serial: str, kind: str = "IMPLANT", **changes: str) -> dict[str, str]:
    row = dict.fromkeys(COLUMNS, "")
    row.update(hospital="HOSP-9", gtin=PORT, serial=serial, lot="IMP-1", report=kind,
               reported_on="2026-03-12", implant_date="2026-03-10", patient_name="王芳",
               patient_address="苏州市人民路 1 号 2 栋 301 室", patient_phone="+86 138 1234 5678",
               patient_id="ZY12345678", prescribing_physician="李明 医师",
               prescribing_physician_address="苏州 十梓街 188 号 心胸外科",
               prescribing_physician_phone="+86 512 6778 3001 转 2001",
               following_physician="陈静 医师",
               following_physician_address="苏州 十梓街 188 号 肿瘤内科",
               following_physician_phone="+86 512 6778 3001 转 2002")
    row.update(changes)
    return row


def ingest_reports(app: Container, folder: Path, name: str,
                   rows: list[dict[str, str]]) -> IngestSummary:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"tracking_reports_{name}.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return app.ingest.ingest_paths(load_mapping("device-tracking"), [path])


def seed_plant(app: Container) -> None:
    app.ingest.append_events(_events())
    with app.engine.begin() as conn:
        master_data.append_versions(conn, _masters(), record_time=datetime.now(UTC))


@pytest.fixture
def plant(container: Container) -> Iterator[Container]:
    seed_plant(container)
    yield container


def test_req41_unit_with_a_patient_answers_udi_ship_date_patient_and_physicians(
        plant: Container, tmp_path: Path) -> None:
    """REQ-41: UDI/lot/serial, manufacturer ship date, implant date, patient and the
    prescribing and following physicians, due in 10 working days."""
    summary = ingest_reports(plant, tmp_path, "202603", [report("P001")])
    assert (summary.master_versions, summary.rejected_total) == (1, 0)
    answer = plant.recall.track(PORT, "P001")
    assert answer.state == "with-patient" and answer.answer_due_working_days == 10
    assert (answer.udi, answer.lot) == (f"(01){PORT}(21)P001", "IMP-1")
    assert answer.shipped_at == T0 + timedelta(hours=24) and answer.shipment == "DN-10"
    assert answer.final_distributor is not None
    assert answer.final_distributor.name == "Suzhou Heart Hospital"
    assert answer.location is not None and answer.location.startswith("188 Shizi St")
    assert answer.implanted_on == date(2026, 3, 10)
    assert answer.patient is not None and answer.patient.name == "王芳"
    assert answer.patient.phone == "+86 138 1234 5678"
    assert answer.patient.identifier == "ZY12345678" and not answer.patient_masked
    assert answer.prescribing_physician is not None
    assert answer.prescribing_physician.phone == "+86 512 6778 3001 转 2001"
    assert answer.following_physician is not None
    assert answer.following_physician.name == "陈静 医师"
    assert (answer.explanted_on, answer.died_on, answer.report_versions) == (None, None, 1)


def test_req41_explant_report_is_a_new_version_and_the_implant_stays_on_record(
        plant: Container, tmp_path: Path) -> None:
    """REQ-41: a later explant report adds the explant date; history is immutable."""
    ingest_reports(plant, tmp_path / "a", "202603", [report("P001")])
    later = ingest_reports(plant, tmp_path / "b", "202604", [
        report("P001", "EXPLANT", reported_on="2026-04-03", explant_date="2026-04-01",
               patient_phone="+86 139 8765 4321")])
    assert later.master_versions == 1
    answer = plant.recall.track(PORT, "P001")
    assert answer.state == "explanted" and answer.explanted_on == date(2026, 4, 1)
    assert answer.implanted_on == date(2026, 3, 10) and answer.report_versions == 2
    assert answer.patient is not None and answer.patient.phone == "+86 139 8765 4321"
    m = t.master_record.c
    with plant.engine.connect() as conn:
        versions = conn.execute(select(m.version, m.attributes).where(
            m.entity == "device_tracking", m.key == f"{PORT}/P001").order_by(m.version)).all()
    assert [v for v, _ in versions] == [1, 2]
    first = dict(versions[0][1])
    assert first["status"] == "implanted" and "explanted_on" not in first
    assert first["patient_phone"] == "+86 138 1234 5678"
    again = ingest_reports(plant, tmp_path / "b", "202604", [
        report("P001", "EXPLANT", reported_on="2026-04-03", explant_date="2026-04-01",
               patient_phone="+86 139 8765 4321")])
    assert again.master_versions == 0  # the same report twice is one version


def test_req41_death_report_answers_patient_deceased(plant: Container, tmp_path: Path) -> None:
    ingest_reports(plant, tmp_path, "202603", [
        report("P002", patient_name="赵敏"),
        report("P002", "DEATH", reported_on="2026-05-02", death_date="2026-04-30",
               patient_name="赵敏")])
    answer = plant.recall.track(PORT, "P002")
    assert answer.state == "patient-deceased" and answer.died_on == date(2026, 4, 30)
    assert answer.patient is not None and answer.patient.name == "赵敏"
    assert answer.answer_due_working_days == 10


def test_req41_incomplete_reports_go_to_the_dead_letters_with_their_field_errors(
        plant: Container, tmp_path: Path) -> None:
    summary = ingest_reports(plant, tmp_path, "202603", [
        report("P001", "EXPLANT"),                       # no explant date
        report("P002", "LOST"),                          # no such report
        report("P003", implant_date="10.03.2026"),       # not an ISO date
        report("P004", prescribing_physician_phone=""),  # 821 needs the physician's phone
    ])
    assert summary.master_versions == 0
    assert summary.rejected == {"dictionary-required": 1, "unknown-code": 1,
                                "invalid-value": 1, "missing-field": 1}
    letters = plant.dead_letters.find(source="device-tracking")
    fields = {plant.dead_letters.show(letter.id).errors[0]["field"] for letter in letters}
    assert fields == {"explant_date", "report", "implant_date", "prescribing_physician_phone"}
    assert plant.recall.track(PORT, "P001").state == "shipped"  # nothing half-applied
    fixed = ingest_reports(plant, tmp_path / "resent", "202603", [
        report("P001", "EXPLANT", explant_date="2026-03-20")])
    assert fixed.master_versions == 1
    assert plant.recall.track(PORT, "P001").state == "explanted"


def test_req40_units_without_a_report_still_answer_who_holds_them(
        plant: Container, tmp_path: Path) -> None:
    """REQ-40: at a distributor → 3 working days; in stock → location; no patient data."""
    ingest_reports(plant, tmp_path, "202603", [report("P001")])
    at_distributor = plant.recall.track(PORT, "P003")
    assert at_distributor.state == "at-distributor" and at_distributor.patient is None
    assert at_distributor.holder is not None and at_distributor.holder.code == "DIST-9"
    assert at_distributor.answer_due_working_days == 3
    in_stock = plant.recall.track(PORT, "P004")
    assert (in_stock.state, in_stock.location, in_stock.patient) == ("in-stock", "WH", None)
    shipped = plant.recall.track(PORT, "P002")
    assert shipped.state == "shipped" and shipped.report_versions == 0


def test_req41_a_report_for_a_unit_we_never_recorded_is_still_answered(
        plant: Container, tmp_path: Path) -> None:
    ingest_reports(plant, tmp_path, "202603", [report("P777", lot="IMP-0")])
    answer = plant.recall.track(PORT, "P777")
    assert answer.state == "with-patient" and answer.lot == "IMP-0"
    assert answer.shipped_at is None and answer.holder is None


@pytest.mark.slow
def test_req41_simulated_hospital_reports_answer_as_reported(tmp_path: Path) -> None:
    """REQ-41 against the simulator's truth: every reported unit answers with the patient,
    physicians, implant, explant and death dates the hospital reported, and our ship date."""
    out = tmp_path / "plant"
    generate(out, seed=20261125, scale=0.3, faults=FaultRates())
    app = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'plant.db'}",
                             rules_enabled=False))
    try:
        for source in ("erp", "wms", "device-tracking"):
            app.ingest.ingest_paths(load_mapping(source), list(expand([out / source])))
        truth = load_tracking_truth(out)
        assert {u.state for u in truth} >= {"with-patient", "explanted", "patient-deceased"}
        plant_zone = ZoneInfo("Asia/Shanghai")
        for unit in truth:
            answer = app.recall.track(unit.gtin, unit.serial)
            assert answer.state == unit.state, unit.serial
            assert answer.lot == unit.lot and answer.shipment == unit.delivery
            assert answer.shipped_at is not None
            assert answer.shipped_at.astimezone(plant_zone).date().isoformat() == unit.shipped_on
            assert answer.holder is not None and answer.holder.code == unit.hospital
            assert answer.implanted_on == date.fromisoformat(unit.implanted_on)
            assert answer.patient is not None
            assert answer.patient.model_dump() == unit.patient.model_dump()
            assert answer.prescribing_physician is not None
            assert answer.prescribing_physician.name == unit.prescribing_physician.name
            assert (answer.following_physician is None) == (unit.following_physician is None)
            assert str(answer.explanted_on) == str(unit.explanted_on)
            assert str(answer.died_on) == str(unit.died_on)
            assert answer.report_versions == unit.reports
    finally:
        app.close()
