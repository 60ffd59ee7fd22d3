"""``GET /reconciliation`` (KPI and findings) and ``GET /reconciliation/findings/{id}``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from tracebridge.api.errors import RESPONSES
from tracebridge.reconcile.service import ReconcileService

router = APIRouter(tags=["reconciliation"])


class SideOut(BaseModel):
    system: str
    value: float | str | list[str] | None = Field(
        description="Quantity, status, date, or the serials only this side knows.")
    records: list[str] = Field(description="Source record ids this side's value comes from.")


class FindingOut(BaseModel):
    id: int
    code: str = Field(description="Stable code, e.g. quantity-mismatch-shipped.")
    measure: str
    gtin: str
    lot: str
    location: str = Field(description="Shared location; empty for per-lot measures.")
    reference: str = Field(description="Shipment document, or empty.")
    status: Literal["open", "closed"]
    left: SideOut
    right: SideOut
    first_seen_at: str
    last_checked_at: str
    closed_at: str | None
    closed_by_record: str | None = Field(description="system:record id that resolved it.")


class SourceRecordOut(BaseModel):
    seq: int
    kind: str
    event_time: str
    record_time: str
    source_system: str
    source_record_id: str
    version: int
    raw_record_id: int | None
    record_type: str | None
    origin: str | None
    raw_payload: str | None = Field(description="The record exactly as received.")


class FindingDetailOut(FindingOut):
    left_sources: list[SourceRecordOut]
    right_sources: list[SourceRecordOut]


class LastRunOut(BaseModel):
    run_id: int
    started_at: str
    lots_total: int
    lots_agreeing: int
    consistency: float | None = Field(description="Share of lots on which both systems agree.")


class ReconciliationOut(BaseModel):
    last_run: LastRunOut | None
    open: int
    closed: int
    findings: list[FindingOut]


def _service(request: Request) -> ReconcileService:
    service: ReconcileService = request.app.state.container.reconcile
    return service


@router.get("/reconciliation", response_model=ReconciliationOut, responses=RESPONSES)
def reconciliation(
    request: Request,
    status: Annotated[Literal["open", "closed", "all"], Query(
        description="Which findings to list.")] = "open",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
) -> ReconciliationOut:
    """The consistency KPI of the latest run and the findings."""
    summary = _service(request).summary(status=None if status == "all" else status, limit=limit)
    return ReconciliationOut.model_validate(summary)


@router.get("/reconciliation/findings/{finding_id}", response_model=FindingDetailOut,
            responses=RESPONSES)
def finding(request: Request, finding_id: int) -> FindingDetailOut:
    """One finding with both sides' source records and raw payloads."""
    return FindingDetailOut.model_validate(_service(request).show(finding_id))
