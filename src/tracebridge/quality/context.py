"""The CEL input of a rule: an event plus the state of its lot, product, location and party.

State (a lot's status, stock at a location, complaints) is read *as of the event's time*,
from every valid fact the store knows when the rule runs: in the ingest transaction that
is what had arrived so far; in ``tracebridge rules test`` it is the full history, so a
dry run answers "knowing what we know now, was this lot released when it shipped?".
Checks about arrival order (duplicate serials, clock skew, the ERP/WMS difference's
counterpart times) compare only with facts that arrived *before* the event, so each
problem is reported once, by whichever record completes the pair.

Only the parts a rule set reads are built (``Needs``): a pack without an excursion rule
never sums stock per zone. Master data comes from a cache kept across batches while no
master record is added (``quality/master_cache.py``); lateness is measured against the
stream watermarks of ``quality/watermarks.py``; genealogy completeness, which the daily
rules read, is ``quality/completeness.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from tracebridge.dictionary.loader import load_dictionary
from tracebridge.dictionary.model import Dictionary
from tracebridge.domain.events import CanonicalEvent, EventKind
from tracebridge.domain.lot_status import STATUS_CHANGING_KINDS
from tracebridge.quality.master_cache import MasterCache
from tracebridge.quality.service import SOURCE_SYSTEM
from tracebridge.quality.watermarks import Watermarks, watermark_key
from tracebridge.rules.evaluation import CompiledRule, Lazy
from tracebridge.rules.inputs import absent_lot, event_input
from tracebridge.store import master_data
from tracebridge.store import tables as t
from tracebridge.store.driver import Statement, as_utc
from tracebridge.store.event_log import StoredEvent
from tracebridge.store.facts import shipment_number
from tracebridge.store.projections import lot_state

ORIGIN_KINDS = frozenset({"received", "produced", "opening_balance"})
_ORIGIN_OF = {"received": "received", "produced": "produced", "opening_balance": "opening_balance"}
# Facts both systems report about the same physical step: their times must agree.
COUNTERPART_KINDS = frozenset({"received", "produced", "shipped", "scrapped", "consumed"})
COUNTERPART_WINDOW = timedelta(hours=12)
# Lot fields a lot-creating event carries, by data-dictionary field name.
EVENT_LOT_FIELDS = {"expiry_date": "expiry", "manufacture_date": "manufactured",
                    "quantity": "quantity"}
LOT_CREATING = frozenset({EventKind.PRODUCED, EventKind.RECEIVED, EventKind.OPENING_BALANCE})
HOLD_STATUSES = frozenset({"hold"})
_NOT_YET_STORED = sys.maxsize  # the sequence number of a fact its batch has yet to store


@dataclass(frozen=True)
class Needs:
    """Which inputs a rule set reads: top-level variables and ``checks.*`` names."""

    variables: frozenset[str]
    checks: frozenset[str]
    lot_fields: frozenset[str] = frozenset()  # fields read on ``lot`` (empty: all)

    @classmethod
    def of(cls, rules: Iterable[CompiledRule]) -> Needs:
        rules = list(rules)
        readers = [r for r in rules if "lot" in r.variables]
        whole = any(not r.fields.get("lot") for r in readers)
        return cls(
            variables=frozenset().union(*(r.variables for r in rules)),
            checks=frozenset().union(*(r.checks for r in rules)),
            lot_fields=frozenset() if whole else frozenset().union(
                *(r.fields["lot"] for r in readers)),
        )


class ContextBuilder:
    def __init__(self, conn: Connection, *, defaults: dict[str, Any],
                 watermarks: Watermarks, dictionary: Dictionary | None = None,
                 masters: MasterCache | None = None) -> None:
        self.conn = conn
        self.defaults = defaults
        self.watermarks = watermarks
        self.dictionary = dictionary or load_dictionary()
        self.masters = (masters or MasterCache()).snapshot(conn)
        self._required: dict[tuple[str, bool, str], list[tuple[str, str]]] = {}
        self._pending_unit_holds: set[tuple[str, str]] = set()  # (gtin, serial)
        self._facts: dict[tuple[str, str], list[_Fact]] = {}
        # shipped lines per (shipment, gtin, lot), read per batch for its shipments
        self._lines: dict[tuple[str, str, str], list[_Line]] = {}
        self._shipments_read: set[str] = set()

    # ---------------------------------------------------------------- whole input

    def build(self, item: StoredEvent, *, stream: str, needs: Needs) -> dict[str, Any]:
        event = item.event
        seq = item.seq
        as_of = (seq, event.event_time)
        shipment = shipment_number(event) if event.kind is EventKind.SHIPPED else None
        inputs: dict[str, Any] = {}
        if "event" in needs.variables:  # most events trigger only rules that read checks
            inputs["event"] = event_input(event, seq=seq, shipment=shipment)
        first = event.lots[0] if event.lots else (event.inputs[0] if event.inputs else None)
        if "lot" in needs.variables:
            inputs["lot"] = (self.lot(first.gtin, first.lot, as_of, event.event_time,
                                      fields=needs.lot_fields) if first else absent_lot())
        if "inputs" in needs.variables:
            inputs["inputs"] = [self.lot(r.gtin, r.lot, as_of, event.event_time)
                                for r in event.inputs]
        if "product" in needs.variables:
            inputs["product"] = self.product(first.gtin if first else None)
        if "location" in needs.variables:
            inputs["location"] = self.location(event.biz_location)
        if "stock" in needs.variables:
            place = event.biz_location
            inputs["stock"] = Lazy(lambda: self.stored_lots(place, as_of))
        if "party" in needs.variables:
            inputs["party"] = self.party(event.destination_party or event.source_party)
        if "checks" in needs.variables:
            inputs["checks"] = self.checks(item, stream=stream, wanted=needs.checks,
                                           shipment=shipment)
        return inputs

    # ---------------------------------------------------------------- lot state

    def prefetch(self, stored: Sequence[StoredEvent]) -> None:
        """Load the state facts of every lot a batch names, a few queries for the batch."""
        wanted: dict[str, set[str]] = {}
        for item in stored:
            for ref in (*item.event.lots, *item.event.inputs):
                if (ref.gtin, ref.lot) not in self._facts:
                    wanted.setdefault(ref.gtin, set()).add(ref.lot)
        for gtin, lots in wanted.items():
            names = sorted(lots)
            for start in range(0, len(names), 900):
                part = names[start : start + 900]
                for name in part:
                    self._facts[(gtin, name)] = []
                for row in _STATE_FACTS.rows(self.conn, gtin=gtin, lots=part):
                    self._facts[(row[0], row[1])].append(_Fact.of(row))
        self._read_shipments(shipment_number(s.event) for s in stored
                             if s.event.kind is EventKind.SHIPPED)

    def note_hold(self, gtin: str, lot: str, at: datetime,
                  serials: Iterable[str] = ()) -> None:
        """A rule held the lot (or ``serials`` of it); the hold is stored with the batch's
        other decisions at its end, and the batch's later events must see it already."""
        if serials:
            self._pending_unit_holds.update((gtin, s) for s in serials)
            return
        facts = self.state_facts(gtin, lot)
        facts.append(_Fact(gtin, lot, "subject", EventKind.HELD.value, None, None, None, None,
                           None, SOURCE_SYSTEM, None, None, at, _NOT_YET_STORED))
        facts.sort(key=lambda f: (f.event_time, f.event_seq))

    def state_facts(self, gtin: str, lot: str) -> list[_Fact]:
        """The lot's origin and status facts, in event-time order (cached)."""
        if (gtin, lot) not in self._facts:
            rows = _STATE_FACTS.rows(self.conn, gtin=gtin, lots=[lot])
            self._facts[(gtin, lot)] = [_Fact.of(row) for row in rows]
        return self._facts[(gtin, lot)]

    def lot(self, gtin: str, lot: str, as_of: tuple[int, datetime], at: datetime,
            *, fields: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The lot's state at ``at``; ``fields`` (when given) limits the costly parts."""
        facts = [f for f in self.state_facts(gtin, lot) if f.event_time <= at]
        if not facts:
            return {**absent_lot(), "gtin": gtin, "lot": lot}
        state = lot_state((gtin, lot), facts)
        expiry = state["expiry"]
        days = (date.fromisoformat(expiry) - at.date()).days if expiry else None
        return {
            "present": True,
            "gtin": gtin,
            "lot": lot,
            "status": state["status"],
            "origin": state["origin"],
            "expiry": expiry,
            "manufactured": state["manufactured"],
            "days_to_expiry": days,
            "failed_incoming": (self._failed_incoming(gtin, lot, as_of)
                                if not fields or "failed_incoming" in fields else None),
            "on_hold": state["status"] in HOLD_STATUSES,
        }

    def _failed_incoming(self, gtin: str, lot: str, as_of: tuple[int, datetime]) -> bool:
        return _FAILED_INCOMING.first(self.conn, gtin=gtin, lot=lot, at=as_of[1]) is not None

    # ---------------------------------------------------------------- master data

    def _master(self, entity: str, key: str | None) -> dict[str, Any]:
        if key is None:
            return {}
        entries = self.masters.entries
        if (entity, key) not in entries:
            found = master_data.current(self.conn, entity, [key])
            entries[(entity, key)] = found.get(key, {})
        return entries[(entity, key)]

    def product(self, gtin: str | None) -> dict[str, Any]:
        attrs = self._master("product", gtin) or self._master("material", gtin)
        return {
            "present": bool(attrs),
            "gtin": gtin,
            "name": attrs.get("name"),
            "sterile": bool(attrs.get("sterile", False)),
            "serialised": bool(attrs.get("serialised", False)),
            "device_class": attrs.get("device_class"),
            "shelf_life_months": attrs.get("shelf_life_months"),
        }

    def party(self, key: str | None) -> dict[str, Any]:
        attrs = self._master("party", key)
        minimum = attrs.get("min_remaining_shelf_life_days",
                            self.defaults.get("default_min_remaining_shelf_life_days", 0))
        return {
            "key": key,
            "name": attrs.get("name"),
            "party_type": attrs.get("party_type"),
            "min_remaining_shelf_life_days": int(minimum),
        }

    def location(self, key: str | None) -> dict[str, Any]:
        attrs = self._master("location", key)
        limits = {name: float(attrs.get(name, self.defaults.get(name, 0.0)))
                  for name in ("temperature_min", "temperature_max", "humidity_max")}
        return {"key": key, "zone": _zone(key, attrs), **limits}

    def stored_lots(self, key: str | None, as_of: tuple[int, datetime]) -> list[dict[str, Any]]:
        """Lots with stock at ``key`` — or at any bin of its zone — at the event's time."""
        zone = _zone(key, self._master("location", key))
        places = [key] if key else []
        if zone:
            places += self._zone_bins().get(zone, [])
        return self._stored_lots(places, as_of)

    def _zone_bins(self) -> dict[str, list[str]]:
        if self.masters.zones is None:
            m = t.master_record.c
            zones: dict[str, list[str]] = {}
            rows = self.conn.execute(select(m.key, m.attributes).where(m.entity == "location"))
            for key, attrs in rows:
                zone = (attrs or {}).get("zone")
                if zone and key not in zones.get(zone, []):
                    zones.setdefault(zone, []).append(key)
            self.masters.zones = zones
        return self.masters.zones

    def _stored_lots(self, places: list[str], as_of: tuple[int, datetime]) -> list[dict[str, Any]]:
        if not places:
            return []
        rows = _STORED_LOTS.rows(self.conn, places=places, at=as_of[1])
        return [{"gtin": g, "lot": lot, "quantity": float(q)}
                for g, lot, q in rows]

    # ---------------------------------------------------------------- checks

    def checks(self, item: StoredEvent, *, stream: str, wanted: frozenset[str],
               shipment: str | None) -> dict[str, Any]:
        event, as_of = item.event, (item.seq, item.event.event_time)
        out: dict[str, Any] = {
            "duplicate_serials": [], "held_serials": [], "missing_fields": [],
            "erp_wms_difference": None,
            "counterpart_minutes": None, "predecessor_minutes": None, "lateness_hours": 0.0,
            "complaint_ages_days": [], "completeness": 1.0, "gaps": [],
        }
        first = event.lots[0] if event.lots else None
        if "duplicate_serials" in wanted and event.kind in LOT_CREATING:
            out["duplicate_serials"] = self._duplicate_serials(event, as_of)
        if "held_serials" in wanted and any(ref.serials for ref in event.lots):
            out["held_serials"] = self._held_serials(item)
        if "missing_fields" in wanted and event.kind in LOT_CREATING:
            out["missing_fields"] = self._missing_fields(event)
        if "erp_wms_difference" in wanted and shipment and first:
            out["erp_wms_difference"] = self._difference(shipment, first.gtin, first.lot, item.seq)
        if ("counterpart_minutes" in wanted and (event.lots or event.inputs)
                and event.kind.value in COUNTERPART_KINDS):
            out["counterpart_minutes"] = self._counterpart(item, shipment)
        if "predecessor_minutes" in wanted and first:
            out["predecessor_minutes"] = self._out_of_sequence(item)
        if "lateness_hours" in wanted:
            out["lateness_hours"] = round(self.watermarks.lateness_hours(
                watermark_key(event, stream), event.event_time, item.record_time), 3)
        if "complaint_ages_days" in wanted and first:
            out["complaint_ages_days"] = self._complaint_ages(first.gtin, first.lot, item)
        return out

    def _duplicate_serials(self, event: CanonicalEvent, as_of: tuple[int, datetime]) -> list[str]:
        found: set[str] = set()
        for ref in event.lots:
            serials = list(ref.serials)
            for start in range(0, len(serials), 450):
                found.update(str(x) for x in _OTHER_LOT_SERIALS.scalars(
                    self.conn, gtin=ref.gtin, lot=ref.lot, seq=as_of[0],
                    serials=serials[start : start + 450]))
        return sorted(found)

    def _held_serials(self, item: StoredEvent) -> list[str]:
        """The event's units on hold when it happened (their last hold not released).

        A hold a source system reported counts from its event time. A hold TraceBridge
        decided (a person's or a rule's) is stamped with the time it was decided, which on
        a replayed or delayed feed is long after the goods moved: it counts for every
        record that arrived after it — the unit was blocked when the pick was reported.
        """
        event = item.event
        held: set[str] = set()
        for ref in event.lots:
            serials = list(ref.serials)
            for start in range(0, len(serials), 450):
                state: dict[str, bool] = {}
                for serial, kind in _UNIT_HOLD_FACTS.rows(
                        self.conn, gtin=ref.gtin, at=event.event_time, seq=item.seq,
                        own=SOURCE_SYSTEM, serials=serials[start : start + 450]):
                    state[str(serial)] = kind == EventKind.HELD.value
                held.update(s for s, on_hold in state.items() if on_hold)
            held.update(s for s in serials if (ref.gtin, s) in self._pending_unit_holds)
        return sorted(held)

    def _missing_fields(self, event: CanonicalEvent) -> list[str]:
        missing: set[str] = set()
        origin = _ORIGIN_OF[event.kind.value]
        for ref in event.lots:
            sterile = self.product(ref.gtin)["sterile"]
            for name, attribute in self._required_lot_fields(origin, sterile,
                                                             event.source.system):
                if getattr(ref, attribute) in (None, "") and not (
                    attribute == "quantity" and ref.serials
                ):
                    missing.add(name)
        return sorted(missing)

    def _required_lot_fields(self, origin: str, sterile: bool,
                             system: str) -> list[tuple[str, str]]:
        """(dictionary field, event attribute) a lot-creating event of ``system`` must carry
        — only the system of record must carry a field (memoised: few combinations)."""
        key = (origin, sterile, system)
        if key not in self._required:
            context = {"origin": origin, "product.sterile": sterile}
            self._required[key] = [
                (name, EVENT_LOT_FIELDS[name])
                for name in self.dictionary.required_fields("lot", context)
                if name in EVENT_LOT_FIELDS
                and self.dictionary.source_of_truth("lot", name) in ("", None, system)
            ]
        return self._required[key]

    def _difference(self, shipment: str, gtin: str, lot: str, seq: int) -> float | None:
        """ERP minus WMS quantity of one shipment and lot, reported by its last line only.

        Both systems may send a shipment in several lines; comparing at every line would
        report a difference that the next line closes. The line that arrived last (so
        far) compares the full sums.
        """
        lines = self._shipped_lines(shipment, gtin, lot)
        per_system: dict[str, float] = {}
        for line in lines:
            per_system[line.system] = per_system.get(line.system, 0.0) + line.quantity
        last = max((line.seq for line in lines), default=None)
        if last != seq or "erp" not in per_system or "wms" not in per_system:
            return None
        return round(per_system["erp"] - per_system["wms"], 6)

    def _shipped_lines(self, shipment: str, gtin: str, lot: str) -> list[_Line]:
        """The valid shipped lines of one shipment and lot, every system's (cached)."""
        if shipment not in self._shipments_read:
            self._read_shipments([shipment])
        return self._lines.get((shipment, gtin, lot), [])

    def _read_shipments(self, shipments: Iterable[str]) -> None:
        wanted = sorted(set(shipments) - self._shipments_read)
        for start in range(0, len(wanted), 900):
            part = wanted[start : start + 900]
            self._shipments_read.update(part)
            for shipment, gtin, lot, system, quantity, seq, time in _SHIPPED_LINES.rows(
                    self.conn, shipments=part):
                self._lines.setdefault((shipment, gtin, lot), []).append(_Line(
                    str(system), float(quantity or 0.0), int(seq), as_utc(time)))

    def _counterpart(self, item: StoredEvent, shipment: str | None) -> float | None:
        event = item.event
        ref = (event.lots or event.inputs)[0]
        found: list[datetime | None]
        if shipment is not None:  # the other system's lines of it that arrived before
            found = [line.time for line in self._shipped_lines(shipment, ref.gtin, ref.lot)
                     if line.system != event.source.system and line.seq < item.seq]
        else:
            params: dict[str, Any] = {"gtin": ref.gtin, "lot": ref.lot,
                                      "system": event.source.system, "seq": item.seq}
            if event.kind is EventKind.CONSUMED:
                query, params["work_order"] = _COUNTERPART_ISSUE, event.work_order or ""
            else:
                query, params["kind"] = _COUNTERPART, event.kind.value
            found = [as_utc(y) for y in query.scalars(self.conn, **params)]
        # A lot scrapped (or received) twice gives two steps: a record half a day or more
        # from the other system's is the record of another step, not a skewed clock.
        times = [x for x in found
                 if x is not None and abs(event.event_time - x) <= COUNTERPART_WINDOW]
        if not times:
            return None
        nearest = min(times, key=lambda x: abs((event.event_time - x).total_seconds()))
        return round((event.event_time - nearest).total_seconds() / 60, 3)

    def _out_of_sequence(self, item: StoredEvent) -> float | None:
        """Minutes by which the event lies on the wrong side of its lot's origin event.

        A lot's receipt, production or opening balance comes before anything else the same
        system reports about it; an event earlier than its origin (or an origin later than
        an event already stored) shows a clock that is off.
        """
        event = item.event
        ref = event.lots[0]
        is_origin = event.kind.value in ORIGIN_KINDS
        other: datetime | None
        if is_origin:
            params = {"gtin": ref.gtin, "lot": ref.lot, "system": event.source.system,
                      "seq": item.seq}
            other = as_utc(_FIRST_OTHER.scalar(self.conn, **params))
        else:
            other = max((f.event_time for f in self.state_facts(ref.gtin, ref.lot)
                         if f.kind in ORIGIN_KINDS and f.role != "input"
                         and f.source_system == event.source.system and f.event_seq < item.seq),
                        default=None)
        if other is None:
            return None
        gap = (other - event.event_time) if not is_origin else (event.event_time - other)
        return round(gap.total_seconds() / 60, 3)

    def _complaint_ages(self, gtin: str, lot: str, item: StoredEvent) -> list[float]:
        ages = [(item.event.event_time - as_utc(x)).total_seconds() / 86400  # type: ignore[operator]
                for x in _COMPLAINT_TIMES.scalars(self.conn, gtin=gtin, lot=lot,
                                                  at=item.event.event_time)]
        return sorted(round(a, 3) for a in ages if a >= 0)


_STATE_KINDS = "({})".format(", ".join(
    f"'{k}'" for k in sorted({*ORIGIN_KINDS, *(k.value for k in STATUS_CHANGING_KINDS)})))
# Hot paths are driver-level statements rendered once (``store.driver``): composing and
# running SQLAlchemy expressions per event cost more than the reads themselves.
_STATE_FACTS = Statement(
    "SELECT gtin, lot, role, kind, quantity, uom, manufactured, expiry, party, source_system,"
    " supplier_lot, work_order, event_time, event_seq FROM lot_event WHERE gtin = :gtin"
    # Only what a lot's status and dates come from (origin and status events), through
    # the (gtin, lot, kind) index: a lot shipped in a thousand lines must not cost a
    # thousand rows per rule evaluation.
    f" AND lot IN :lots AND kind IN {_STATE_KINDS} AND retracted_at IS NULL"
    " ORDER BY gtin, lot, event_time, event_seq",
    lists=("lots",),
)


@dataclass(frozen=True, slots=True)
class _Fact:
    """One origin or status fact of a lot (the columns ``lot_state`` folds)."""

    gtin: str
    lot: str
    role: str
    kind: str
    quantity: float | None
    uom: str | None
    manufactured: str | None
    expiry: str | None
    party: str | None
    source_system: str
    supplier_lot: str | None
    work_order: str | None
    event_time: datetime
    event_seq: int

    @classmethod
    def of(cls, row: Sequence[Any]) -> _Fact:
        """From a ``_STATE_FACTS`` driver row (columns in that statement's order)."""
        time = as_utc(row[12])
        assert time is not None
        return cls(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                   row[9], row[10], row[11], time, int(row[13]))


_FAILED_INCOMING = Statement(
    "SELECT 1 FROM inspection_fact WHERE gtin = :gtin AND lot = :lot AND stage = 'incoming'"
    " AND result = 'fail' AND event_time <= :at AND retracted_at IS NULL",
    times=("at",),
)
_STORED_LOTS = Statement(
    "SELECT gtin, lot, SUM(delta) FROM stock_move WHERE location IN :places"
    " AND event_time <= :at AND retracted_at IS NULL GROUP BY gtin, lot"
    " HAVING SUM(delta) > 0.000000001 ORDER BY gtin, lot",
    lists=("places",), times=("at",),
)
_SHIPPED_LINES = Statement(
    "SELECT shipment, gtin, lot, source_system, quantity, event_seq, event_time"
    " FROM shipment_line WHERE shipment IN :shipments AND kind = 'shipped'"
    " AND retracted_at IS NULL",
    lists=("shipments",),
)


@dataclass(frozen=True, slots=True)
class _Line:
    """One valid shipped line of a shipment and lot, as one system reported it."""

    system: str
    quantity: float
    seq: int
    time: datetime | None


_COUNTERPART = Statement(
    "SELECT event_time FROM lot_event WHERE gtin = :gtin AND lot = :lot AND kind = :kind"
    " AND role <> 'input' AND source_system <> :system AND event_seq < :seq"
    " AND retracted_at IS NULL"
)
_COUNTERPART_ISSUE = Statement(
    "SELECT event_time FROM lot_event WHERE gtin = :gtin AND lot = :lot"
    " AND kind = 'consumed' AND role = 'input' AND work_order = :work_order"
    " AND source_system <> :system AND event_seq < :seq AND retracted_at IS NULL"
)
# Only movements of the lot's stock: a work order's process steps and in-process
# inspections happen to the output lot before its goods receipt, and are no skew.
_MOVEMENTS = "('moved', 'consumed', 'picked', 'shipped', 'scrapped', 'stock_adjusted', 'returned')"
_FIRST_OTHER = Statement(
    "SELECT MIN(event_time) FROM lot_event WHERE gtin = :gtin AND lot = :lot"
    f" AND role <> 'input' AND kind IN {_MOVEMENTS} AND source_system = :system"
    " AND event_seq < :seq AND retracted_at IS NULL"
)
# Serials of this GTIN that had arrived in another lot before the event did.
_OTHER_LOT_SERIALS = Statement(
    "SELECT serial FROM serial_fact WHERE gtin = :gtin AND serial IN :serials"
    " AND lot <> :lot AND event_seq < :seq AND retracted_at IS NULL",
    lists=("serials",),
)
# Holds and releases of single units, in force at the event's time, in time order.
_UNIT_HOLD_FACTS = Statement(
    "SELECT f.serial, f.kind FROM serial_fact f JOIN event e ON e.seq = f.event_seq"
    " WHERE f.gtin = :gtin AND f.serial IN :serials AND f.kind IN ('held', 'hold_released')"
    " AND f.retracted_at IS NULL AND ((e.source_system = :own AND f.event_seq < :seq)"
    " OR (e.source_system <> :own AND f.event_time <= :at))"
    " ORDER BY f.event_seq",
    lists=("serials",), times=("at",),
)
# Complaints about the lot in force at the event's time.
_COMPLAINT_TIMES = Statement(
    "SELECT event_time FROM quality_fact WHERE gtin = :gtin AND lot = :lot"
    " AND kind = 'complaint_received' AND event_time <= :at AND retracted_at IS NULL",
    times=("at",),
)


def _zone(key: str | None, attrs: dict[str, Any]) -> str | None:
    zone = attrs.get("zone")
    if zone:
        return str(zone)
    return key[5:] if key and key.startswith("ZONE-") else None  # a WMS zone reads as ZONE-xx
