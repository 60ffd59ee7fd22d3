"""The CEL input of a rule: an event plus the state of its lot, product, location and party.

State (a lot's status, stock at a location, complaints) is read *as of the event's time*,
from every valid fact the store knows when the rule runs: in the ingest transaction that
is what had arrived so far; in ``tracebridge rules test`` it is the full history, so a
dry run answers "knowing what we know now, was this lot released when it shipped?".
Checks about arrival order (duplicate serials, clock skew, the ERP/WMS difference's
counterpart times) compare only with facts that arrived *before* the event, so each
problem is reported once, by whichever record completes the pair.

Only the parts a rule set reads are built (``Needs``): a pack without an excursion rule
never sums stock per zone. Master data is cached for the builder's lifetime (one
reaction call or one dry run).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select, text

from tracebridge.dictionary.loader import load_dictionary
from tracebridge.dictionary.model import Dictionary
from tracebridge.domain.events import CanonicalEvent, EventKind
from tracebridge.domain.lot_status import STATUS_CHANGING_KINDS
from tracebridge.quality.service import SOURCE_SYSTEM
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


class Watermarks:
    """The latest event time seen per (source system, stream, subject); lateness is
    measured to it.

    A batch import's record time is hours or months after every event in it, so record
    time alone would call everything late. A record is late when records about the same
    subject (its lot, or the location of a reading) from the same stream had already
    arrived with times well after it — or, for a live feed, when it is recorded long
    after it happened. Streams are not time-ordered as a whole (an ERP exports inspection
    results by inspection lot), which is why the subject is part of the key.
    """

    def __init__(self, conn: Connection | None = None) -> None:
        self.conn = conn  # None: in memory only (a dry run)
        self.marks: dict[tuple[str, str, str], datetime | None] = {}
        self.stored: set[tuple[str, str, str]] = set()  # keys that have a row already
        self.changed: set[tuple[str, str, str]] = set()

    def _get(self, key: tuple[str, str, str]) -> datetime | None:
        if key not in self.marks:
            found = None
            if self.conn is not None:
                found = _WATERMARK.scalar(self.conn, **dict(zip(_KEY, key, strict=True)))
            self.marks[key] = as_utc(found)
            if found is not None:
                self.stored.add(key)
        return self.marks[key]

    def prefetch(self, keys: set[tuple[str, str, str]]) -> None:
        """Read the marks of a batch's keys in a few queries instead of one per key."""
        if self.conn is None:
            return
        streams: dict[tuple[str, str], list[str]] = {}
        for key in sorted(k for k in keys if k not in self.marks):
            self.marks[key] = None
            streams.setdefault(key[:2], []).append(key[2])
        for (system, stream), subjects in streams.items():
            for start in range(0, len(subjects), 900):
                rows = _WATERMARKS.rows(self.conn, system=system, stream=stream,
                                        subjects=subjects[start : start + 900])
                for subject, high in rows:
                    self.marks[(system, stream, subject)] = as_utc(high)
                    self.stored.add((system, stream, subject))

    def lateness_hours(self, key: tuple[str, str, str], event_time: datetime,
                       record_time: datetime) -> float:
        mark = self._get(key)
        reference = record_time if mark is None else min(record_time, mark)
        if mark is None and record_time - event_time > timedelta(days=_LIVE_HORIZON_DAYS):
            reference = event_time  # a first record of history taken over in bulk
        return max(0.0, (reference - event_time).total_seconds() / 3600)

    def advance(self, key: tuple[str, str, str], event_time: datetime) -> None:
        mark = self._get(key)
        if mark is None or event_time > mark:
            self.marks[key] = event_time
            self.changed.add(key)

    def save(self, conn: Connection) -> None:
        w = t.rule_watermark
        new = [key for key in sorted(self.changed) if key not in self.stored]
        moved = [key for key in sorted(self.changed) if key in self.stored]
        if new:
            conn.execute(w.insert(), [{**dict(zip(_KEY, key, strict=True)),
                                       "high_water": self.marks[key]} for key in new])
            self.stored.update(new)
        if moved:
            statement = w.update().where(
                w.c.source_system == bindparam("k_system"), w.c.stream == bindparam("k_stream"),
                w.c.subject == bindparam("k_subject"),
            ).values(high_water=bindparam("k_high"))
            conn.execute(statement, [{"k_system": k[0], "k_stream": k[1], "k_subject": k[2],
                                      "k_high": self.marks[k]} for k in moved])
        self.changed.clear()


def watermark_key(event: CanonicalEvent, stream: str) -> tuple[str, str, str]:
    refs = event.lots or event.inputs
    subject = f"{refs[0].gtin}/{refs[0].lot}" if refs else f"@{event.biz_location or ''}"
    return (event.source.system, stream, subject)


def streams_of(conn: Connection, seqs: Sequence[int]) -> dict[int, str]:
    """The raw record type (export stream) each event came from; events of our own: mapping."""
    out: dict[int, str] = {}
    for start in range(0, len(seqs), 900):
        rows = _STREAMS.rows(conn, seqs=list(seqs[start : start + 900]))
        out.update({int(seq): str(stream) for seq, stream in rows})
    return out


@dataclass
class MasterSnapshot:
    """Master data as of one state of the (append-only) master table."""

    token: tuple[Any, ...]
    entries: dict[tuple[str, str], dict[str, Any]]
    zones: dict[str, list[str]] | None = None


class MasterCache:
    """Current master data as rules read it, kept across batches.

    Master records are append-only, so the row count and highest id change exactly
    when a version is added: one cheap read per batch tells whether the cached snapshot
    still holds, instead of a read per product, party and location per batch. A
    transaction that sees another state gets a snapshot of its own.
    """

    def __init__(self) -> None:
        self._latest: MasterSnapshot | None = None

    def snapshot(self, conn: Connection) -> MasterSnapshot:
        token = tuple(_MASTER_TOKEN.first(conn) or ())
        latest = self._latest
        if latest is None or latest.token != token:
            latest = self._latest = MasterSnapshot(token, {})
        return latest


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
            out["held_serials"] = self._held_serials(event)
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

    def _held_serials(self, event: CanonicalEvent) -> list[str]:
        """The event's units on hold at its time (their last hold not released yet)."""
        held: set[str] = set()
        for ref in event.lots:
            serials = list(ref.serials)
            for start in range(0, len(serials), 450):
                state: dict[str, bool] = {}
                for serial, kind in _UNIT_HOLD_FACTS.rows(
                        self.conn, gtin=ref.gtin, at=event.event_time,
                        serials=serials[start : start + 450]):
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
        rows = _SHIPPED_PER_SYSTEM.rows(self.conn, shipment=shipment, gtin=gtin, lot=lot)
        per_system = {str(system): float(q or 0.0) for system, q, _ in rows}
        last = max((int(m) for _, _, m in rows if m is not None), default=None)
        if last != seq or "erp" not in per_system or "wms" not in per_system:
            return None
        return round(per_system["erp"] - per_system["wms"], 6)

    def _counterpart(self, item: StoredEvent, shipment: str | None) -> float | None:
        event = item.event
        ref = (event.lots or event.inputs)[0]
        params: dict[str, Any] = {"gtin": ref.gtin, "lot": ref.lot,
                                  "system": event.source.system, "seq": item.seq}
        if shipment is not None:
            query, params["shipment"] = _COUNTERPART_SHIPPED, shipment
        elif event.kind is EventKind.CONSUMED:
            query, params["work_order"] = _COUNTERPART_ISSUE, event.work_order or ""
        else:
            query, params["kind"] = _COUNTERPART, event.kind.value
        # A lot scrapped (or received) twice gives two steps: a record half a day or more
        # from the other system's is the record of another step, not a skewed clock.
        times = [x for x in (as_utc(y) for y in query.scalars(self.conn, **params))
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


_KEY = ("source_system", "stream", "subject")
_LIVE_HORIZON_DAYS = 2  # older than this at first sight: history, not a live record
_STREAMS = Statement(
    "SELECT e.seq, COALESCE(r.record_type, e.mapping_id) FROM event e"
    " LEFT OUTER JOIN raw_record r ON r.id = e.raw_record_id WHERE e.seq IN :seqs",
    lists=("seqs",),
)
_WATERMARKS = Statement(
    "SELECT subject, high_water FROM rule_watermark WHERE source_system = :system"
    " AND stream = :stream AND subject IN :subjects",
    lists=("subjects",),
)
_MASTER_TOKEN = Statement("SELECT COUNT(*), MAX(id) FROM master_record")
_WATERMARK = Statement(
    "SELECT high_water FROM rule_watermark WHERE source_system = :source_system"
    " AND stream = :stream AND subject = :subject"
)
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
_SHIPPED_PER_SYSTEM = Statement(
    "SELECT source_system, SUM(quantity), MAX(event_seq) FROM shipment_line"
    " WHERE shipment = :shipment AND gtin = :gtin AND lot = :lot AND kind = 'shipped'"
    " AND retracted_at IS NULL GROUP BY source_system"
)
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
_COUNTERPART_SHIPPED = Statement(
    "SELECT event_time FROM shipment_line WHERE shipment = :shipment AND gtin = :gtin"
    " AND lot = :lot AND kind = 'shipped' AND source_system <> :system AND event_seq < :seq"
    " AND retracted_at IS NULL"
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
    "SELECT serial, kind FROM serial_fact WHERE gtin = :gtin AND serial IN :serials"
    " AND kind IN ('held', 'hold_released') AND event_time <= :at AND retracted_at IS NULL"
    " ORDER BY event_time, event_seq",
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


# ---------------------------------------------------------------- genealogy completeness

_EDGES_IN = text(
    "SELECT DISTINCT in_gtin, in_lot FROM genealogy_edge WHERE out_gtin = :gtin"
    " AND out_lot = :lot AND in_retracted_at IS NULL AND out_retracted_at IS NULL"
)
_LOT_FLAGS = text(
    "SELECT l.origin, l.status,"
    " (SELECT COUNT(*) FROM lot_event e WHERE e.gtin = l.gtin AND e.lot = l.lot"
    "  AND e.kind = 'released' AND e.retracted_at IS NULL) AS releases,"
    " (SELECT COUNT(*) FROM inspection_fact i WHERE i.gtin = l.gtin AND i.lot = l.lot"
    "  AND i.stage = 'incoming' AND i.retracted_at IS NULL) AS incoming"
    " FROM lot l WHERE l.gtin = :gtin AND l.lot = :lot"
)


@dataclass(frozen=True)
class Completeness:
    """How much of a lot's backward chain the store can prove, and what is missing."""

    gtin: str
    lot: str
    score: float  # passed checks / checks, 1.0 = complete
    checks: int
    gaps: tuple[str, ...]  # e.g. "no-release", "no-incoming-inspection:gtin/lot"

    def as_dict(self) -> dict[str, Any]:
        return {"gtin": self.gtin, "lot": self.lot, "score": self.score,
                "checks": self.checks, "gaps": list(self.gaps)}


def lot_completeness(conn: Connection, gtin: str, lot: str) -> Completeness:
    """Walk the lot's genealogy backwards and check every link an auditor asks for.

    The lot itself must be released (or an opening balance). Every produced lot on the
    way must have recorded inputs. Every leaf must be a supplier lot (received) with an
    incoming inspection, or an opening balance, whose history predates the system.
    """
    checks, gaps = 0, []
    flags = conn.execute(_LOT_FLAGS, {"gtin": gtin, "lot": lot}).first()
    if flags is None:
        return Completeness(gtin, lot, 0.0, 1, ("unknown-lot",))
    checks += 1
    if flags.origin != "opening_balance" and not flags.releases:
        gaps.append("no-release")
    seen: set[tuple[str, str]] = set()
    todo = [(gtin, lot)]
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        parents = [(g, x) for g, x in conn.execute(_EDGES_IN, {"gtin": key[0], "lot": key[1]})]
        info = conn.execute(_LOT_FLAGS, {"gtin": key[0], "lot": key[1]}).first()
        origin = info.origin if info is not None else "unknown"
        label = f"{key[0]}/{key[1]}"
        checks += 1
        if origin == "produced":
            if not parents:
                gaps.append(f"no-inputs:{label}")
        elif origin == "received" and info is not None:
            checks += 1
            if not info.incoming:
                gaps.append(f"no-incoming-inspection:{label}")
        elif origin != "opening_balance":
            gaps.append(f"no-origin:{label}")  # seen only in passing: never received or made
        todo.extend(parents)
    score = round((checks - len(gaps)) / checks, 4) if checks else 0.0
    return Completeness(gtin, lot, score, checks, tuple(gaps))


def finished_lots(conn: Connection) -> list[tuple[str, str]]:
    """Produced lots that no later work order consumed (finished goods; an opening balance
    is complete by definition, its history predates the system)."""
    query = text(
        "SELECT l.gtin, l.lot FROM lot l WHERE l.origin = 'produced'"
        " AND NOT EXISTS (SELECT 1 FROM material_flow m WHERE m.gtin = l.gtin"
        " AND m.lot = l.lot AND m.direction = 'in' AND m.retracted_at IS NULL)"
        " ORDER BY l.gtin, l.lot"
    )
    return [(str(g), str(x)) for g, x in conn.execute(query)]
