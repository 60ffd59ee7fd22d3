"""The ERP side of the simulated plant: SAP-like CSV tables, local time, ERP units and codes.

One file per record type and month (``goods_movements_202601.csv`` ...), columns named
as in SAP (``MBLNR``, ``BWART``, ``CHARG`` ...), dates ``DD.MM.YYYY`` and times
``HH:MM:SS`` in Asia/Shanghai, quantities in the ERP unit of the line (``BOX`` = 50 EA
for lot-controlled finished goods, ``CAR`` cartons for purchased parts).

>>> erp_quantity(1250.0, "BOX")
'25.000'
>>> erp_date_time(datetime(2026, 1, 5, 8, 30))
('05.01.2026', '08:30:00')
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tracebridge.sim.catalogue import COMPONENTS, PLANT, PRODUCTS
from tracebridge.sim.faults import FaultLog, FaultRates
from tracebridge.sim.streams import FaultyStream, OutRecord, RotatingFile, csv_line

BOX_SIZE = 50

COLUMNS: dict[str, list[str]] = {
    "goods_movements": [
        "MBLNR", "MJAHR", "ZEILE", "BWART", "MATNR", "EAN11", "WERKS", "LGORT", "CHARG",
        "LICHA", "MENGE", "MEINS", "BUDAT", "CPUTM", "USNAM", "LIFNR", "EBELN", "AUFNR",
        "KUNNR", "VBELN", "UMLGO", "GRUND", "HSDAT", "VFDAT", "SMBLN", "SJAHR", "SMBLP",
    ],
    "inspection_results": [
        "PRUEFLOS", "MERKNR", "ART", "MATNR", "EAN11", "CHARG", "WERKS", "KURZTEXT",
        "MESSWERT", "TOLUN", "TOLOB", "MASSEINHSW", "MBEWERTG", "PRUEFER", "PRUEFDATUV",
        "PRUEFZEIT",
    ],
    "usage_decisions": [
        "PRUEFLOS", "UDNR", "VCODE", "MATNR", "EAN11", "CHARG", "WERKS", "VDATUM", "VZEIT",
        "VNAME", "VTEXT",
    ],
    "operation_confirmations": [
        "RUECK", "RMZHL", "AUFNR", "VORNR", "LTXA1", "ARBPL", "PERNR", "MATNR", "EAN11",
        "CHARG", "LMNGA", "MEINH", "ISDD", "ISDZ", "IEDD", "IEDZ", "TEMP_C", "RH_PCT",
        "EO_MGL", "EXPO_H", "SEAL_TEMP_C",
    ],
    "deliveries": [
        "VBELN", "POSNR", "KUNNR", "MATNR", "EAN11", "CHARG", "LFIMG", "VRKME", "WADAT_IST",
        "PODAT", "POTIM",
    ],
    "complaints": [
        "QMNUM", "QMART", "QMDAT", "MZEIT", "KUNNR", "MATNR", "EAN11", "CHARG", "QMTXT",
        "REPORTER", "TELF1", "FECOD", "ERNAM",
    ],
}

# Fields the built-in ERP mapping requires for every record of the type: a missing-field
# fault blanks one of these, and a code a mapping does not know goes into these.
REQUIRED: dict[str, tuple[str, ...]] = {
    "goods_movements": ("MATNR", "CHARG", "BUDAT", "MENGE"),
    "inspection_results": ("CHARG", "EAN11", "MBEWERTG"),
    "usage_decisions": ("CHARG", "VDATUM"),
    "operation_confirmations": ("AUFNR", "CHARG", "IEDD"),
    "deliveries": ("KUNNR", "CHARG", "PODAT"),
    "complaints": ("QMDAT", "KUNNR"),
}
UNKNOWN_CODES: dict[str, dict[str, str]] = {
    "goods_movements": {"BWART": "999", "MEINS": "PAL"},
    "inspection_results": {"MBEWERTG": "X", "ART": "09"},
    "usage_decisions": {"VCODE": "Z9"},
    "operation_confirmations": {},
    "deliveries": {"VRKME": "KAR"},
    "complaints": {"QMART": "Q7"},
}
MISMATCH_MOVEMENTS = frozenset({"601", "551", "701", "702"})  # ERP copies of WMS facts


def erp_date_time(moment: datetime) -> tuple[str, str]:
    return moment.strftime("%d.%m.%Y"), moment.strftime("%H:%M:%S")


def erp_quantity(quantity_ea: float, unit: str, per_unit: int = BOX_SIZE) -> str:
    divisor = 1 if unit == "EA" else per_unit
    return f"{quantity_ea / divisor:.3f}"


def erp_unit_for(material: str, quantity_ea: float, *, purchase: bool = False) -> tuple[str, int]:
    """The unit the ERP posts a quantity in, and the EA it holds."""
    if material in PRODUCTS:
        product = PRODUCTS[material]
        if product.erp_unit == "BOX" and quantity_ea % BOX_SIZE == 0:
            return "BOX", BOX_SIZE
        return "EA", 1
    component = COMPONENTS[material]
    if purchase and quantity_ea % component.per_erp_unit == 0:
        return component.erp_unit, component.per_erp_unit
    return "EA", 1


def gtin_of(material: str) -> str:
    return PRODUCTS[material].gtin if material in PRODUCTS else COMPONENTS[material].gtin


@dataclass(slots=True)
class Movement:
    """One line of a material document."""

    bwart: str
    material: str
    lot: str
    storage_location: str
    quantity_ea: float
    user: str
    supplier: str = ""
    supplier_lot: str = ""
    po: str = ""
    order: str = ""
    customer: str = ""
    delivery: str = ""
    to_storage_location: str = ""
    reason: str = ""
    manufactured: str = ""  # ISO dates, written as ERP dates
    expiry: str = ""
    reverses: str = ""  # record id of the line this one reverses
    purchase: bool = False


def _row(columns: list[str], values: dict[str, str]) -> str:
    return csv_line([values.get(c, "") for c in columns])


def _iso_to_erp(iso: str) -> str:
    return f"{iso[8:10]}.{iso[5:7]}.{iso[0:4]}" if iso else ""


class ErpExport:
    """Writes the ERP tables; ``goods_movement`` & co. return the record ids they wrote."""

    def __init__(
        self, directory: Path, *, rates: FaultRates, log: FaultLog, seed: int
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._rates = rates
        self._log = log
        self._rng = random.Random(f"{seed}:erp-mismatch")
        self._expiry_rng = random.Random(f"{seed}:erp-expiry")
        self._streams: dict[str, FaultyStream] = {}
        for name, columns in COLUMNS.items():
            sink = RotatingFile(directory, name, ".csv", csv_line(columns))
            self._streams[name] = FaultyStream(
                system="erp", sink=sink, rates=rates, log=log,
                serialise=functools.partial(_row, columns),
                rng=random.Random(f"{seed}:erp:{name}"),
            )
        self._document = 4900000000
        self._counters: dict[str, int] = {}

    def _emit(self, name: str, moment: datetime, record_id: str, values: dict[str, str],
              *, protected: bool = False) -> None:
        stream = self._streams[name]
        stream.set_period(moment.strftime("%Y%m"))
        stream.emit(OutRecord(record_id, values, REQUIRED[name], UNKNOWN_CODES[name], protected))

    def goods_movement(self, moment: datetime, lines: list[Movement],
                       *, protected: bool = False) -> list[str]:
        self._document += 1
        date, time = erp_date_time(moment)
        ids: list[str] = []
        for number, line in enumerate(lines, start=1):
            unit, per_unit = erp_unit_for(line.material, line.quantity_ea, purchase=line.purchase)
            record_id = f"{self._document}-{moment.year}-{number:04d}"
            quantity = line.quantity_ea
            mismatch = self._rng.random() < self._rates.quantity_mismatch
            if line.bwart in MISMATCH_MOVEMENTS and mismatch:
                delta = per_unit * self._rng.choice((-1, 1))
                quantity += delta if quantity + delta > 0 else per_unit
                self._log.note("quantity_mismatch", "erp", record_id)
                if line.bwart == "601":  # the rule compares shipments only
                    self._log.expect("erp-wms-quantity-mismatch", "record", f"erp:{record_id}")
            expiry = _iso_to_erp(line.expiry)
            if (expiry and self._rates.missing_expiry and line.bwart in ("101", "561")
                    and line.material in PRODUCTS
                    and self._expiry_rng.random() < self._rates.missing_expiry):
                expiry = ""  # a lot of a sterile device without its expiry date
                self._log.note("missing_expiry", "erp", record_id)
                self._log.expect("missing-required-field", "record", f"erp:{record_id}")
            reverses = line.reverses.split("-") if line.reverses else ["", "", ""]
            values = {
                "MBLNR": str(self._document), "MJAHR": str(moment.year), "ZEILE": f"{number:04d}",
                "BWART": line.bwart, "MATNR": line.material, "EAN11": gtin_of(line.material),
                "WERKS": PLANT, "LGORT": line.storage_location, "CHARG": line.lot,
                "LICHA": line.supplier_lot, "MENGE": erp_quantity(quantity, unit, per_unit),
                "MEINS": unit, "BUDAT": date, "CPUTM": time, "USNAM": line.user,
                "LIFNR": line.supplier, "EBELN": line.po, "AUFNR": line.order,
                "KUNNR": line.customer, "VBELN": line.delivery, "UMLGO": line.to_storage_location,
                "GRUND": line.reason, "HSDAT": _iso_to_erp(line.manufactured),
                "VFDAT": expiry, "SMBLN": reverses[0], "SJAHR": reverses[1],
                "SMBLP": reverses[2],
            }
            self._emit("goods_movements", moment, record_id, values, protected=protected)
            ids.append(record_id)
        return ids

    def inspection(self, moment: datetime, *, inspection_lot: str, characteristic_no: int,
                   stage: str, material: str, lot: str, text: str, measured: float,
                   lower: float, upper: float, unit: str, inspector: str) -> None:
        date, time = erp_date_time(moment)
        passed = lower <= measured <= upper
        values = {
            "PRUEFLOS": inspection_lot, "MERKNR": f"{characteristic_no:04d}",
            "ART": {"incoming": "01", "in_process": "03", "final": "04"}[stage],
            "MATNR": material, "EAN11": gtin_of(material), "CHARG": lot, "WERKS": PLANT,
            "KURZTEXT": text, "MESSWERT": f"{measured:.3f}", "TOLUN": f"{lower:.3f}",
            "TOLOB": f"{upper:.3f}", "MASSEINHSW": unit, "MBEWERTG": "A" if passed else "R",
            "PRUEFER": inspector, "PRUEFDATUV": date, "PRUEFZEIT": time,
        }
        self._emit("inspection_results", moment, f"{inspection_lot}-{characteristic_no:04d}",
                   values)

    def usage_decision(self, moment: datetime, *, inspection_lot: str, code: str,
                       material: str, lot: str, person: str, text: str) -> None:
        sequence = self._counters[inspection_lot] = self._counters.get(inspection_lot, 0) + 1
        date, time = erp_date_time(moment)
        values = {
            "PRUEFLOS": inspection_lot, "UDNR": f"{sequence:02d}", "VCODE": code,
            "MATNR": material, "EAN11": gtin_of(material), "CHARG": lot, "WERKS": PLANT,
            "VDATUM": date, "VZEIT": time, "VNAME": person, "VTEXT": text,
        }
        self._emit("usage_decisions", moment, f"{inspection_lot}-{sequence:02d}", values)

    def confirmation(self, start: datetime, end: datetime, *, confirmation: str, counter: int,
                     order: str, operation: str, text: str, equipment: str, person: str,
                     material: str, lot: str, yield_ea: float,
                     sensors: dict[str, float]) -> None:
        start_date, start_time = erp_date_time(start)
        end_date, end_time = erp_date_time(end)
        values = {
            "RUECK": confirmation, "RMZHL": f"{counter:08d}", "AUFNR": order, "VORNR": operation,
            "LTXA1": text, "ARBPL": equipment, "PERNR": person, "MATNR": material,
            "EAN11": gtin_of(material), "CHARG": lot, "LMNGA": f"{yield_ea:.3f}", "MEINH": "EA",
            "ISDD": start_date, "ISDZ": start_time, "IEDD": end_date, "IEDZ": end_time,
            **{name: f"{value:.2f}" for name, value in sensors.items()},
        }
        self._emit("operation_confirmations", end, f"{confirmation}-{counter:08d}", values)

    def delivery_pod(self, moment: datetime, *, delivery: str, item: int, customer: str,
                     material: str, lot: str, quantity_ea: float, goods_issue: datetime) -> None:
        unit, per_unit = erp_unit_for(material, quantity_ea)
        date, time = erp_date_time(moment)
        values = {
            "VBELN": delivery, "POSNR": f"{item:06d}", "KUNNR": customer, "MATNR": material,
            "EAN11": gtin_of(material), "CHARG": lot,
            "LFIMG": erp_quantity(quantity_ea, unit, per_unit), "VRKME": unit,
            "WADAT_IST": erp_date_time(goods_issue)[0], "PODAT": date, "POTIM": time,
        }
        self._emit("deliveries", moment, f"{delivery}-{item:06d}", values)

    def complaint(self, moment: datetime, *, number: str, kind: str, customer: str,
                  material: str, lot: str, text: str, reporter: str, phone: str,
                  defect: str, user: str) -> None:
        date, time = erp_date_time(moment)
        values = {
            "QMNUM": number, "QMART": kind, "QMDAT": date, "MZEIT": time, "KUNNR": customer,
            "MATNR": material, "EAN11": gtin_of(material), "CHARG": lot, "QMTXT": text,
            "REPORTER": reporter, "TELF1": phone, "FECOD": defect, "ERNAM": user,
        }
        self._emit("complaints", moment, number, values)

    def close(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for name, stream in self._streams.items():
            stream.close()
            counts[name] = stream.records
        return counts

    def files(self) -> list[Path]:
        return [path for stream in self._streams.values() for path in stream.files]
