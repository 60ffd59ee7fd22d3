"""Canonical events: what happened to which lots, when, where, why and by whom.

The shape follows GS1 EPCIS 2.0 / CBV 2.0 — *what* (``lots``, ``inputs``, ``parent``),
*when* (``event_time`` in UTC plus the original ``event_time_zone_offset``), *where*
(``read_point``, ``biz_location``, source/destination parties), *why* (``biz_step``,
``disposition``, ``biz_transactions``), *who* (``operator``, ``equipment``) — plus the
provenance of the source record it was mapped from.

An event is a frozen fact. Its identity is (source system, source record id, content
hash): the same record delivered twice is one event, a changed record is a new version.

>>> from datetime import datetime, timezone
>>> e = CanonicalEvent(
...     kind=EventKind.RECEIVED,
...     event_time=datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc),
...     event_time_zone_offset="+08:00",
...     lots=(LotRef(gtin="09506000134352", lot="A1", quantity=10, uom="EA"),),
...     source=Source(system="erp", record_id="MIGO-1"),
... )
>>> e.epcis_type, e.biz_step
('ObjectEvent', 'receiving')
>>> e.event_id == e.model_copy().event_id
True
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from functools import cached_property
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class EventKind(StrEnum):
    """Business meaning of an event; each maps onto one EPCIS event type and CBV step."""

    OPENING_BALANCE = "opening_balance"  # stock taken over at go-live; history predates us
    RECEIVED = "received"
    INSPECTED = "inspected"
    MOVED = "moved"  # putaway and stock transfers
    PROCESSED = "processed"  # one process step of a work order on a lot
    CONSUMED = "consumed"  # transformation inputs only: component lots issued to a work order
    PRODUCED = "produced"  # transformation: (input lots consumed ->) output lot/serials
    PACKED = "packed"  # aggregation: serials/cases into a case/pallet SSCC
    RELEASED = "released"  # batch release decision
    HELD = "held"
    HOLD_RELEASED = "hold_released"
    REJECTED = "rejected"
    PICKED = "picked"
    SHIPPED = "shipped"
    DELIVERED = "delivered"  # received at the customer
    RETURNED = "returned"
    COMPLAINT_RECEIVED = "complaint_received"
    NONCONFORMANCE_RAISED = "nonconformance_raised"
    ENVIRONMENT_OBSERVED = "environment_observed"  # temperature / humidity reading
    RECALLED = "recalled"
    STOCK_ADJUSTED = "stock_adjusted"  # stock count gain / loss
    SCRAPPED = "scrapped"
    ERROR_DECLARED = "error_declared"  # EPCIS error declaration: earlier events did not occur


class Action(StrEnum):
    ADD = "ADD"
    OBSERVE = "OBSERVE"
    DELETE = "DELETE"


# kind -> (EPCIS event type, default CBV 2.0 business step, default action)
EPCIS_SHAPE: dict[EventKind, tuple[str, str, Action]] = {
    EventKind.OPENING_BALANCE: ("ObjectEvent", "commissioning", Action.ADD),
    EventKind.RECEIVED: ("ObjectEvent", "receiving", Action.OBSERVE),
    EventKind.INSPECTED: ("ObjectEvent", "inspecting", Action.OBSERVE),
    EventKind.MOVED: ("ObjectEvent", "storing", Action.OBSERVE),
    EventKind.PROCESSED: ("ObjectEvent", "assembling", Action.OBSERVE),
    EventKind.CONSUMED: ("TransformationEvent", "assembling", Action.ADD),
    EventKind.PRODUCED: ("TransformationEvent", "commissioning", Action.ADD),
    EventKind.PACKED: ("AggregationEvent", "packing", Action.ADD),
    EventKind.RELEASED: ("ObjectEvent", "releasing", Action.OBSERVE),
    EventKind.HELD: ("ObjectEvent", "holding", Action.OBSERVE),
    EventKind.HOLD_RELEASED: ("ObjectEvent", "releasing", Action.OBSERVE),
    EventKind.REJECTED: ("ObjectEvent", "inspecting", Action.OBSERVE),
    EventKind.PICKED: ("ObjectEvent", "picking", Action.OBSERVE),
    EventKind.SHIPPED: ("ObjectEvent", "shipping", Action.OBSERVE),
    EventKind.DELIVERED: ("ObjectEvent", "receiving", Action.OBSERVE),
    EventKind.RETURNED: ("ObjectEvent", "receiving", Action.OBSERVE),
    EventKind.COMPLAINT_RECEIVED: ("ObjectEvent", "inspecting", Action.OBSERVE),
    EventKind.NONCONFORMANCE_RAISED: ("ObjectEvent", "inspecting", Action.OBSERVE),
    EventKind.ENVIRONMENT_OBSERVED: ("ObjectEvent", "sensor_reporting", Action.OBSERVE),
    EventKind.RECALLED: ("ObjectEvent", "holding", Action.OBSERVE),
    EventKind.STOCK_ADJUSTED: ("ObjectEvent", "cycle_counting", Action.OBSERVE),
    EventKind.SCRAPPED: ("ObjectEvent", "destroying", Action.DELETE),
    EventKind.ERROR_DECLARED: ("ObjectEvent", "void_shipping", Action.OBSERVE),
}

# Default CBV disposition each kind leaves the goods in (None: unchanged).
DEFAULT_DISPOSITION: dict[EventKind, str | None] = {
    EventKind.OPENING_BALANCE: "active",
    EventKind.RECEIVED: "in_progress",
    EventKind.RELEASED: "conformant",
    EventKind.HELD: "non_sellable_other",
    EventKind.HOLD_RELEASED: "conformant",
    EventKind.REJECTED: "non_conformant",
    EventKind.SHIPPED: "in_transit",
    EventKind.DELIVERED: "in_progress",
    EventKind.RETURNED: "returned",
    EventKind.RECALLED: "recalled",
    EventKind.SCRAPPED: "destroyed",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class LotRef(_Frozen):
    """A quantity of one lot (GTIN + lot number), optionally naming its serials."""

    gtin: str = Field(min_length=1, max_length=14)
    lot: str = Field(min_length=1, max_length=20)
    quantity: float | None = None
    uom: str | None = None
    serials: tuple[str, ...] = ()
    expiry: str | None = None  # ISO date, as printed on the label
    manufactured: str | None = None  # ISO date

    @property
    def key(self) -> tuple[str, str]:
        return (self.gtin, self.lot)


class BizTransaction(_Frozen):
    type: str  # po, prodorder, desadv, inv, rma, recall ... (CBV bizTransactionType)
    id: str


class SensorReading(_Frozen):
    type: str  # temperature, relative_humidity ...
    value: float
    uom: str  # UN/CEFACT unit code: CEL (deg C), P1 (percent)


class Inspection(_Frozen):
    """One inspection result on a lot (incoming, in-process or final)."""

    stage: str  # incoming | in_process | final
    characteristic: str
    result: str  # pass | fail
    measured: float | None = None
    lower: float | None = None
    upper: float | None = None
    unit: str | None = None
    inspector: str | None = None
    inspection_id: str | None = None


class Source(_Frozen):
    """Where an event came from: the record it was mapped from and by which mapping."""

    system: str
    record_id: str
    mapping_id: str = "manual"
    mapping_version: str = "1"
    raw_hash: str = ""


def canonical_json(value: Any) -> str:
    """Deterministic JSON used for hashing: sorted keys, no spaces, UTF-8 kept.

    orjson rather than ``json.dumps``: this runs twice per ingested event and the
    standard encoder was a tenth of the ingest time. Same output for our values
    (JSON-mode dumps: strings, ints, floats, bools, null, lists, objects).

    >>> canonical_json({"b": 1, "a": "批号"})
    '{"a":"批号","b":1}'
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError:  # integers beyond 64 bits: the slow encoder handles them
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def format_offset(offset: timedelta) -> str:
    """``timedelta(hours=8)`` -> ``'+08:00'``."""
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


class CanonicalEvent(_Frozen):
    """A validated, EPCIS-shaped business event in TraceBridge's own vocabulary."""

    kind: EventKind
    event_time: datetime
    event_time_zone_offset: str = Field(pattern=r"^[+-](0\d|1[0-4]):[0-5]\d$")
    action: Action | None = None
    # what
    lots: tuple[LotRef, ...] = ()
    inputs: tuple[LotRef, ...] = ()  # transformation inputs (consumed lots)
    parent: str | None = None  # SSCC (or serial) the lots/children are packed into
    children: tuple[str, ...] = ()  # child SSCCs packed into ``parent``
    # where
    read_point: str | None = None
    biz_location: str | None = None
    source_party: str | None = None
    destination_party: str | None = None
    # why
    biz_step: str | None = None
    disposition: str | None = None
    biz_transactions: tuple[BizTransaction, ...] = ()
    # who
    operator: str | None = None
    equipment: str | None = None
    work_order: str | None = None
    operation: str | None = None
    sensor: tuple[SensorReading, ...] = ()
    inspection: Inspection | None = None
    details: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    # corrections (EPCIS errorDeclaration): source record ids of this system declared in error
    corrects: tuple[str, ...] = ()
    error_reason: str | None = None
    source: Source

    @field_validator("event_time")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("event_time must carry a time zone")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _consistent(self) -> CanonicalEvent:
        shape = EPCIS_SHAPE[self.kind]
        if self.action is None:
            object.__setattr__(self, "action", shape[2])
        if self.biz_step is None:
            object.__setattr__(self, "biz_step", shape[1])
        if self.disposition is None:
            object.__setattr__(self, "disposition", DEFAULT_DISPOSITION.get(self.kind))
        if self.kind is EventKind.ERROR_DECLARED:
            if not self.corrects:
                raise ValueError("an error declaration must name the records it corrects")
        elif self.kind is EventKind.PRODUCED:
            if not self.lots:
                raise ValueError("a produced event needs at least one output lot")
            if not self.work_order and not self.inputs:
                raise ValueError("a produced event needs its work order or its inputs")
        elif self.kind is EventKind.CONSUMED:
            if not self.inputs or not self.work_order:
                raise ValueError("a consumed event needs input lots and the work order")
        elif self.kind is EventKind.PACKED:
            if not self.parent:
                raise ValueError("a packed event needs the parent SSCC")
        elif self.kind is EventKind.ENVIRONMENT_OBSERVED:
            if not self.sensor:
                raise ValueError("an environment reading needs at least one sensor value")
        elif self.kind is EventKind.INSPECTED:
            if self.inspection is None:
                raise ValueError("an inspected event needs its inspection result")
        elif self.kind not in _LOTLESS_KINDS and not self.lots:
            raise ValueError(f"a {self.kind.value} event needs at least one lot")
        return self

    @property
    def epcis_type(self) -> str:
        return EPCIS_SHAPE[self.kind][0]

    @property
    def local_event_time(self) -> datetime:
        """The event time as the source saw it, in its own offset."""
        sign = -1 if self.event_time_zone_offset[0] == "-" else 1
        hours, minutes = self.event_time_zone_offset[1:].split(":")
        delta = timedelta(hours=int(hours), minutes=int(minutes)) * sign
        return self.event_time.astimezone(timezone(delta))

    @cached_property
    def _content(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"source"}, exclude_defaults=True)

    def content(self) -> dict[str, Any]:
        """Everything that makes up the fact, without where it came from."""
        return dict(self._content)

    def body(self) -> str:
        """The whole event as canonical JSON: its content plus its provenance."""
        full = {
            **self._content,
            "source": self.source.model_dump(mode="json", exclude_defaults=True),
        }
        return canonical_json(full)

    @cached_property
    def content_hash(self) -> str:
        return sha256_hex(canonical_json(self._content))

    @cached_property
    def event_id(self) -> str:
        """Content-derived identity: same source record and content, same id."""
        return sha256_hex(f"{self.source.system}\x00{self.source.record_id}\x00{self.content_hash}")


_LOTLESS_KINDS = frozenset(
    {
        EventKind.ENVIRONMENT_OBSERVED,
        EventKind.COMPLAINT_RECEIVED,
        EventKind.NONCONFORMANCE_RAISED,
        EventKind.ERROR_DECLARED,
        EventKind.PACKED,
        EventKind.CONSUMED,
    }
)
