"""821 tracking answers: where a tracked unit is, who holds it, and which patient has it.

21 CFR 821.25(a) asks a manufacturer two questions about a tracked device. Before it
reaches a patient (REQ 40, answer in 3 working days): who holds it and where — from the
WMS serial projection while the unit is with us, else from its last shipment line (its
own or its pallet's) with the consignee's name, address and phone. Once a hospital has
reported it with a patient (REQ 41, answer in 10 working days): the UDI, lot and serial,
our ship date, the implant date, the patient, the prescribing and following physicians,
and any explant, death or retirement date.

Those reports are ``device_tracking`` master records keyed ``<gtin>/<serial>`` (mapping
``device-tracking``). Each report is a version; the answer folds them in order, a later
version's given values replacing earlier ones, so an explant report sent without the
patient's details still leaves them on the answer. The state follows the newest of the
explant, death and retirement dates:

>>> fold_reports([{"implanted_on": "2026-01-18", "patient_name": "Zhang Wei"},
...               {"explanted_on": "2026-02-20", "patient_name": None}])["patient_name"]
'Zhang Wei'
>>> patient_state({"explanted_on": "2026-02-20", "died_on": "2026-03-02"})
'patient-deceased'

Patient identity is personal health data. ``masked`` hides the patient's name, address,
phone and identifier; the CLI and API show an answer masked unless the caller asks to
reveal it:

>>> mask_name("Zhang Wei"), mask_name("张伟"), mask_phone("+86 138 1234 5678")
('Z**** W**', '张*', '+** *** **** 5678')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, select

from tracebridge.domain.events import EventKind
from tracebridge.errors import NotFound
from tracebridge.recall.impact import consignees
from tracebridge.recall.model import Contact, Patient, Tracking
from tracebridge.recall.reporting import TRACKING_821_PATIENT_DAYS, TRACKING_821_UNSHIPPED_DAYS
from tracebridge.store import tables as t
from tracebridge.trace import queries as q

TRACKING_ENTITY = "device_tracking"
_AWAY = {EventKind.SHIPPED.value, EventKind.DELIVERED.value}
# The newest of these dates decides the state; on the same day a death outranks the rest.
_ENDINGS = (("retired_on", "retired"), ("explanted_on", "explanted"),
            ("died_on", "patient-deceased"))
_HIDDEN = "***"


def track_unit(conn: Connection, gtin: str, serial: str) -> Tracking:
    """The 821.25(a) answer for one unit, patient and physicians unmasked."""
    c = t.serial.c
    unit = conn.execute(select(c.lot, c.status, c.location)
                        .where(c.gtin == gtin, c.serial == serial)).first()
    reports = report_versions(conn, gtin, serial)
    if unit is None and not reports:
        raise NotFound(f"No tracked unit {gtin}/{serial}: expected the GTIN and serial of a "
                       "unit that was produced or received, or reported by a hospital")
    udi = f"(01){gtin}(21){serial}"
    ssccs = q.containers(conn, f"{gtin}/{serial}", None)
    lines = [r for r in q.serial_shipment_rows(conn, gtin, serial, ssccs, None)
             if r.kind == EventKind.SHIPPED.value and r.party]
    last = lines[-1] if lines else None
    holder = consignees(conn, [last.party])[last.party] if last and last.party else None
    lot = unit.lot if unit is not None else None
    location = unit.location if unit is not None else None
    if reports:
        return _with_patient(conn, fold_reports(reports), versions=len(reports), gtin=gtin,
                             serial=serial, lot=lot, udi=udi, holder=holder, location=location,
                             shipped_at=q.at_utc(last.event_time) if last else None,
                             shipment=last.shipment if last else None)
    if unit is None or unit.status not in _AWAY or last is None or holder is None:
        return Tracking(gtin=gtin, serial=serial, lot=lot, udi=udi, state="in-stock",
                        location=location, answer_due_working_days=TRACKING_821_UNSHIPPED_DAYS)
    distributor = holder.party_type == "distributor"
    return Tracking(
        gtin=gtin, serial=serial, lot=lot, udi=udi,
        state="at-distributor" if distributor else "shipped", holder=holder,
        location=holder.address or location, shipped_at=q.at_utc(last.event_time),
        shipment=last.shipment,
        answer_due_working_days=(TRACKING_821_UNSHIPPED_DAYS if distributor
                                 else TRACKING_821_PATIENT_DAYS))


def report_versions(conn: Connection, gtin: str, serial: str) -> list[dict[str, Any]]:
    """Every version of the unit's tracking record, oldest first."""
    m = t.master_record.c
    rows = conn.execute(select(m.attributes).where(
        m.entity == TRACKING_ENTITY, m.key == f"{gtin}/{serial}").order_by(m.version))
    return [dict(attributes) for (attributes,) in rows]


def fold_reports(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One view of all reports: each later report's given (non-blank) values win."""
    folded: dict[str, Any] = {}
    for report in reports:
        folded.update((k, v) for k, v in report.items() if v not in (None, ""))
    return folded


def patient_state(folded: Mapping[str, Any]) -> str:
    """``with-patient``, or what the newest explant, death or retirement date says."""
    state, newest = "with-patient", ""
    for field, name in _ENDINGS:
        when = str(folded.get(field) or "")
        if when and when >= newest:
            state, newest = name, when
    return state


def _with_patient(conn: Connection, folded: Mapping[str, Any], *, versions: int,
                  **unit: Any) -> Tracking:
    code = _text(folded, "final_distributor")
    hospital = consignees(conn, [code])[code] if code else None
    holder = unit["holder"]
    # where the device went: the reporting hospital, else whom we shipped it to
    location = ((hospital.address if hospital else None)
                or (holder.address if holder else None) or unit["location"])
    patient = _text(folded, "patient_name")
    return Tracking(
        **{**unit, "lot": unit["lot"] or _text(folded, "lot_number"), "location": location},
        state=patient_state(folded), final_distributor=hospital,
        implanted_on=_date(folded, "implanted_on"),
        patient=Patient(name=patient, address=_text(folded, "patient_address"),
                        phone=_text(folded, "patient_phone"),
                        identifier=_text(folded, "patient_identifier")) if patient else None,
        prescribing_physician=_contact(folded, "prescribing_physician"),
        following_physician=_contact(folded, "following_physician"),
        explanted_on=_date(folded, "explanted_on"), died_on=_date(folded, "died_on"),
        retired_on=_date(folded, "retired_on"), reported_on=_date(folded, "reported_on"),
        report_versions=versions, answer_due_working_days=TRACKING_821_PATIENT_DAYS)


def _text(values: Mapping[str, Any], name: str) -> str | None:
    value = values.get(name)
    return None if value in (None, "") else str(value)


def _date(values: Mapping[str, Any], name: str) -> date | None:
    value = _text(values, name)
    return date.fromisoformat(value) if value else None


def _contact(values: Mapping[str, Any], prefix: str) -> Contact | None:
    name = _text(values, f"{prefix}_name")
    if name is None:
        return None
    return Contact(name=name, address=_text(values, f"{prefix}_address"),
                   phone=_text(values, f"{prefix}_phone"))


# ------------------------------------------------------------------------------ masking
# Masking is the default at every entry point; revealing is an explicit request
# (``--reveal``, ``?reveal=true``). The coming access-control issue decides who may
# reveal (a role) and records who did; until then anyone who can ask may reveal.


def masked(tracking: Tracking) -> Tracking:
    """``tracking`` with the patient's name, address, phone and identifier masked."""
    patient = tracking.patient
    if patient is None:
        return tracking
    hidden = Patient(name=mask_name(patient.name),
                     address=_HIDDEN if patient.address else None,  # where the patient lives
                     phone=mask_phone(patient.phone) if patient.phone else None,
                     identifier=mask_identifier(patient.identifier)
                     if patient.identifier else None)
    return tracking.model_copy(update={"patient": hidden, "patient_masked": True})


def mask_name(name: str) -> str:
    """Each word keeps its first character (a one-character word keeps none)."""
    return " ".join(word[0] + "*" * (len(word) - 1) if len(word) > 1 else "*"
                    for word in name.split()) or "*"


def mask_phone(phone: str) -> str:
    """Every digit but the last four becomes ``*``; separators stay."""
    digits = sum(ch.isdigit() for ch in phone)
    keep = 4 if digits > 6 else 0
    out, seen = [], 0
    for ch in phone:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > digits - keep else "*")
        elif ch.isalpha():
            out.append("*")
        else:
            out.append(ch)
    return "".join(out)


def mask_identifier(identifier: str) -> str:
    """All but the last two characters become ``*`` (all of a short identifier)."""
    keep = 2 if len(identifier) > 5 else 0
    return "*" * (len(identifier) - keep) + identifier[len(identifier) - keep:]
