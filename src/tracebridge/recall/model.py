"""What the recall use cases answer with: frozen pydantic models, ready for JSON."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Consignee(_Model):
    """A customer as master data names it; any part may be unknown."""

    code: str
    name: str | None = None
    address: str | None = None
    phone: str | None = None
    party_type: str | None = Field(None, description="distributor, hospital … (master data)")


class AffectedLot(_Model):
    """One lot in the recall, with the figures of 21 CFR 7.46(a)(4),(5) (REQ 35)."""

    gtin: str
    lot: str
    role: str = Field(description="scope | sub-assembly | finished")
    depth: int = Field(description="0 for a lot in the scope, else genealogy steps from it")
    origin: str | None = None
    status: str | None = None
    quantity_produced: float | None = None
    uom: str | None = None
    manufactured: str | None = None
    expiry: str | None = None
    in_stock: float = 0.0
    in_transit: float = 0.0
    shipped: float = 0.0
    returned: float = 0.0
    in_distribution: float = Field(0.0, description="shipped minus returned")
    serials: list[str] = Field(default_factory=list)


class StockAt(_Model):
    gtin: str
    lot: str
    location: str
    quantity: float
    uom: str | None = None
    serials: list[str] = Field(default_factory=list)


class Shipment(_Model):
    """One lot in one shipment to a consignee (REQ 34): document, date, lot, serials, quantity."""

    shipment: str = Field(description="Delivery / despatch advice number")
    kind: str = Field(description="shipped | returned")
    shipped_at: datetime
    delivered_at: datetime | None = None
    gtin: str
    lot: str
    serials: list[str] = Field(default_factory=list)
    quantity: float
    uom: str | None = None
    in_transit: bool


class CustomerImpact(_Model):
    consignee: Consignee
    shipped: float
    returned: float
    in_transit: float
    first_shipped_at: datetime
    last_shipped_at: datetime
    lots: list[str] = Field(description="gtin/lot of every lot it received")
    serials: list[str]
    shipments: list[Shipment]


class Impact(_Model):
    """Everything a recall touches, read from the projections now."""

    scope_lots: list[str]
    products: dict[str, str | None] = Field(description="GTIN → product name (master data)")
    lots: list[AffectedLot]
    finished_lots: list[str]
    sub_assemblies: list[str]
    serials: list[str] = Field(description="gtin/serial of every affected serialised unit")
    stock: list[StockAt]
    customers: list[CustomerImpact]
    quantity_produced: float
    quantity_in_stock: float
    quantity_in_transit: float
    quantity_in_distribution: float
    notes: list[str]


class Transition(_Model):
    action: str
    from_status: str | None
    to_status: str
    actor: str
    at: datetime
    reason: str | None = None


class Recall(_Model):
    id: str
    recall_class: str
    depth: str
    public_warning: bool
    effectiveness_level: str
    reason: str
    product: str | None
    reportable_806: bool
    initiated_at: datetime
    report_due: date
    expected_completion: date | None
    scope: list[str]
    status: str
    initiated_by: str
    close_reason: str | None
    history: list[Transition]


class ContainmentResult(_Model):
    lot: str
    outcome: str = Field(description="blocked | already-blocked | refused | serials-only")
    status_before: str | None = None
    status_after: str | None = None
    messages: list[str] = Field(default_factory=list)
    detail: str | None = None


class ConsigneeStatus(_Model):
    """One consignee in the status report (REQ 37)."""

    consignee: Consignee
    shipped: float
    notified_at: datetime | None
    method: str | None
    responded_at: datetime | None
    quantity_on_hand: float
    quantity_returned: float
    accounted_percent: float
    open: bool


class StatusReport(_Model):
    """21 CFR 7.53(b): notified, responding, non-responders, returned, checks, completion."""

    recall: Recall
    consignees: list[ConsigneeStatus]
    consignees_notified: int
    consignees_responded: int
    non_responders: list[str]
    quantity_on_hand: float
    quantity_returned: float
    units_shipped: float
    units_accounted: float
    accounted_percent: float
    effectiveness_checks_required: int
    effectiveness_checks_done: int
    effectiveness_results: str
    open_customers: list[str]
    expected_completion: date | None


class Contact(_Model):
    """A person an 821 answer names: a physician, or (as ``Patient``) the patient."""

    name: str
    address: str | None = None
    phone: str | None = None


class Patient(Contact):
    identifier: str | None = Field(None, description="The hospital's patient or record number")


class Tracking(_Model):
    """An 821.25(a) answer for one tracked unit (REQ 40, 41).

    Without a patient report the answer is where the unit is or who holds it (REQ 40);
    with one it adds the implant date, the patient, the physicians and any explant,
    death or retirement date (REQ 41), folded from every report version received.
    """

    gtin: str
    serial: str
    lot: str | None
    udi: str
    state: str = Field(description="in-stock | at-distributor | shipped | with-patient | "
                                   "explanted | patient-deceased | retired")
    holder: Consignee | None = None
    location: str | None = None
    shipped_at: datetime | None = Field(None, description="Manufacturer ship date")
    shipment: str | None = None
    final_distributor: Consignee | None = Field(
        None, description="The hospital that reported the device with a patient")
    implanted_on: date | None = None
    patient: Patient | None = None
    prescribing_physician: Contact | None = None
    following_physician: Contact | None = None
    explanted_on: date | None = None
    died_on: date | None = None
    retired_on: date | None = Field(
        None, description="Returned to the manufacturer, permanently retired or disposed of")
    reported_on: date | None = Field(None, description="Date of the newest report")
    report_versions: int = Field(0, description="Tracking report versions received")
    patient_masked: bool = Field(
        False, description="Patient name, address, phone and identifier are masked")
    answer_due_working_days: int


class Drill(_Model):
    """A mock recall: what a recall would reach and how long each stage took."""

    recall_id: str | None
    scope: list[str]
    seconds: dict[str, float]
    customer_lists: int
    list_bytes: int
    impact: Impact


class Notification(_Model):
    recall_id: str
    customers: list[str]
    files: list[str]
    notice: str
