"""``POST /lots/{gtin}/{lot}/hold`` and the other lot decisions: thin calls to ``QualityService``.

An ``Idempotency-Key`` request header makes a retried request one decision.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tracebridge.api.errors import RESPONSES, ErrorBody, body_of
from tracebridge.errors import IllegalTransition

router = APIRouter(tags=["quality"])

Command = Literal["hold", "release-hold", "release", "recall-block", "expiry-block"]
_METHOD = {"hold": "hold", "release-hold": "release_hold", "release": "release",
           "recall-block": "block_for_recall", "expiry-block": "block_expired"}


class DecisionIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    reason: str = Field(min_length=1, max_length=200, description="Why.")
    actor: str = Field(min_length=1, max_length=64, description="User id of who decides.")
    recall_id: str | None = Field(None, description="Recall number (recall-block only).")
    serials: list[str] | None = Field(
        None, max_length=10_000,
        description="Hold or release only these units (hold and release-hold only); the "
        "lot's own status is unchanged.")


class DecisionOut(BaseModel):
    command: str
    gtin: str
    lot: str
    event_kind: str
    status_before: str
    status_after: str
    event_id: str
    event_seq: int | None = Field(description="None when the request was already decided.")
    messages: list[str] = Field(description="Targets a message was queued for.")
    serials: list[str] = Field(description="The units held or freed; empty for the whole lot.")


@router.post(
    "/lots/{gtin}/{lot}/{command}",
    response_model=DecisionOut,
    responses={**RESPONSES, 409: {"model": ErrorBody,
                                  "description": "The lot's status does not allow this."}},
)
def decide(
    request: Request, gtin: str, lot: str, command: Command, body: DecisionIn,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Any:
    """Hold, lift a hold, release, recall-block or expiry-block a lot; WMS and ERP are told."""
    arguments: dict[str, Any] = {"reason": body.reason, "actor": body.actor,
                                 "command_id": idempotency_key}
    if command == "recall-block":
        arguments["recall_id"] = body.recall_id or ""
    if body.serials:
        if command not in ("hold", "release-hold"):
            error = IllegalTransition(f"Cannot {command} single units of lot {gtin}/{lot}: only "
                                      "hold and release-hold take serials; expected no serials")
            return JSONResponse(status_code=409, content=body_of(error).model_dump())
        arguments["serials"] = tuple(body.serials)
    service = request.app.state.container.quality
    try:
        decision = getattr(service, _METHOD[command])(gtin, lot, **arguments)
    except IllegalTransition as error:
        return JSONResponse(status_code=409, content=body_of(error).model_dump())
    return DecisionOut(**decision.as_dict())
