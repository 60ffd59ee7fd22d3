"""Turning fact rows into the parts of a trace — pure functions, no database.

Kept apart from ``service`` so each rule can be read on its own: which system's rows
count, how shipment rows become one line per (shipment, gtin, lot, serial), when a lot
was at a location (and so which environment readings concern it).

>>> lot_udi("09506000134352", "A1", "2027-03-31")
'(01)09506000134352(17)270331(10)A1'
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from tracebridge.domain.events import EventKind
from tracebridge.trace.model import (
    CustomerTotal,
    EnvironmentStatistic,
    EnvironmentWindow,
    Party,
    ProcessStep,
    SensorValue,
    ShipmentLine,
    StockPosition,
    UomTotal,
    WorkOrder,
)
from tracebridge.trace.queries import Crossing, Holding, Limits, LotKey, Window, at_utc
from tracebridge.trace.reference import lot_link

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RETURNED = EventKind.RETURNED.value
_DELIVERED = EventKind.DELIVERED.value


def lot_udi(gtin: str, lot: str, expiry: str | None) -> str:
    """The GS1 human-readable UDI of a lot: (01) GTIN, (17) expiry when known, (10) lot."""
    dated = f"(17){expiry[2:4]}{expiry[5:7]}{expiry[8:10]}" if expiry and _ISO_DATE.match(
        expiry) else ""
    return f"(01){gtin}{dated}(10){lot}"


def _time(value: object) -> datetime:
    at = at_utc(value)  # type: ignore[arg-type]
    if at is None:
        raise ValueError("a fact without its event time")
    return at


def system_of_record_rows(rows: Sequence[Any], preferred: str) -> list[Any]:
    """Per lot, only the rows of ``preferred`` if it has any, else of one other system."""
    systems: dict[LotKey, set[str]] = defaultdict(set)
    for row in rows:
        systems[(row.gtin, row.lot)].add(row.source_system)
    chosen = {key: preferred if preferred in found else min(found)
              for key, found in systems.items()}
    return [row for row in rows if row.source_system == chosen[(row.gtin, row.lot)]]


def stock_positions(holdings: Iterable[Holding]) -> list[StockPosition]:
    return [StockPosition(gtin=h.gtin, lot=h.lot, location=h.location,
                          source_system=h.source_system, quantity=h.quantity, uom=h.uom)
            for h in holdings]


def merge_shipments(rows: Sequence[Any], depth: Mapping[LotKey, int],
                    parties: Mapping[str, Party]) -> list[ShipmentLine]:
    """One line per (shipment, gtin, lot, serial); a return is its own line.

    Several records of the same line (two pallets of one lot, a later delivery
    confirmation) add their shipped quantities and their SSCCs to that one line.
    Rows come in event-time order; a closure can have thousands, hence the plain loop.
    """
    merged: dict[tuple[str, str, str, str | None, bool], _Line] = {}
    times: dict[object, datetime] = {}  # rows of one event share its time: parse it once
    for row in rows:
        kind = row.kind
        key = (row.shipment, row.gtin, row.lot, row.serial, kind == _RETURNED)
        at = times.get(row.event_time)
        if at is None:
            at = times[row.event_time] = _time(row.event_time)
        line = merged.get(key)
        if line is None:
            line = merged[key] = _Line(kind, at, row.uom, row.source_system)
        if kind == _DELIVERED:
            line.delivered_at = line.delivered_at or at
            line.party = line.party or row.party
            continue
        if line.kind == _DELIVERED:
            line.kind, line.shipped_at = kind, at
        elif at < line.shipped_at:
            line.shipped_at = at
        if row.quantity is not None:
            line.quantity = (line.quantity or 0.0) + row.quantity
        line.uom = line.uom or row.uom
        line.party = row.party or line.party
        line.from_location = line.from_location or row.from_location
        if row.sscc and row.sscc not in line.ssccs:
            line.ssccs.append(row.sscc)
    lines = [ShipmentLine(
        shipment=shipment, kind=line.kind, shipped_at=line.shipped_at,
        delivered_at=line.delivered_at, gtin=gtin, lot=lot, serial=serial, ssccs=line.ssccs,
        quantity=line.quantity, uom=line.uom,
        consignee=parties.get(line.party) if line.party else None,
        from_location=line.from_location, source_system=line.source_system,
        depth=depth.get((gtin, lot), 0))
        for (shipment, gtin, lot, serial, _), line in merged.items()]
    lines.sort(key=lambda x: (x.shipped_at, x.shipment, x.gtin, x.lot, x.serial or ""))
    return lines


class _Line:
    """A shipment line being merged from its records."""

    __slots__ = ("delivered_at", "from_location", "kind", "party", "quantity", "shipped_at",
                 "source_system", "ssccs", "uom")

    def __init__(self, kind: str, at: datetime, uom: str | None, source_system: str) -> None:
        self.kind = kind
        self.shipped_at = at
        self.delivered_at: datetime | None = None
        self.uom = uom
        self.source_system = source_system
        self.quantity: float | None = None
        self.party: str | None = None
        self.from_location: str | None = None
        self.ssccs: list[str] = []


def customers(lines: Sequence[ShipmentLine]) -> list[CustomerTotal]:
    """Per consignee: shipments, lots, first and last shipment, quantities per unit."""
    by_party: dict[str, list[ShipmentLine]] = defaultdict(list)
    for line in lines:
        if line.consignee is not None:
            by_party[line.consignee.code].append(line)
    out = []
    for code in sorted(by_party):
        own = by_party[code]
        totals: dict[str | None, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for line in own:
            totals[line.uom][1 if line.kind == _RETURNED else 0] += line.quantity or 0.0
        sent = [line.shipped_at for line in own if line.kind != _RETURNED] or [
            line.shipped_at for line in own]
        party = own[0].consignee
        assert party is not None
        out.append(CustomerTotal(
            party=party, shipments=len({line.shipment for line in own if line.kind != _RETURNED}),
            lots=len({(line.gtin, line.lot) for line in own}),
            first_shipped_at=min(sent), last_shipped_at=max(sent),
            totals=[UomTotal(uom=uom, shipped=round(s, 6), returned=round(r, 6))
                    for uom, (s, r) in sorted(totals.items(), key=lambda i: i[0] or "")]))
    return out


def work_orders(steps: Sequence[Any], edges: Sequence[Any], states: Mapping[LotKey, Any]
                ) -> list[WorkOrder]:
    """Work orders of the produced lots: their inputs, outputs and process steps."""
    grouped: dict[str, list[ProcessStep]] = defaultdict(list)
    outputs: dict[str, set[LotKey]] = defaultdict(set)
    inputs: dict[str, set[LotKey]] = defaultdict(set)
    for row in steps:
        key = (row.gtin, row.lot)
        order = row.work_order or (states.get(key) or {}).get("work_order") or lot_link(*key)
        outputs[order].add(key)
        sensor = [SensorValue(type=str(s["type"]), value=float(s["value"]), uom=str(s["uom"]))
                  for s in row.sensor or []]
        grouped[order].append(ProcessStep(
            gtin=row.gtin, lot=row.lot, operation=row.operation, kind=row.kind,
            equipment=row.equipment, operator=row.operator, location=row.location,
            at=_time(row.event_time), sensor=sensor))
    for edge in edges:
        outputs[edge.work_order].add(edge.output)
        inputs[edge.work_order].add(edge.input)
    out = []
    for order in sorted(outputs):
        own = grouped.get(order, [])
        times = [step.at for step in own]
        out.append(WorkOrder(
            work_order=order, outputs=[lot_link(*k) for k in sorted(outputs[order])],
            inputs=[lot_link(*k) for k in sorted(inputs.get(order, set()))],
            started=min(times) if times else None, finished=max(times) if times else None,
            steps=own))
    return out


# ------------------------------------------------------------------------ environment


@dataclass(frozen=True, slots=True)
class Stay:
    """A lot at one location for a while: processed there, or kept there in stock."""

    gtin: str
    lot: str
    location: str
    purpose: Literal["processed", "stored"]
    start: datetime
    end: datetime

    def with_statistics(self, rows: Sequence[Mapping[str, Any]], limits: Limits
                        ) -> EnvironmentWindow:
        statistics = []
        for row in sorted(rows, key=lambda r: (r["type"], r["uom"])):
            lower, upper = limits.get(row["type"], (None, None))
            known = lower is not None or upper is not None
            statistics.append(EnvironmentStatistic(
                type=row["type"], uom=row["uom"], readings=int(row["readings"]),
                minimum=float(row["minimum"]), maximum=float(row["maximum"]),
                lower_limit=lower, upper_limit=upper,
                excursions=int(row["excursions"] or 0) if known else None,
                first_excursion_at=at_utc(row["first_excursion"]) if known else None,
                last_excursion_at=at_utc(row["last_excursion"]) if known else None))
        return EnvironmentWindow(gtin=self.gtin, lot=self.lot, location=self.location,
                                 purpose=self.purpose, start=self.start, end=self.end,
                                 statistics=statistics)


def environment_windows(steps: Sequence[Any], arrivals: Sequence[Crossing], keys: set[LotKey],
                        *, until: datetime, margin: timedelta) -> list[tuple[Window, Stay]]:
    """Where and when each lot was processed (step times ± ``margin``) or held in stock.

    ``arrivals`` are the moments, in event-time order, each lot's stock at a location
    rose above zero or fell back to it (``queries.crossings``). A stay not ended yet
    runs to ``until`` (the trace's as-of time, or now).
    """
    stays: list[Stay] = []
    at_location: dict[tuple[str, str, str], list[datetime]] = defaultdict(list)
    for row in steps:
        if row.location and (row.gtin, row.lot) in keys:
            at_location[(row.gtin, row.lot, row.location)].append(_time(row.event_time))
    for (gtin, lot, location), times in sorted(at_location.items()):
        stays.append(Stay(gtin, lot, location, "processed", min(times) - margin,
                          max(times) + margin))
    since: dict[tuple[str, str, str], datetime] = {}
    for crossing in arrivals:
        key = (crossing.gtin, crossing.lot, crossing.location)
        if (crossing.gtin, crossing.lot) not in keys:
            continue
        if crossing.arrived:
            since[key] = crossing.at
        elif key in since:
            stays.append(Stay(*key, "stored", since.pop(key), crossing.at))
    for key, start in sorted(since.items()):
        stays.append(Stay(*key, "stored", start, max(start, until)))
    return [(Window(s.location, s.start, s.end), s) for s in stays]
