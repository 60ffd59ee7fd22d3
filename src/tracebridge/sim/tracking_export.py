"""The hospitals' device-tracking reports of the simulated plant (21 CFR 821.30(b)).

Tracked devices are the serialised class III products. After each simulated day
``TrackingExport.observe`` notes which tracked units a hospital received that day and
which came back (a customer return lands in ``RET-01`` and stays there at least a day);
when the run ends, ``write`` lets the hospitals report a share of the units still with
them: implanted a few days after delivery, some later explanted or the patient deceased,
a few implant reports re-sent with a corrected patient phone. It writes
``device-tracking/tracking_reports_YYYYMM.csv`` (the built-in ``device-tracking``
mapping) and ``truth/tracking.jsonl``: per reported unit, what its 821 answer must say.

It draws from its own random stream, so adding it moves no ERP or WMS record. Patients
and physicians are invented from name parts; none is a real person.

>>> sorted(PRODUCTS[m].name for m in PRODUCTS if PRODUCTS[m].gtin in TRACKED_GTINS)
['Implantable port system, titanium, 8 Fr', 'PICC catheter kit, 4 Fr, single lumen']
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import islice
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tracebridge.errors import SimulationError
from tracebridge.sim.catalogue import CUSTOMERS, PRODUCTS
from tracebridge.sim.state import LotKey, World
from tracebridge.sim.streams import csv_line

TRACKED_GTINS = frozenset(p.gtin for p in PRODUCTS.values()
                          if p.serialised and p.device_class == "III")
REPORTED_SHARE = 0.7  # of the units still at a hospital when the run ends
EXPLANT_SHARE = 0.10
DEATH_SHARE = 0.06
CORRECTION_SHARE = 0.05
RETURNS_BIN = "RET-01"
COLUMNS = [
    "hospital", "gtin", "serial", "lot", "report", "reported_on", "implant_date",
    "patient_name", "patient_address", "patient_phone", "patient_id",
    "prescribing_physician", "prescribing_physician_address", "prescribing_physician_phone",
    "following_physician", "following_physician_address", "following_physician_phone",
    "explant_date", "death_date", "retired_date",
]
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗"
_GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
          "涛", "明", "超", "秀英", "桂英", "建华", "志强", "晓东", "海燕", "国平"]
_STREETS = ["人民路", "中山路", "解放路", "建设路", "和平路", "文化路", "青年路", "新华路"]
_DEPARTMENTS = ["心胸外科", "肿瘤内科", "血管外科", "介入科", "普外科"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TruthPerson(_Model):
    name: str
    address: str
    phone: str
    identifier: str | None = None


class TruthTracking(_Model):
    """What the 821 answer for one reported unit must say (REQ 41)."""

    gtin: str
    serial: str
    lot: str
    hospital: str
    delivery: str
    shipped_on: str
    state: str  # with-patient | explanted | patient-deceased
    implanted_on: str
    patient: TruthPerson
    prescribing_physician: TruthPerson
    following_physician: TruthPerson | None = None
    explanted_on: str | None = None
    died_on: str | None = None
    reports: int  # report lines written for the unit (each one a version)


@dataclass(frozen=True, slots=True)
class _Holding:
    hospital: str
    gtin: str
    serial: str
    lot: str
    delivery: str
    shipped: date


@dataclass(frozen=True, slots=True)
class _Case:
    holding: _Holding
    implanted: date
    patient: TruthPerson
    prescribing: TruthPerson
    following: TruthPerson | None


class TrackingExport:
    """Follows tracked units to hospitals day by day; writes their reports at the end."""

    def __init__(self, directory: Path, *, seed: int) -> None:
        self.directory = directory
        self.seed = seed
        self._lots: list[LotKey] = []
        self._lots_seen = 0
        self._deliveries_seen: dict[LotKey, int] = {}
        self._at_hospital: dict[tuple[str, str], _Holding] = {}

    def observe(self, world: World, day: date) -> None:
        """Note the tracked units hospitals received on ``day`` and any that came back."""
        for key in islice(world.lots, self._lots_seen, None):
            if key[0] in TRACKED_GTINS:
                self._lots.append(key)
        self._lots_seen = len(world.lots)
        for key in self._lots:
            shipments = world.lots[key].shipments
            seen = self._deliveries_seen.get(key, 0)
            for shipment in islice(shipments.values(), seen, None):
                for serial in shipment.serials:
                    if CUSTOMERS[shipment.customer].kind == "hospital":
                        self._at_hospital[(key[0], serial)] = _Holding(
                            shipment.customer, key[0], serial, key[1], shipment.delivery, day)
                    else:
                        self._at_hospital.pop((key[0], serial), None)
            self._deliveries_seen[key] = len(shipments)
            for serial in world.serials_at(key, RETURNS_BIN):
                self._at_hospital.pop((key[0], serial), None)

    def write(self, *, until: date, truth_dir: Path) -> int:
        """Write the reports made up to ``until`` and their truth; return the report lines."""
        rng = random.Random(f"{self.seed}:tracking")
        rows: list[tuple[str, list[str]]] = []
        truths: list[TruthTracking] = []
        for _, holding in sorted(self._at_hospital.items()):
            if rng.random() >= REPORTED_SHARE:
                continue
            implanted = holding.shipped + timedelta(days=rng.randint(2, 20))
            reported = implanted + timedelta(days=rng.randint(0, 5))
            case = _Case(holding, implanted, _patient(rng, holding.hospital),
                         _physician(rng, holding.hospital),
                         _physician(rng, holding.hospital) if rng.random() < 0.4 else None)
            if reported > until:
                continue
            unit_rows = [(reported, _report_row(case, "IMPLANT", reported))]
            outcome, ended = _outcome(rng, implanted)
            if outcome is not None and ended is not None and ended + timedelta(days=2) <= until:
                code, state = outcome
                dates = {"explanted": ended} if code == "EXPLANT" else {"died": ended}
                unit_rows.append((ended + timedelta(days=2), _report_row(
                    case, code, ended + timedelta(days=2), **dates)))
            else:
                state, dates = "with-patient", {}
                if rng.random() < CORRECTION_SHARE and reported + timedelta(days=7) <= until:
                    case = _Case(holding, implanted, case.patient.model_copy(
                        update={"phone": _mobile(rng)}), case.prescribing, case.following)
                    unit_rows.append((reported + timedelta(days=7), _report_row(
                        case, "IMPLANT", reported + timedelta(days=7))))
            rows += [(when.isoformat(), row) for when, row in unit_rows]
            truths.append(_truth(case, state, dates, len(unit_rows)))
        self._write_reports(sorted(rows, key=lambda r: (r[0], r[1][1], r[1][2])))
        truth_dir.mkdir(parents=True, exist_ok=True)
        with (truth_dir / "tracking.jsonl").open("w", encoding="utf-8") as out:
            for truth in truths:
                out.write(json.dumps(truth.model_dump(mode="json", exclude_none=True),
                                     ensure_ascii=False, sort_keys=True) + "\n")
        return len(rows)

    def _write_reports(self, rows: list[tuple[str, list[str]]]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.glob("tracking_reports_*.csv"):
            stale.unlink()
        by_month: dict[str, list[list[str]]] = {}
        for reported, row in rows:
            by_month.setdefault(reported[:7].replace("-", ""), []).append(row)
        for month, lines in by_month.items():
            with (self.directory / f"tracking_reports_{month}.csv").open(
                    "w", encoding="utf-8", newline="") as out:
                out.write(csv_line(COLUMNS))
                out.writelines(csv_line(line) for line in lines)


def load_tracking_truth(out: Path) -> list[TruthTracking]:
    """The reported units of a run: ``out`` is the ``--out`` directory or its ``truth/``."""
    base = out / "truth" if (out / "truth").is_dir() else out
    try:
        with (base / "tracking.jsonl").open(encoding="utf-8") as source:
            return [TruthTracking.model_validate_json(line) for line in source]
    except OSError as e:
        raise SimulationError(f"no tracking truth in '{out}': {e.strerror} ({e.filename}); "
                              "expected the --out directory of 'tracebridge sim generate'") from e


def _outcome(rng: random.Random,
             implanted: date) -> tuple[tuple[str, str] | None, date | None]:
    roll = rng.random()
    if roll < EXPLANT_SHARE:
        return ("EXPLANT", "explanted"), implanted + timedelta(days=rng.randint(2, 21))
    if roll < EXPLANT_SHARE + DEATH_SHARE:
        return ("DEATH", "patient-deceased"), implanted + timedelta(days=rng.randint(2, 21))
    return None, None


def _report_row(case: _Case, report: str, reported: date, *, explanted: date | None = None,
                died: date | None = None) -> list[str]:
    h, p, doctor, follower = case.holding, case.patient, case.prescribing, case.following
    return [
        h.hospital, h.gtin, h.serial, h.lot, report, reported.isoformat(),
        case.implanted.isoformat(), p.name, p.address, p.phone, p.identifier or "",
        doctor.name, doctor.address, doctor.phone,
        follower.name if follower else "", follower.address if follower else "",
        follower.phone if follower else "",
        explanted.isoformat() if explanted else "", died.isoformat() if died else "", "",
    ]


def _truth(case: _Case, state: str, dates: dict[str, date], reports: int) -> TruthTracking:
    h = case.holding
    return TruthTracking(
        gtin=h.gtin, serial=h.serial, lot=h.lot, hospital=h.hospital, delivery=h.delivery,
        shipped_on=h.shipped.isoformat(), state=state, implanted_on=case.implanted.isoformat(),
        patient=case.patient, prescribing_physician=case.prescribing,
        following_physician=case.following,
        explanted_on=dates["explanted"].isoformat() if "explanted" in dates else None,
        died_on=dates["died"].isoformat() if "died" in dates else None, reports=reports)


def _name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + rng.choice(_GIVEN)


def _mobile(rng: random.Random) -> str:
    return f"+86 1{rng.randint(30, 99)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"


def _patient(rng: random.Random, hospital: str) -> TruthPerson:
    city = CUSTOMERS[hospital].city
    address = (f"{city}市{rng.choice(_STREETS)} {rng.randint(1, 899)} 号 "
               f"{rng.randint(1, 30)} 栋 {rng.randint(101, 2604)} 室")
    identifier = f"ZY{rng.randint(10_000_000, 99_999_999)}" if rng.random() < 0.8 else None
    return TruthPerson(name=_name(rng), address=address, phone=_mobile(rng),
                       identifier=identifier)


def _physician(rng: random.Random, hospital: str) -> TruthPerson:
    party = CUSTOMERS[hospital]
    return TruthPerson(name=f"{_name(rng)} 医师",
                       address=f"{party.city} {party.street} {rng.choice(_DEPARTMENTS)}",
                       phone=f"{party.phone} 转 {rng.randint(1000, 8999)}")

