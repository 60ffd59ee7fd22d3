"""The WMS side of the simulated plant: JSON Lines, UTC epoch milliseconds, EA.

One transaction file and one environment file per day (``transactions_20260105.jsonl``),
plus ``locations.jsonl``. Transaction codes: ``OPN`` opening balance, ``RCV`` receipt,
``PUT`` putaway, ``MOV`` move, ``ISS`` issue to a work order, ``PRD`` receipt from
production, ``PICK``, ``PACK``, ``SHIP``, ``RET`` customer return, ``CNT`` count
difference (``qty`` is the signed delta), ``SCR`` scrap. References nest under ``ref``.

>>> epoch_ms(datetime(2026, 1, 5, 8, 0))  # 08:00 Shanghai = 00:00 UTC
1767571200000
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tracebridge.sim.catalogue import SITE, WMS_ZONES, wms_bins
from tracebridge.sim.faults import FaultLog, FaultRates
from tracebridge.sim.streams import FaultyStream, OutRecord, RotatingFile, json_line

LOCAL_OFFSET = timedelta(hours=8)  # Asia/Shanghai has had no daylight saving since 1991
_EPOCH = datetime(1970, 1, 1)

REQUIRED = ("gtin", "lot_no", "ts")  # each one the built-in mapping cannot do without
UNKNOWN_CODES = {"type": "XFER", "uom": "PCS"}
ENV_REQUIRED = ("loc", "ts")


def epoch_ms(local: datetime) -> int:
    return int((local - LOCAL_OFFSET - _EPOCH).total_seconds() * 1000)


class WmsExport:
    """Writes the WMS transaction and environment streams; returns each ``txn_id``."""

    def __init__(self, directory: Path, *, rates: FaultRates, log: FaultLog, seed: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._directory = directory
        self._rates = rates
        self._log = log
        self._skew_rng = random.Random(f"{seed}:wms-skew")
        self._txn = FaultyStream(
            system="wms", sink=RotatingFile(directory, "transactions", ".jsonl", None),
            serialise=_without_blanks, rates=rates, log=log,
            rng=random.Random(f"{seed}:wms:transactions"),
        )
        self._env = FaultyStream(
            system="wms", sink=RotatingFile(directory, "environment", ".jsonl", None),
            serialise=_without_blanks, rates=rates, log=log,
            rng=random.Random(f"{seed}:wms:environment"),
        )
        self._next_txn = 0
        self._next_reading = 0

    def transaction(self, kind: str, moment: datetime, *, sku: str, gtin: str, lot: str,
                    qty: float, loc: str, user: str, **extra: Any) -> str:
        self._next_txn += 1
        txn_id = f"T{self._next_txn:010d}"
        ts = epoch_ms(moment)
        if self._rates.clock_skew and self._skew_rng.random() < self._rates.clock_skew:
            minutes = self._skew_rng.randint(1, self._rates.clock_skew_minutes)
            ts += self._skew_rng.choice((-1, 1)) * minutes * 60_000
            self._log.note("clock_skew", "wms", txn_id)
        record: dict[str, Any] = {
            "txn_id": txn_id, "type": kind, "ts": ts, "site": SITE, "user": user,
            "sku": sku, "gtin": gtin, "lot_no": lot, "qty": _number(qty), "uom": "EA",
            "loc": loc,
        }
        record.update({k: v for k, v in extra.items() if v not in (None, "", [], {})})
        self._txn.set_period(moment.strftime("%Y%m%d"))
        self._txn.emit(OutRecord(txn_id, record, REQUIRED, UNKNOWN_CODES))
        return txn_id

    def delivered(self, txn_id: str) -> bool:
        """Whether transaction ``txn_id`` is in the export yet, or a fault still holds it
        back — what a live feed would have delivered by now."""
        return self._txn.delivered(txn_id)

    def pack(self, moment: datetime, *, sscc: str, loc: str, user: str,
             contents: list[dict[str, Any]] | None = None,
             children: list[str] | None = None, delivery: str = "") -> str:
        """Packing has no single lot: the case lists its contents, a pallet its cases."""
        self._next_txn += 1
        txn_id = f"T{self._next_txn:010d}"
        record: dict[str, Any] = {
            "txn_id": txn_id, "type": "PACK", "ts": epoch_ms(moment), "site": SITE,
            "user": user, "loc": loc, "sscc": sscc,
        }
        if contents:
            record["contents"] = contents
        if children:
            record["children"] = children
        if delivery:
            record["ref"] = {"delivery": delivery}
        self._txn.set_period(moment.strftime("%Y%m%d"))
        self._txn.emit(OutRecord(txn_id, record, ("ts",), {"type": "XFER"}))
        return txn_id

    def environment(self, moment: datetime, *, zone: str, temperature: float,
                    humidity: float) -> str:
        self._next_reading += 1
        record = {
            "reading_id": f"E{self._next_reading:010d}", "ts": epoch_ms(moment), "site": SITE,
            "loc": f"ZONE-{zone}", "sensor_id": f"TH-{zone}-01",
            "temp_c": round(temperature, 1), "rh_pct": round(humidity, 1),
        }
        self._env.set_period(moment.strftime("%Y%m%d"))
        self._env.emit(OutRecord(record["reading_id"], record, ENV_REQUIRED, {}))  # type: ignore[arg-type]
        return str(record["reading_id"])

    def write_locations(self) -> None:
        with (self._directory / "locations.jsonl").open("w", encoding="utf-8") as out:
            for zone, name in WMS_ZONES.items():
                out.write(json_line({"loc": f"ZONE-{zone}", "type": "zone", "zone": zone,
                                     "site": SITE, "name": name}))
            for code, zone in wms_bins():
                out.write(json_line({"loc": code, "type": "bin", "zone": zone, "site": SITE,
                                     "name": f"{WMS_ZONES[zone]} / {code}"}))

    def close(self) -> dict[str, int]:
        self._txn.close()
        self._env.close()
        return {"transactions": self._txn.records, "environment": self._env.records}

    def files(self) -> list[Path]:
        return [*self._txn.files, *self._env.files, self._directory / "locations.jsonl"]


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 3)


def _without_blanks(values: dict[str, Any]) -> str:
    # A missing-field fault blanks a value; the WMS leaves such keys out entirely.
    return json_line({k: v for k, v in values.items() if v != ""})
