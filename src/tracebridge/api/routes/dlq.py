"""The dead-letter store over HTTP: list, show, retry after a mapping fix, discard with a reason."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tracebridge.api.errors import RESPONSES as TRACE_RESPONSES
from tracebridge.api.errors import ErrorBody
from tracebridge.api.routes.ingest import error_response
from tracebridge.errors import DeadLetterClosed, ReasonRequired, TraceBridgeError, UnsupportedSource
from tracebridge.ingest.dead_letters import DeadLetterService
from tracebridge.ingest.http import source_mapping

router = APIRouter(tags=["dead letters"])

STATUS = {DeadLetterClosed: 409, UnsupportedSource: 409, ReasonRequired: 422}
RESPONSES: dict[int | str, dict[str, Any]] = {
    404: TRACE_RESPONSES[404],
    409: {"model": ErrorBody, "description": "The dead letter is already retried or discarded."},
    422: {"model": ErrorBody, "description": "Discard without an actor or a reason."},
}


class Discard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(description="Why the record is given up (kept in the action log).")
    actor: str = Field(description="Who discards it.")


class Retry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor: str = "api"


def _service(request: Request) -> DeadLetterService:
    service: DeadLetterService = request.app.state.container.dead_letters
    return service


@router.get("/dead-letters")
def list_dead_letters(
    request: Request,
    source: str | None = None,
    reason: str | None = None,
    status: Annotated[str | None, Query(pattern="^(open|retried|discarded)$")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[dict[str, Any]]:
    letters = _service(request).find(source=source, reason=reason, status=status, limit=limit)
    return [letter.as_dict() for letter in letters]


@router.get("/dead-letters/{letter_id}", responses=RESPONSES)
def show_dead_letter(request: Request, letter_id: int) -> dict[str, Any]:
    """The letter with its raw bytes (`payload` as text, `payload_hex` exact) and actions."""
    return _service(request).show(letter_id).as_dict()


@router.post("/dead-letters/{letter_id}/retry", responses=RESPONSES)
def retry_dead_letter(request: Request, letter_id: int, body: Retry | None = None
                      ) -> JSONResponse:
    """Re-map the raw record with the source's current mapping."""
    service = _service(request)
    try:
        letter = service.show(letter_id)
        mapping = source_mapping(request.app.state.container.settings,
                                 letter.summary.source_system)
        outcome = service.retry(letter_id, mapping, actor=(body or Retry()).actor)
    except TraceBridgeError as error:
        return error_response(error, STATUS)
    return JSONResponse(status_code=200 if outcome.succeeded else 422, content=outcome.as_dict())


@router.post("/dead-letters/{letter_id}/discard", responses=RESPONSES)
def discard_dead_letter(request: Request, letter_id: int, body: Discard) -> JSONResponse:
    try:
        letter = _service(request).discard(letter_id, reason=body.reason, actor=body.actor)
    except TraceBridgeError as error:
        return error_response(error, STATUS)
    return JSONResponse(status_code=200, content=letter.as_dict())
