"""821 tracking with a patient (REQ 41): masking, folding report versions, the hospital
report mapping and the simulator's reports — all without a database."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracebridge.domain.master import MASTER_ENTITIES
from tracebridge.mapping.engine import Mapping, load_mapping
from tracebridge.mapping.records import RawRecord, RecordRejected
from tracebridge.recall.model import Contact, Patient, Tracking
from tracebridge.recall.tracking import (
    fold_reports,
    mask_identifier,
    mask_name,
    mask_phone,
    masked,
    patient_state,
)
from tracebridge.sim.faults import FaultRates
from tracebridge.sim.generator import generate
from tracebridge.sim.tracking_export import COLUMNS, load_tracking_truth
from tracebridge.sim.truth import load_truth

GTIN = "06901234012019"


def _answer(**changes: Any) -> Tracking:
    base: dict[str, Any] = dict(
        gtin=GTIN, serial="P001", lot="L1", udi=f"(01){GTIN}(21)P001", state="with-patient",
        implanted_on=date(2026, 1, 20),
        patient=Patient(name="Zhang Wei", address="12 Renmin Rd, Suzhou",
                        phone="+86 138 1234 5678", identifier="ZY12345678"),
        prescribing_physician=Contact(name="Dr. Li Ming", address="188 Shizi St",
                                      phone="+86 512 6778 3001"),
        answer_due_working_days=10)
    return Tracking(**{**base, **changes})


# ------------------------------------------------------------------------------ masking


def test_req41_patient_identity_is_masked_by_default_physicians_and_dates_are_not() -> None:
    """REQ-41: the answer carries the patient, but name, address, phone and identifier are
    personal health data and are masked unless revealed."""
    answer = _answer()
    hidden = masked(answer)
    assert hidden.patient == Patient(name="Z**** W**", address="***",
                                     phone="+** *** **** 5678", identifier="********78")
    assert hidden.patient_masked and not answer.patient_masked
    assert hidden.prescribing_physician == answer.prescribing_physician
    assert (hidden.implanted_on, hidden.lot, hidden.udi) == (answer.implanted_on, "L1", answer.udi)


def test_masking_an_answer_without_a_patient_changes_nothing() -> None:
    answer = _answer(patient=None, state="shipped")
    assert masked(answer) is answer


def test_chinese_names_keep_the_surname_only() -> None:
    assert mask_name("张伟") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_name("Li A") == "L* *"


@given(st.text(min_size=1, max_size=40))
def test_masked_name_never_shows_more_than_each_words_first_character(name: str) -> None:
    shown = mask_name(name)
    words = name.split()
    assert len(shown.split()) == max(len(words), 1)
    for word, hidden in zip(words, shown.split(), strict=False):
        assert len(hidden) == len(word)
        assert set(hidden[1:]) <= {"*"}


@given(st.from_regex(r"\+?[0-9 ()-]{7,20}", fullmatch=True))
def test_masked_phone_keeps_only_the_last_four_digits(phone: str) -> None:
    shown = mask_phone(phone)
    digits = [c for c in phone if c.isdigit()]
    assert len(shown) == len(phone)
    visible = [c for c in shown if c.isdigit()]
    assert visible == (digits[-4:] if len(digits) > 6 else [])
    assert [c for c in shown if not c.isdigit() and c != "*"] == [
        c for c in phone if not c.isdigit()]


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30))
def test_masked_identifier_shows_at_most_its_last_two_characters(identifier: str) -> None:
    shown = mask_identifier(identifier)
    assert len(shown) == len(identifier)
    hidden, tail = shown[: max(len(shown) - 2, 0)], shown[max(len(shown) - 2, 0):]
    assert set(hidden) <= {"*"}
    assert tail in (identifier[-2:], "*" * len(tail))


# ------------------------------------------------------------- folding report versions


def test_req41_later_reports_add_to_earlier_ones_without_erasing_them() -> None:
    implant = {"status": "implanted", "implanted_on": "2026-01-20", "patient_name": "王芳"}
    explant = {"status": "explanted", "explanted_on": "2026-02-18", "patient_name": ""}
    folded = fold_reports([implant, explant])
    assert folded == {"status": "explanted", "implanted_on": "2026-01-20",
                      "patient_name": "王芳", "explanted_on": "2026-02-18"}


@pytest.mark.parametrize(("dates", "state"), [
    ({}, "with-patient"),
    ({"explanted_on": "2026-02-18"}, "explanted"),
    ({"died_on": "2026-02-18"}, "patient-deceased"),
    ({"retired_on": "2026-03-01", "explanted_on": "2026-02-18"}, "retired"),
    ({"explanted_on": "2026-03-01", "died_on": "2026-02-18"}, "explanted"),
    ({"explanted_on": "2026-02-18", "died_on": "2026-02-18"}, "patient-deceased"),
])
def test_req41_state_follows_the_newest_explant_death_or_retirement(
        dates: dict[str, str], state: str) -> None:
    assert patient_state({"implanted_on": "2026-01-20", **dates}) == state


def test_a_re_sent_implant_report_does_not_undo_an_explant() -> None:
    implant = {"status": "implanted", "implanted_on": "2026-01-20"}
    explant = {**implant, "status": "explanted", "explanted_on": "2026-02-18"}
    assert patient_state(fold_reports([implant, explant, implant])) == "explanted"


# ------------------------------------------------------------------ the report mapping


@pytest.fixture(scope="module")
def reports() -> Mapping:
    return load_mapping("device-tracking")


def report_row(**changes: str) -> dict[str, str]:
    row = dict.fromkeys(COLUMNS, "")
    row.update(hospital="C3001", gtin=GTIN, serial="P001", lot="L1", report="IMPLANT",
               reported_on="2026-01-22", implant_date="2026-01-20", patient_name="王芳",
               patient_address="苏州市人民路 1 号", patient_phone="+86 138 1234 5678",
               patient_id="ZY12345678", prescribing_physician="李明 医师",
               prescribing_physician_address="苏州 十梓街 188 号 心胸外科",
               prescribing_physician_phone="+86 512 6778 3001 转 2001")
    row.update(changes)
    return row


def _map(mapping: Mapping, row: dict[str, str]) -> Any:
    raw = RawRecord(mapping.source_system, "tracking_report", json.dumps(row).encode(),
                    "test:2", row)
    return mapping.map(raw)


def test_device_tracking_is_a_master_entity_the_builtin_mapping_writes(reports: Mapping) -> None:
    assert "device_tracking" in MASTER_ENTITIES
    assert reports.source_system == "device-tracking"
    [record] = _map(reports, report_row()).master
    assert (record.entity, record.key) == ("device_tracking", f"{GTIN}/P001")
    assert record.source.record_id == f"{GTIN}/P001/IMPLANT"
    assert record.attributes["status"] == "implanted"
    assert record.attributes["final_distributor"] == "C3001"
    assert record.attributes["implanted_on"] == "2026-01-20"
    assert "explanted_on" not in record.attributes


_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs", "Cc", "Zl", "Zp"]),
                min_size=1, max_size=30).filter(lambda s: s.strip() == s and s != "")


@given(name=_TEXT, phone=_TEXT, physician=_TEXT,
       implanted=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
       report=st.sampled_from(["IMPLANT", "EXPLANT", "DEATH", "RETIRE"]),
       ended=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_req41_any_complete_report_maps_to_its_attributes(
        reports: Mapping, name: str, phone: str, physician: str, implanted: date, report: str,
        ended: date) -> None:
    end_column = {"EXPLANT": "explant_date", "DEATH": "death_date",
                  "RETIRE": "retired_date"}.get(report)
    row = report_row(patient_name=name, patient_phone=phone, prescribing_physician=physician,
                     implant_date=implanted.isoformat(), report=report,
                     **({end_column: ended.isoformat()} if end_column else {}))
    [record] = _map(reports, row).master
    attributes = record.attributes
    assert (attributes["patient_name"], attributes["patient_phone"]) == (name, phone)
    assert attributes["prescribing_physician_name"] == physician
    assert attributes["implanted_on"] == implanted.isoformat()
    state = {"IMPLANT": "implanted", "EXPLANT": "explanted", "DEATH": "patient_deceased",
             "RETIRE": "retired"}[report]
    assert attributes["status"] == state
    if end_column:
        field = {"explant_date": "explanted_on", "death_date": "died_on",
                 "retired_date": "retired_on"}[end_column]
        assert attributes[field] == ended.isoformat()


@pytest.mark.parametrize(("changes", "reason", "field"), [
    ({"patient_phone": ""}, "missing-field", "patient_phone"),
    ({"report": "EXPLANT"}, "dictionary-required", "explant_date"),
    ({"report": "DEATH"}, "dictionary-required", "death_date"),
    ({"report": "LOST"}, "unknown-code", "report"),
    ({"implant_date": "20.01.2026"}, "invalid-value", "implant_date"),
])
def test_req41_incomplete_reports_are_rejected_field_by_field(
        reports: Mapping, changes: dict[str, str], reason: str, field: str) -> None:
    with pytest.raises(RecordRejected) as rejected:
        _map(reports, report_row(**changes))
    assert rejected.value.reason == reason
    assert [e.field for e in rejected.value.errors] == [field]


# ---------------------------------------------------------------------- the simulator


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tracking-plant")
    generate(out, seed=31, scale=0.3, faults=FaultRates.none())
    return out


def test_req41_simulated_reports_follow_units_shipped_to_hospitals(plant: Path) -> None:
    truth = load_tracking_truth(plant)
    lots = load_truth(plant).lots
    assert len(truth) >= 20
    assert {t.state for t in truth} >= {"with-patient", "explanted", "patient-deceased"}
    for unit in truth:
        shipments = lots[(unit.gtin, unit.lot)].forward.shipments
        assert any(s.delivery == unit.delivery and s.customer == unit.hospital
                   and unit.serial in s.serials for s in shipments), unit
        assert unit.hospital.startswith("C3")  # a hospital of the catalogue
        assert unit.shipped_on < unit.implanted_on
        end = unit.explanted_on or unit.died_on
        assert (end is None) == (unit.state == "with-patient")
        assert end is None or end > unit.implanted_on


def test_simulated_report_files_hold_one_line_per_report_version(plant: Path) -> None:
    truth = {(t.gtin, t.serial): t for t in load_tracking_truth(plant)}
    mapping = load_mapping("device-tracking")
    seen: dict[tuple[str, str], int] = {}
    for path in sorted((plant / "device-tracking").iterdir()):
        for raw in mapping.read(path):
            [record] = mapping.map(raw).master
            key = (record.attributes["gtin"], record.attributes["serial_number"])
            seen[key] = seen.get(key, 0) + 1
            assert record.attributes["patient_name"] == truth[key].patient.name
    assert seen == {key: unit.reports for key, unit in truth.items()}
    assert any(count > 1 for count in seen.values())
    end = datetime.fromisoformat(load_truth(plant).summary["end"]).date()
    assert all(date.fromisoformat(t.implanted_on) <= end for t in truth.values())
