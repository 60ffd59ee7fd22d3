"""The trace use case: resolve what was asked, walk the genealogy, gather the details.

``TraceService(engine).trace("/01/09506000134352/10/A1")`` returns a
:class:`~tracebridge.trace.model.TraceResult`. The genealogy is walked breadth-first, one
query per level; the details of the whole closure then come from a handful of batched
queries (``trace.queries``), all through the ``TraceReads`` port (``trace.reads``), so
the assembly does not know where its rows come from. State now (lot status, stock) is
read from the state projections; as of an earlier time it is folded from the facts valid
then, with the same fold the projections use —
``test_trace_now_equals_the_fold_of_the_facts_in_force`` holds the two to the same answer.

Stock and shipments are reported from one *system of record* per lot — ``wms`` when it
has rows for that lot, else another system — because the ERP and the WMS each keep
their own view of the same goods, and adding them up would count everything twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from tracebridge.domain.events import EventKind
from tracebridge.domain.lot_status import STATUS_CHANGING_KINDS
from tracebridge.store.database import read_snapshot
from tracebridge.trace import queries as q
from tracebridge.trace.assemble import (
    customers,
    environment_windows,
    lot_udi,
    merge_shipments,
    stock_positions,
    system_of_record_rows,
    work_orders,
)
from tracebridge.trace.model import (
    Backward,
    Direction,
    Forward,
    GenealogyLink,
    InspectionResult,
    LotNode,
    Note,
    Party,
    StatusChange,
    Subject,
    TraceResult,
)
from tracebridge.trace.queries import Fact, LotKey, at_utc
from tracebridge.trace.reads import DatabaseReads, TraceReads
from tracebridge.trace.reference import Resolved, lot_link, resolve, serial_link

_STATUS_VALUES = {kind.value for kind in STATUS_CHANGING_KINDS} | {EventKind.HOLD_RELEASED.value}
_RECEIVED = EventKind.RECEIVED.value


class TraceService:
    """Backward and forward traces of a lot or serialised unit, now or as of a record time."""

    def __init__(self, engine: Engine, *, system_of_record: str = "wms",
                 environment_limits: Mapping[str, tuple[float | None, float | None]] | None = None,
                 processing_margin: timedelta = timedelta(minutes=30),
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.clock = clock  # "now", where a lot's stay at a location has not ended yet
        self.system_of_record = system_of_record
        self.environment_limits: q.Limits = dict(environment_limits or {})
        self.processing_margin = processing_margin

    def trace(self, ref: str, *, direction: Direction = "both", as_of: datetime | None = None
              ) -> TraceResult:
        """Trace what ``ref`` names; ``as_of`` (record time) replays what was known then.

        Raises ``NotFound`` (with suggestions), ``Ambiguous`` (with candidates) or
        ``InvalidIdentifier``.
        """
        when = None if as_of is None else (
            as_of.replace(tzinfo=UTC) if as_of.tzinfo is None
            else as_of.astimezone(UTC))
        with self._snapshot() as conn:
            resolved = resolve(conn, ref, as_of=when)
            return self.assemble(DatabaseReads(conn), resolved, ref, direction, when)

    def assemble(self, reads: TraceReads, resolved: Resolved, ref: str, direction: Direction,
                 as_of: datetime | None = None) -> TraceResult:
        """The trace of an already resolved reference, from ``reads``."""
        return _Trace(self, reads, resolved, as_of).run(ref, direction)

    def _snapshot(self) -> AbstractContextManager[Connection]:
        """One consistent read: every query sees the same committed state."""
        return read_snapshot(self.engine)


class _Trace:
    def __init__(self, service: TraceService, reads: TraceReads, resolved: Resolved,
                 as_of: datetime | None) -> None:
        self.service = service
        self.reads = reads
        self.resolved = resolved
        self.as_of = as_of
        self.subject_key: LotKey = (resolved.gtin, resolved.lot)
        self.notes: list[Note] = [Note(code="reference", message=m) for m in resolved.notes]

    def run(self, ref: str, direction: Direction) -> TraceResult:
        reads, as_of, key = self.reads, self.as_of, self.subject_key
        serial = self.resolved.serial
        back_depth, back_edges = ({key: 0}, []) if direction == "forward" else (
            reads.genealogy(key, direction="backward", as_of=as_of))
        fwd_depth, fwd_edges = ({key: 0}, []) if direction == "backward" or serial else (
            reads.genealogy(key, direction="forward", as_of=as_of))
        closure = set(back_depth) | set(fwd_depth)
        self.states = reads.lot_states(closure, as_of)
        self.milestones = reads.milestones(closure, as_of)
        checked = set(back_depth) if direction != "forward" else {key}
        found = reads.inspections(checked, as_of)
        made = [k for k in back_depth if self.states.get(k, {}).get("origin") == "produced"]
        steps = reads.operations(made, as_of) if direction != "forward" else []
        shipped = self._shipments(fwd_depth) if direction != "backward" else []
        self._load_master(closure, {r.party for r in shipped if r.party})
        own = [_inspection(r) for r in found if (r.gtin, r.lot) == key]
        changes = [_status_change(r) for r in self.milestones.get(key, [])
                   if r.kind in _STATUS_VALUES]
        releases = [c for c in changes if c.kind == EventKind.RELEASED.value]
        result = TraceResult(
            subject=self._subject(ref), direction=direction, as_of=as_of,
            lot=self._node(key, 0), release=releases[-1] if releases else None,
            status_history=changes, inspections=own, notes=[])
        backward = forward = None
        if direction != "forward":
            backward = self._backward(back_depth, back_edges, found, steps)
        if direction != "backward":
            forward = self._forward(fwd_depth, fwd_edges, shipped)
        self._lot_notes(closure)
        return result.model_copy(update={"backward": backward, "forward": forward,
                                         "notes": self.notes})

    # ---------------------------------------------------------------- halves

    def _backward(self, depth: dict[LotKey, int], edges: list[q.Edge], found: list[Fact],
                  steps: list[q.Step]) -> Backward:
        arrivals = self.reads.crossings(depth, self.as_of, self.service.system_of_record)
        windows = environment_windows(steps, arrivals, set(depth),
                                      until=self.as_of or self.service.clock(),
                                      margin=self.service.processing_margin)
        readings = self.reads.environment([w for w, _ in windows],
                                 self.service.environment_limits, self.as_of)
        return Backward(
            lots=self._nodes(depth), links=[_link(e) for e in edges],
            work_orders=work_orders(steps, edges, self.states),
            inspections=[_inspection(r) for r in found if (r.gtin, r.lot) != self.subject_key],
            environment=[window.with_statistics(readings[w], self.service.environment_limits)
                         for w, window in windows])

    def _shipments(self, depth: dict[LotKey, int]) -> list[Fact]:
        """The forward lots' shipment rows from each lot's system of record."""
        serial = self.resolved.serial
        if serial is not None:
            ssccs = self.reads.containers(f"{self.resolved.gtin}/{serial}", self.as_of)
            rows = self.reads.serial_shipment_rows(self.resolved.gtin, serial, ssccs,
                                          self.as_of)
            self._serial_note(serial)
        else:
            rows = self.reads.shipment_rows(depth, self.as_of)
        preferred = self.service.system_of_record
        chosen = system_of_record_rows(rows, preferred)
        for gtin, lot, system in sorted({(r.gtin, r.lot, r.source_system) for r in chosen
                                         if r.source_system != preferred}):
            self.notes.append(Note(code="shipments-from-other-system", message=(
                f"Shipments of {lot_link(gtin, lot)} come from {system!r}: "
                f"{preferred!r} has none for this lot.")))
        return chosen

    def _forward(self, depth: dict[LotKey, int], edges: list[q.Edge], chosen: list[Fact]
                 ) -> Forward:
        stock = [] if self.resolved.serial is not None else stock_positions(
            self.reads.stock(depth, self.as_of, self.service.system_of_record))
        lines = merge_shipments(chosen, depth, self.parties)
        returned = [line for line in lines if line.kind == EventKind.RETURNED.value]
        if returned:
            self.notes.append(Note(code="returned", message=(
                f"{len(returned)} shipment line(s) came back as returns; returned goods are "
                "kept apart from conforming stock.")))
        return Forward(lots=self._nodes(depth), links=[_link(e) for e in edges],
                       stock=stock, shipments=lines, customers=customers(lines))

    # ---------------------------------------------------------------- lots

    def _nodes(self, depth: dict[LotKey, int]) -> list[LotNode]:
        ordered = sorted((d, k) for k, d in depth.items() if d > 0)
        return [self._node(k, d) for d, k in ordered]

    def _node(self, key: LotKey, depth: int) -> LotNode:
        state = self.states.get(key)
        gtin, lot = key
        base: dict[str, Any] = {"gtin": gtin, "lot": lot, "depth": depth,
                                "product_name": self.product_names.get(gtin),
                                "digital_link": lot_link(gtin, lot)}
        if state is None:
            return LotNode(**base, origin="seen", udi=lot_udi(gtin, lot, None))
        supplier = state["supplier"]
        received = [at for r in self.milestones.get(key, []) if r.kind == _RECEIVED
                    if (at := at_utc(r.event_time)) is not None]
        return LotNode(
            **base, status=state["status"], status_conflicts=state["status_conflicts"],
            manufactured=state["manufactured"], expiry=state["expiry"],
            quantity=state["quantity"], uom=state["uom"], origin=state["origin"],
            udi=lot_udi(gtin, lot, state["expiry"]), work_order=state["work_order"],
            supplier=self.suppliers.get(supplier) if supplier else None,
            supplier_lot=state["supplier_lot"], received_at=received)

    def _subject(self, ref: str) -> Subject:
        r = self.resolved
        if r.serial is not None:
            udi, link = f"(01){r.gtin}(21){r.serial}", serial_link(r.gtin, r.serial)
        else:
            expiry = self.states.get(self.subject_key, {}).get("expiry")
            udi, link = lot_udi(r.gtin, r.lot, expiry), lot_link(r.gtin, r.lot)
        return Subject(reference=ref, interpreted_as=r.form, kind=r.kind, gtin=r.gtin, lot=r.lot,
                       serial=r.serial, udi=udi, digital_link=link)

    def _lot_notes(self, closure: set[LotKey]) -> None:
        for key in sorted(closure):
            state = self.states.get(key)
            link = lot_link(*key)
            if state is None:
                self.notes.append(Note(code="facts-withdrawn", message=(
                    f"{link}: no record about this lot is in force at this time (withdrawn by "
                    "an error declaration or not yet recorded).")))
            elif state["origin"] == "opening_balance":
                self.notes.append(Note(code="opening-balance", message=(
                    f"{link} was taken over as an opening balance: its history before go-live "
                    "is not in the system.")))
            elif state["origin"] == "seen" and key != self.subject_key:
                self.notes.append(Note(code="no-receipt", message=(
                    f"{link} appears only as a component: its receipt or production is not in "
                    "the system.")))
            if state is not None and state["status_conflicts"]:
                self.notes.append(Note(code="status-conflict", message=(
                    f"{link}: lot status conflicts — {state['status_conflicts']} status "
                    "event(s) did not fit the lot status rules and were skipped.")))

    def _serial_note(self, serial: str) -> None:
        last = self.reads.serial_last_seen(self.resolved.gtin, serial, self.as_of)
        if last is not None:
            where = last.party or last.location or "an unrecorded place"
            self.notes.append(Note(code="serial-last-seen", message=(
                f"Unit {serial}: last event {last.kind!r} at {where} "
                f"({at_utc(last.event_time)}).")))
        hold = self.reads.serial_hold(self.resolved.gtin, serial, self.as_of)
        if hold is not None and hold.kind == EventKind.HELD.value:
            self.notes.append(Note(code="serial-on-hold", message=(
                f"Unit {serial} is on hold on its own since {at_utc(hold.event_time)}: it must "
                "not be picked, shipped or used; its lot's status is not changed.")))

    # ---------------------------------------------------------------- master data

    def _load_master(self, closure: set[LotKey], parties: set[str]) -> None:
        """Products, suppliers and consignees named in the trace: one read."""
        suppliers = {s["supplier"] for s in self.states.values() if s["supplier"]}
        found = self.reads.master({"product": {g for g, _ in closure}, "supplier": suppliers,
                                   "party": parties})
        self.product_names = {g: _text(found.get(f"product/{g}", {}).get("name"))
                              for g in {g for g, _ in closure}}
        self.suppliers = {code: _party(code, found.get(f"supplier/{code}", {}))
                          for code in suppliers}
        self.parties = {code: _party(code, found.get(f"party/{code}", {})) for code in parties}


def _party(code: str, attributes: Mapping[str, Any]) -> Party:
    return Party(code=code, name=_text(attributes.get("name")),
                 address=_text(attributes.get("address")))


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _link(edge: q.Edge) -> GenealogyLink:
    return GenealogyLink(input_gtin=edge.input[0], input_lot=edge.input[1],
                         output_gtin=edge.output[0], output_lot=edge.output[1],
                         work_order=edge.work_order, operation=edge.operation,
                         quantity=edge.quantity, uom=edge.uom)


def _inspection(row: Fact) -> InspectionResult:
    at = at_utc(row.event_time)
    assert at is not None
    return InspectionResult(gtin=row.gtin, lot=row.lot, stage=row.stage,
                            characteristic=row.characteristic, result=row.result,
                            measured=row.measured, lower=row.lower, upper=row.upper,
                            unit=row.unit, inspector=row.inspector,
                            inspection_id=row.inspection_id, at=at)


def _status_change(row: Fact) -> StatusChange:
    at = at_utc(row.event_time)
    assert at is not None
    return StatusChange(kind=row.kind, at=at, by=row.actor, reason=row.reason)

