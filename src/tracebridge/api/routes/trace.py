"""``GET /trace/{ref}``: backward and forward trace of a lot, serial or scanned UDI."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from tracebridge.api.errors import RESPONSES
from tracebridge.trace.model import Direction, TraceResult

router = APIRouter(tags=["trace"])


@router.get("/trace/{ref:path}", response_model=TraceResult, responses=RESPONSES)
def trace(
    request: Request,
    ref: str,
    direction: Direction = "both",
    as_of: Annotated[datetime | None, Query(
        description="Record time to trace as of (ISO 8601; without an offset it is UTC).")] = None,
) -> TraceResult:
    """Trace a lot number, serial, `gtin:lot`, GS1 Digital Link path or UDI string."""
    result: TraceResult = request.app.state.container.trace.trace(
        ref, direction=direction, as_of=as_of)
    return result
