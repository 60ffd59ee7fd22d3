"""Recall impact: what a resolved scope reaches, read straight from the projections.

The genealogy is walked forward from every lot in scope at once (one query per level,
``genealogy_edge``); the closure's lot states, WMS stock, shipment lines and serials then
come from a few batched reads (``trace.queries``). Stock and shipments come from one
system of record per lot (``wms`` when it has rows), as in a trace, so the ERP's and the
WMS's views of the same goods are not added up.

A lot with no downstream lot in the closure is *finished*; a produced lot that went on
into other lots is a *sub-assembly*. Units recalled by serial are followed only as
themselves: the genealogy is lot-level, so a note names any lot their lot went into.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from tracebridge.domain.events import EventKind
from tracebridge.recall.model import (
    AffectedLot,
    Consignee,
    CustomerImpact,
    Impact,
    Shipment,
    StockAt,
)
from tracebridge.recall.scope import ResolvedScope
from tracebridge.store.key_reads import LotKey, by_keys
from tracebridge.trace import queries as q
from tracebridge.trace.assemble import system_of_record_rows
from tracebridge.trace.sql import master

_EDGES = ("SELECT DISTINCT in_gtin, in_lot, out_gtin, out_lot FROM genealogy_edge "
          "WHERE {keys} AND {valid}")
_SERIALS = "SELECT gtin, lot, serial, status, location FROM serial WHERE {keys}"
_RETURNED = EventKind.RETURNED.value
_DELIVERED = EventKind.DELIVERED.value
_GONE = {EventKind.SHIPPED.value, EventKind.DELIVERED.value, EventKind.RETURNED.value,
         EventKind.SCRAPPED.value, EventKind.CONSUMED.value}


def forward_closure(conn: Connection, starts: Collection[LotKey]
                    ) -> tuple[dict[LotKey, int], set[LotKey]]:
    """Every lot reachable downstream of ``starts`` with its depth, and the lots with outputs."""
    depth = dict.fromkeys(starts, 0)
    parents: set[LotKey] = set()
    frontier, level = sorted(depth), 0
    while frontier:
        level += 1
        reached: list[LotKey] = []
        for row in by_keys(conn, _EDGES, frontier, None, columns=("in_gtin", "in_lot"),
                           prefixes=("in_", "out_"), near=(0, 1), named=False):
            parents.add((row[0], row[1]))
            key = (row[2], row[3])
            if key not in depth:
                depth[key] = level
                reached.append(key)
        frontier = reached
    return depth, parents


def consignees(conn: Connection, codes: Iterable[str]) -> dict[str, Consignee]:
    """Name, address, phone and type of each party from the newest master-data version."""
    wanted = set(codes)
    found = master(conn, {"party": wanted})
    return {code: _consignee(code, found.get(f"party/{code}", {})) for code in wanted}


def _consignee(code: str, attributes: Mapping[str, Any]) -> Consignee:
    def text(name: str) -> str | None:
        value = attributes.get(name)
        return None if value in (None, "") else str(value)

    address = text("address")
    if address is None:
        town = " ".join(p for p in (text("postcode"), text("city")) if p)
        parts = [p for p in (text("street"), town, text("country")) if p]
        address = ", ".join(parts) or None
    return Consignee(code=code, name=text("name"), address=address, phone=text("phone"),
                     party_type=text("party_type"))


def impact(conn: Connection, scope: ResolvedScope, *, system_of_record: str = "wms") -> Impact:
    """The full impact of ``scope`` as the projections stand now."""
    depth, parents = forward_closure(conn, scope.lots)
    rows = _shipment_rows(conn, depth, scope, system_of_record)
    for key in scope.serials:
        depth.setdefault(key, 0)
    notes = list(scope.notes)
    states = q.lot_states(conn, depth, None)
    codes = {r.party for r in rows if r.party}
    parties = consignees(conn, codes)
    lines = merge_lines(rows)
    units = by_keys(conn, _SERIALS, depth, None, prefixes=())
    serials_of: dict[LotKey, list[str]] = defaultdict(list)
    for unit in units:
        wanted = scope.serials.get((unit.gtin, unit.lot))
        if wanted is None or unit.serial in wanted:
            serials_of[(unit.gtin, unit.lot)].append(unit.serial)
    stock = _stock(conn, depth, scope, units, system_of_record)
    if scope.serials:
        _, below = forward_closure(conn, scope.serials)
        for key in sorted(below & set(scope.serials)):
            notes.append(f"{key[0]}/{key[1]}: recalled by serial, and the lot also went into "
                         "other lots — recall those lots too if the units did")
    lots = _affected_lots(depth, parents, scope, states, lines, stock, serials_of)
    for lot in lots:
        if lot.status is None:
            notes.append(f"{lot.gtin}/{lot.lot}: no lot record in force (only seen as a "
                         "component, or its records were withdrawn)")
    finished = [lot for lot in lots if lot.role == "finished"]
    gtins = {gtin for gtin, _ in depth}
    products = master(conn, {"product": gtins})
    return Impact(
        scope_lots=[_label(k) for k in sorted(scope.starts)], lots=lots,
        products={g: _name(products.get(f"product/{g}", {})) for g in sorted(gtins)},
        finished_lots=[f"{lot.gtin}/{lot.lot}" for lot in finished],
        sub_assemblies=[f"{lot.gtin}/{lot.lot}" for lot in lots if lot.role == "sub-assembly"],
        serials=[f"{lot.gtin}/{s}" for lot in lots for s in lot.serials],
        stock=stock, customers=_customers(lines, parties),
        quantity_produced=round(sum(lot.quantity_produced or 0.0 for lot in finished), 6),
        quantity_in_stock=round(sum(lot.in_stock for lot in lots), 6),
        quantity_in_transit=round(sum(lot.in_transit for lot in lots), 6),
        quantity_in_distribution=round(sum(lot.in_distribution for lot in lots), 6),
        notes=notes)


def _name(attributes: Mapping[str, Any]) -> str | None:
    value = attributes.get("name")
    return None if value is None else str(value)


def _label(key: LotKey) -> str:
    return f"{key[0]}/{key[1]}"


def _shipment_rows(conn: Connection, whole: Mapping[LotKey, int], scope: ResolvedScope,
                   preferred: str) -> list[Any]:
    rows = q.shipment_rows(conn, whole, None) if whole else []
    for (gtin, _lot), serials in sorted(scope.serials.items()):
        for serial in sorted(serials):
            ssccs = q.containers(conn, f"{gtin}/{serial}", None)
            for row in q.serial_shipment_rows(conn, gtin, serial, ssccs, None):
                # A pallet line names the lot, not the unit: count the unit itself.
                rows.append(row if row.serial else row._replace(serial=serial, quantity=1.0))
    return system_of_record_rows(rows, preferred)


def _stock(conn: Connection, depth: Mapping[LotKey, int], scope: ResolvedScope,
           units: list[Any], preferred: str) -> list[StockAt]:
    out = [StockAt(gtin=h.gtin, lot=h.lot, location=h.location, quantity=round(h.quantity, 6),
                   uom=h.uom)
           for h in q.stock(conn, [k for k in depth if k not in scope.serials], None, preferred)
           if h.quantity > 1e-9]
    at: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for unit in units:
        wanted = scope.serials.get((unit.gtin, unit.lot))
        if wanted is not None and unit.serial in wanted and unit.status not in _GONE:
            at[(unit.gtin, unit.lot, unit.location or "unknown")].append(unit.serial)
    out += [StockAt(gtin=g, lot=n, location=loc, quantity=float(len(found)), uom="EA",
                    serials=sorted(found)) for (g, n, loc), found in sorted(at.items())]
    return out


def _affected_lots(depth: Mapping[LotKey, int], parents: set[LotKey], scope: ResolvedScope,
                   states: Mapping[LotKey, dict[str, Any]], lines: list[Line],
                   stock: list[StockAt], serials_of: Mapping[LotKey, list[str]]
                   ) -> list[AffectedLot]:
    figures: dict[LotKey, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for line in lines:
        f = figures[(line.gtin, line.lot)]
        quantity = line.quantity
        if line.returned:
            f["returned"] += quantity
        else:
            f["shipped"] += quantity
            if line.delivered_at is None:
                f["in_transit"] += quantity
    for held in stock:
        figures[(held.gtin, held.lot)]["in_stock"] += held.quantity
    out = []
    for key, level in sorted(depth.items(), key=lambda item: (item[1], item[0])):
        state = states.get(key) or {}
        f = figures[key]
        role = ("scope" if level == 0 else "sub-assembly" if key in parents else "finished")
        if level == 0 and key not in parents and state.get("origin") == "produced":
            role = "finished"
        out.append(AffectedLot(
            gtin=key[0], lot=key[1], role=role, depth=level, origin=state.get("origin"),
            status=state.get("status"), quantity_produced=state.get("quantity"),
            uom=state.get("uom"), manufactured=state.get("manufactured"),
            expiry=state.get("expiry"), in_stock=round(f["in_stock"], 6),
            in_transit=round(f["in_transit"], 6), shipped=round(f["shipped"], 6),
            returned=round(f["returned"], 6),
            in_distribution=round(f["shipped"] - f["returned"], 6),
            serials=sorted(serials_of.get(key, []))))
    return out


def _customers(lines: list[Line], parties: Mapping[str, Consignee]) -> list[CustomerImpact]:
    grouped: dict[str, list[Line]] = defaultdict(list)
    for line in lines:
        if line.party is not None:
            grouped[line.party].append(line)
    out = []
    for code in sorted(grouped):
        own = sorted(grouped[code], key=lambda x: (x.shipped_at, x.shipment, x.gtin, x.lot))
        sent = [x for x in own if not x.returned]
        times: list[datetime] = [x.shipped_at for x in (sent or own)]
        # Built without re-validation: every value comes from the projections just read.
        shipments = [Shipment.model_construct(
            shipment=x.shipment, kind="returned" if x.returned else "shipped",
            shipped_at=x.shipped_at, delivered_at=x.delivered_at, gtin=x.gtin, lot=x.lot,
            serials=sorted(x.serials), quantity=round(x.quantity, 6), uom=x.uom,
            in_transit=not x.returned and x.delivered_at is None) for x in own]
        out.append(CustomerImpact(
            consignee=parties.get(code) or Consignee(code=code),
            shipped=round(sum(x.quantity for x in sent), 6),
            returned=round(sum(x.quantity for x in own if x.returned), 6),
            in_transit=round(sum(x.quantity for x in sent if x.delivered_at is None), 6),
            first_shipped_at=min(times), last_shipped_at=max(times),
            lots=sorted({f"{x.gtin}/{x.lot}" for x in own}),
            serials=sorted({f"{x.gtin}/{serial}" for x in sent for serial in x.serials}),
            shipments=shipments))
    return out


class Line:
    """One lot in one shipment (a return is its own line), merged from its records."""

    __slots__ = ("delivered_at", "gtin", "lot", "party", "quantity", "returned", "serials",
                 "shipment", "shipped_at", "uom")

    def __init__(self, shipment: str, gtin: str, lot: str, returned: bool, at: datetime
                 ) -> None:
        self.shipment, self.gtin, self.lot, self.returned = shipment, gtin, lot, returned
        self.shipped_at = at
        self.delivered_at: datetime | None = None
        self.quantity = 0.0
        self.uom: str | None = None
        self.party: str | None = None
        self.serials: set[str] = set()


def merge_lines(rows: list[Any]) -> list[Line]:
    """Shipment records → one line per (shipment, gtin, lot, returned).

    Several records of a line (two pallets, one record per serial) add up their
    quantities and serials; a delivery confirmation only dates the line's arrival.
    """
    merged: dict[tuple[str, str, str, bool], Line] = {}
    times: dict[object, datetime] = {}
    delivered: list[tuple[tuple[str, str, str, bool], datetime, str | None]] = []
    for row in rows:
        at = times.get(row.event_time)
        if at is None:
            at = times[row.event_time] = q.at_utc(row.event_time) or datetime.min
        returned = row.kind == _RETURNED
        key = (row.shipment, row.gtin, row.lot, returned)
        if row.kind == _DELIVERED:
            delivered.append((key, at, row.party))
            continue
        line = merged.get(key)
        if line is None:
            line = merged[key] = Line(row.shipment, row.gtin, row.lot, returned, at)
        line.shipped_at = min(line.shipped_at, at)
        line.quantity += row.quantity or 0.0
        line.uom = line.uom or row.uom
        line.party = row.party or line.party
        if row.serial:
            line.serials.add(row.serial)
    for key, at, party in delivered:
        found = merged.get(key)
        if found is None:  # delivery confirmed, shipment record missing: still a shipment
            found = merged[key] = Line(key[0], key[1], key[2], False, at)
            found.party = party
        found.delivered_at = found.delivered_at or at
    return list(merged.values())
