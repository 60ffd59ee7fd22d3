"""``/recalls``: the recall workflow over HTTP — thin calls to ``RecallService``.

Start, impact, contain, notify, responses, status, close, customer lists, the mock
recall drill and 821 tracking answers (patient identity masked unless ``?reveal=true``).
Errors: 404 unknown recall or lot, 409 a step the recall's status does not allow, 422
malformed class, depth, level, scope or response.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from tracebridge.api.errors import RESPONSES, ErrorBody
from tracebridge.domain.recall import SCOPE_FORMS, RecallPlan, parse_scope
from tracebridge.recall.model import (
    ContainmentResult,
    Drill,
    Impact,
    Notification,
    Recall,
    StatusReport,
    Tracking,
)
from tracebridge.recall.service import RecallService
from tracebridge.recall.tracking import masked

router = APIRouter(tags=["recall"])
_ERRORS = {**RESPONSES, 409: {"model": ErrorBody,
                              "description": "The recall's status does not allow this step."}}


class _In(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class RecallIn(_In):
    recall_class: Literal["I", "II", "III"]
    depth: Literal["consumer", "retail", "wholesale"]
    public_warning: bool
    effectiveness_level: Literal["A", "B", "C", "D", "E"]
    reason: str = Field(min_length=1, max_length=2000)
    scope: list[str] = Field(min_length=1, description="; ".join(SCOPE_FORMS))
    actor: str = Field(min_length=1, max_length=64)
    product: str | None = Field(None, max_length=200)
    reduces_health_risk: bool = Field(True, description="False: not an 806 report")
    expected_completion: date | None = Field(None, description="ISO date")


class ActorIn(_In):
    actor: str = Field(min_length=1, max_length=64)


class NotifyIn(ActorIn):
    method: str = Field("letter", min_length=1, max_length=40)


class ResponseIn(ActorIn):
    party: str = Field(min_length=1, max_length=64, description="Consignee code")
    quantity_on_hand: float = Field(ge=0)
    quantity_returned: float = Field(ge=0, description="Returned or corrected")
    method: str | None = Field(None, max_length=40)
    note: str | None = Field(None, max_length=2000)


class CloseIn(ActorIn):
    reason: str = Field(min_length=1, max_length=2000)


def _recalls(request: Request) -> RecallService:
    service: RecallService = request.app.state.container.recall
    return service


@router.post("/recalls", response_model=Recall, status_code=201, responses=_ERRORS)
def start(request: Request, body: RecallIn) -> Recall:
    """Open a recall (class, depth, public warning, effectiveness level, scope)."""
    plan = RecallPlan.parse(recall_class=body.recall_class, depth=body.depth,
                            public_warning=body.public_warning,
                            effectiveness_level=body.effectiveness_level, reason=body.reason,
                            reduces_health_risk=body.reduces_health_risk, product=body.product)
    return _recalls(request).start(plan, [parse_scope(s) for s in body.scope], actor=body.actor,
                                   expected_completion=body.expected_completion)


@router.get("/recalls/{recall_id}", response_model=Recall, responses=_ERRORS)
def get(request: Request, recall_id: str) -> Recall:
    return _recalls(request).get(recall_id)


@router.get("/recalls/{recall_id}/impact", response_model=Impact, responses=_ERRORS)
def impact(request: Request, recall_id: str) -> Impact:
    """Affected lots and serials, stock by location, in transit, shipments per customer."""
    return _recalls(request).impact(recall_id)


@router.post("/recalls/{recall_id}/contain", response_model=list[ContainmentResult],
             responses=_ERRORS)
def contain(request: Request, recall_id: str, body: ActorIn) -> list[ContainmentResult]:
    """Block every affected lot; WMS and ERP are told through the outbox."""
    return _recalls(request).contain(recall_id, actor=body.actor)


@router.post("/recalls/{recall_id}/notify", response_model=Notification, responses=_ERRORS)
def notify(request: Request, recall_id: str, body: NotifyIn) -> Notification:
    """Record every consignee as notified; lists are at ``/recalls/{id}/lists/{party}``."""
    return _recalls(request).notify(recall_id, actor=body.actor, method=body.method)


@router.get("/recalls/{recall_id}/lists/{party}", responses=_ERRORS,
            response_class=Response)
def customer_list(request: Request, recall_id: str, party: str,
                  fmt: Annotated[Literal["csv", "xlsx"], Query(alias="format")] = "csv"
                  ) -> Response:
    """One consignee's list: shipments, lots, serials and quantities."""
    content = _recalls(request).customer_list(recall_id, party, fmt=fmt)
    media = "text/csv" if fmt == "csv" else (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return Response(content, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{recall_id}-{party}.{fmt}"'})


@router.post("/recalls/{recall_id}/responses", response_model=StatusReport, responses=_ERRORS)
def respond(request: Request, recall_id: str, body: ResponseIn) -> StatusReport:
    """Record a consignee's response (cumulative on-hand and returned figures)."""
    return _recalls(request).respond(recall_id, body.party, actor=body.actor,
                                     quantity_on_hand=body.quantity_on_hand,
                                     quantity_returned=body.quantity_returned,
                                     method=body.method, note=body.note)


@router.get("/recalls/{recall_id}/status", response_model=StatusReport, responses=_ERRORS)
def status(request: Request, recall_id: str) -> StatusReport:
    """The recall status report of 21 CFR 7.53(b)."""
    return _recalls(request).status(recall_id)


@router.post("/recalls/{recall_id}/close", response_model=Recall, responses=_ERRORS)
def close(request: Request, recall_id: str, body: CloseIn) -> Recall:
    return _recalls(request).close(recall_id, reason=body.reason, actor=body.actor)


@router.get("/recall-drill/{reference:path}", response_model=Drill, responses=_ERRORS)
def drill(request: Request, reference: str) -> Drill:
    """Mock recall of a recall number, scope expression or lot/serial/UDI; writes nothing."""
    return _recalls(request).drill(reference)


@router.get("/tracking/01/{gtin}/21/{serial}", response_model=Tracking, responses=_ERRORS)
def track(request: Request, gtin: str, serial: str,
          reveal: Annotated[bool, Query(description=(
              "Show the patient's name, address, phone and identifier unmasked (personal "
              "health data); access control will decide who may."))] = False) -> Tracking:
    """821 tracking: the distributor holding the device and where, the ship date and
    consignee, or — once a hospital reported it — the patient (masked unless revealed),
    physicians and any explant or death date."""
    found = _recalls(request).track(gtin, serial)
    return found if reveal else masked(found)
