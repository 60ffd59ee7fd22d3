"""``POST /ingest/{source}``: a source system posts a batch of JSON, JSON Lines or CSV records.

200 when every record mapped, 422 with per-record errors when some did not (the others
are stored all the same), 401 without the source's ``X-API-Key``, 413 for an oversize batch.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from tracebridge.api.errors import ErrorBody, body_of
from tracebridge.errors import (
    PayloadTooLarge,
    TraceBridgeError,
    Unauthorized,
    UnsupportedSource,
)
from tracebridge.ingest.http import HttpIngest

router = APIRouter(tags=["ingest"])

STATUS = {Unauthorized: 401, PayloadTooLarge: 413, UnsupportedSource: 415}
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No or wrong X-API-Key for the source."},
    404: {"model": ErrorBody, "description": "Unknown source or record type."},
    413: {"model": ErrorBody, "description": "The batch exceeds the byte or record limit."},
    415: {"model": ErrorBody, "description": (
        "The body's type is not the one the source's mapping reads (JSON / JSON Lines, or CSV "
        "as text/csv), or the mapping reads neither.")},
    422: {"description": "Some records failed; the others were stored. `errors` lists each."},
}


def error_response(error: TraceBridgeError, statuses: dict[type[TraceBridgeError], int]
                   ) -> JSONResponse:
    """The ErrorBody answer for an error this router translates itself; others propagate."""
    status = next((code for kind, code in statuses.items() if isinstance(error, kind)), None)
    if status is None:
        raise error
    headers = {"WWW-Authenticate": "X-API-Key"} if status == 401 else None
    return JSONResponse(status_code=status, content=body_of(error).model_dump(), headers=headers)


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the batch is {int(declared):,} bytes; at most {limit:,} are "
                              "accepted per request")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the batch is over {limit:,} bytes, the most accepted per "
                                  "request")
    return bytes(body)


@router.post("/ingest/{source}", responses=RESPONSES)
async def ingest(
    request: Request,
    source: str,
    x_api_key: Annotated[str | None, Header()] = None,
    record_type: Annotated[str | None, Query(
        description="The mapping's record type; default its first.")] = None,
) -> JSONResponse:
    """Keep and map a batch: JSON `{"records": [...]}` or JSON Lines (`application/x-ndjson`)
    for a JSON mapping; the CSV text, header line first (`text/csv`), for a CSV mapping."""
    container = request.app.state.container
    use_case = HttpIngest(container.ingest, container.settings)
    try:
        use_case.authorize(source, x_api_key)
        body = await _read_limited(request, container.settings.max_batch_bytes)
        result = use_case.receive(source, body, content_type=request.headers.get("content-type"),
                                  record_type=record_type)
    except TraceBridgeError as error:
        return error_response(error, STATUS)
    return JSONResponse(status_code=422 if result.errors else 200, content=result.as_dict())
