"""The alert inbox over HTTP: ``GET /alerts``, ``POST /alerts/{id}/ack|assign|resolve``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tracebridge.alerts.inbox import AlertInbox
from tracebridge.api.errors import ErrorBody, body_of
from tracebridge.errors import AlertTransitionError, NotFound, ReasonRequired, TraceBridgeError

router = APIRouter(tags=["alerts"])

STATUS: dict[type[TraceBridgeError], int] = {
    NotFound: 404, AlertTransitionError: 409, ReasonRequired: 422,
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No alert has this id."},
    409: {"model": ErrorBody, "description": "The alert's status does not allow this."},
    422: {"model": ErrorBody, "description": "A required field is empty or malformed."},
}
Status = Literal["open", "acknowledged", "assigned", "resolved"]
Severity = Literal["info", "warning", "major", "critical"]


class AlertOut(BaseModel):
    id: int
    code: str
    severity: str
    title_en: str
    title_zh: str
    gtin: str | None
    lot: str | None
    rule_id: str | None
    rule_version: int | None
    event_seq: int | None
    detail: dict[str, Any]
    status: str
    assignee: str | None
    created_at: str
    updated_at: str
    resolved_at: str | None


class Ack(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    actor: str = Field(min_length=1, max_length=100)
    note: str | None = Field(None, max_length=2000)


class Assign(Ack):
    assignee: str = Field(min_length=1, max_length=100)


class Resolve(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    actor: str = Field(min_length=1, max_length=100)
    note: str = Field(min_length=1, max_length=2000, description="Why it is resolved.")


def inbox(request: Request) -> AlertInbox:
    alerts: AlertInbox = request.app.state.container.alerts
    return alerts


def _error(error: TraceBridgeError) -> JSONResponse:
    status = next((code for kind, code in STATUS.items() if isinstance(error, kind)), 500)
    return JSONResponse(status_code=status, content=body_of(error).model_dump())


@router.get("/alerts", response_model=list[AlertOut], responses={422: RESPONSES[422]})
def list_alerts(
    request: Request,
    status: Status | None = None,
    severity: Severity | None = None,
    code: str | None = None,
    lot: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> Any:
    """Alerts, newest first; filter by status, severity, code or lot number."""
    found = inbox(request).find(status=status, severity=severity, code=code, lot=lot,
                                limit=limit)
    return [AlertOut(**a.as_dict()) for a in found]


@router.post("/alerts/{alert_id}/ack", response_model=AlertOut, responses=RESPONSES)
def acknowledge(request: Request, alert_id: int, body: Ack) -> Any:
    """Acknowledge an open alert (someone has seen it)."""
    try:
        return AlertOut(**inbox(request).acknowledge(alert_id, actor=body.actor,
                                                     note=body.note).as_dict())
    except TraceBridgeError as error:
        return _error(error)


@router.post("/alerts/{alert_id}/assign", response_model=AlertOut, responses=RESPONSES)
def assign(request: Request, alert_id: int, body: Assign) -> Any:
    """Hand an alert to someone (again, to hand it on)."""
    try:
        return AlertOut(**inbox(request).assign(alert_id, actor=body.actor,
                                                assignee=body.assignee,
                                                note=body.note).as_dict())
    except TraceBridgeError as error:
        return _error(error)


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut, responses=RESPONSES)
def resolve(request: Request, alert_id: int, body: Resolve) -> Any:
    """Resolve an alert with a note saying why."""
    try:
        return AlertOut(**inbox(request).resolve(alert_id, actor=body.actor,
                                                 note=body.note).as_dict())
    except TraceBridgeError as error:
        return _error(error)
