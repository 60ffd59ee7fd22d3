"""What a trace returns: the lot (or serial) asked about, where it came from, where it went.

A trace has two halves around one subject lot. *Backward* answers "what is in it and
how was it made" (component and supplier lots, work orders, process steps, the
environment it was made and kept in, inspections); *forward* answers "where did it
go" (lots made from it, stock still on hand, shipments and the customers who got
them). Every lot appears once, as a :class:`LotNode` with its ``depth`` — the number
of genealogy steps from the subject (0 for the subject itself).

The models are strict and frozen: they are the API's response schema and the CLI's
``--json`` output, so what one client sees is exactly what the other sees.

>>> node = LotNode(gtin="09506000134352", lot="A1", origin="produced", depth=0,
...                udi="(01)09506000134352(10)A1", digital_link="/01/09506000134352/10/A1")
>>> node.key
('09506000134352', 'A1')
>>> Note(code="opening-balance", message="history before go-live is not in the system").code
'opening-balance'
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Direction = Literal["backward", "forward", "both"]
SubjectKind = Literal["lot", "serial"]


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")


class Party(_Model):
    """A supplier or customer as master data names it (``name``/``address`` may be unknown)."""

    code: str
    name: str | None = None
    address: str | None = None


class Subject(_Model):
    """What the user asked about, and how their input was understood."""

    reference: str = Field(description="The identifier exactly as given.")
    interpreted_as: str = Field(description="Which form it was read as, e.g. 'GS1 Digital Link'.")
    kind: SubjectKind
    gtin: str
    lot: str
    serial: str | None = None
    udi: str = Field(description="GS1 human-readable form of the lot or unit, e.g. (01)…(10)….")
    digital_link: str = Field(
        description="GS1 Digital Link path: /01/{gtin}/10/{lot} or /01/{gtin}/21/{serial}.")


class LotNode(_Model):
    """One lot in the genealogy, with its state as of the trace time."""

    gtin: str
    lot: str
    product_name: str | None = None
    status: str | None = None
    status_conflicts: int = 0
    manufactured: str | None = None
    expiry: str | None = None
    quantity: float | None = None
    uom: str | None = None
    origin: str = Field(description="produced | received | opening_balance | seen")
    depth: int = Field(description="Genealogy steps from the subject lot (0 = the subject).")
    udi: str
    digital_link: str
    work_order: str | None = None
    supplier: Party | None = None
    supplier_lot: str | None = None
    received_at: list[datetime] = Field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.gtin, self.lot)


class GenealogyLink(_Model):
    """An input lot consumed by the work order that made an output lot."""

    input_gtin: str
    input_lot: str
    output_gtin: str
    output_lot: str
    work_order: str
    operation: str | None = None
    quantity: float | None = None
    uom: str | None = None


class InspectionResult(_Model):
    gtin: str
    lot: str
    stage: str
    characteristic: str
    result: str
    measured: float | None = None
    lower: float | None = None
    upper: float | None = None
    unit: str | None = None
    inspector: str | None = None
    inspection_id: str | None = None
    at: datetime


class SensorValue(_Model):
    type: str
    value: float
    uom: str


class ProcessStep(_Model):
    """One processing step (or the production confirmation) of a work order on a lot."""

    gtin: str
    lot: str
    operation: str | None = None
    kind: str
    equipment: str | None = None
    operator: str | None = None
    location: str | None = None
    at: datetime
    sensor: list[SensorValue] = Field(default_factory=list)


class WorkOrder(_Model):
    work_order: str
    outputs: list[str] = Field(description="Output lots as Digital Link paths.")
    inputs: list[str] = Field(description="Input lots as Digital Link paths.")
    started: datetime | None = None
    finished: datetime | None = None
    steps: list[ProcessStep] = Field(default_factory=list)


class EnvironmentStatistic(_Model):
    """Readings of one kind at one location over one window; excursions need known limits."""

    type: str
    uom: str
    readings: int
    minimum: float
    maximum: float
    lower_limit: float | None = None
    upper_limit: float | None = None
    excursions: int | None = Field(default=None, description="None when no limits are known.")
    first_excursion_at: datetime | None = None
    last_excursion_at: datetime | None = None


class EnvironmentWindow(_Model):
    """Where and when a lot was processed or stored, and the conditions recorded there."""

    gtin: str
    lot: str
    location: str
    purpose: Literal["processed", "stored"]
    start: datetime
    end: datetime
    statistics: list[EnvironmentStatistic] = Field(
        default_factory=list, description="Empty when no readings were recorded there then.")


class StatusChange(_Model):
    kind: str
    at: datetime
    by: str | None = None
    reason: str | None = None


class StockPosition(_Model):
    gtin: str
    lot: str
    location: str
    quantity: float
    uom: str | None = None
    source_system: str


class ShipmentLine(_Model):
    """One (shipment, gtin, lot, serial) as the system of record reported it."""

    shipment: str
    kind: str = Field(description="shipped | delivered | returned")
    shipped_at: datetime = Field(description="Event time of the earliest record of this line.")
    delivered_at: datetime | None = None
    gtin: str
    lot: str
    serial: str | None = None
    ssccs: list[str] = Field(default_factory=list)
    quantity: float | None = None
    uom: str | None = None
    consignee: Party | None = None
    from_location: str | None = None
    source_system: str
    depth: int


class UomTotal(_Model):
    uom: str | None = None
    shipped: float
    returned: float


class CustomerTotal(_Model):
    party: Party
    shipments: int
    lots: int
    first_shipped_at: datetime
    last_shipped_at: datetime
    totals: list[UomTotal]


class Backward(_Model):
    lots: list[LotNode] = Field(description="Component and supplier lots, depth >= 1.")
    links: list[GenealogyLink]
    work_orders: list[WorkOrder]
    inspections: list[InspectionResult] = Field(description="Inspections of the component lots.")
    environment: list[EnvironmentWindow]


class Forward(_Model):
    lots: list[LotNode] = Field(description="Lots made from the subject, depth >= 1.")
    links: list[GenealogyLink]
    stock: list[StockPosition]
    shipments: list[ShipmentLine]
    customers: list[CustomerTotal]


class Note(_Model):
    """Something a reader must know to read the trace right; ``code`` is stable."""

    code: str
    message: str


class TraceResult(_Model):
    subject: Subject
    direction: Literal["backward", "forward", "both"]
    as_of: datetime | None = Field(description="Record time the trace was asked as of; None = now.")
    lot: LotNode = Field(description="The subject lot (for a serial: its lot).")
    release: StatusChange | None = Field(description="The release in force, if any: who and when.")
    status_history: list[StatusChange]
    inspections: list[InspectionResult] = Field(description="The subject lot's own inspections.")
    backward: Backward | None = None
    forward: Forward | None = None
    notes: list[Note] = Field(default_factory=list)

