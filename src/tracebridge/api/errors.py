"""How deliberate errors reach an API client: a stable code, a message, what to try instead.

``NotFound`` → 404 with ``suggestions``, ``Ambiguous`` → 409 with ``candidates``,
``InvalidIdentifier`` → 422. Each body is an :class:`ErrorBody`, so clients parse one shape.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tracebridge.errors import (
    Ambiguous,
    IllegalTransition,
    InvalidIdentifier,
    NotFound,
    TraceBridgeError,
)


class ErrorBody(BaseModel):
    """The body of every 4xx answer the API gives on purpose."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    code: str = Field(description="Stable error code, e.g. 'not-found'.")
    message: str = Field(description="What was given, what was expected.")
    suggestions: list[str] = Field(default_factory=list,
                                   description="Nearest known identifiers (404).")
    candidates: list[str] = Field(default_factory=list,
                                  description="Every identifier the input matched (409).")


STATUS: dict[type[TraceBridgeError], int] = {NotFound: 404, Ambiguous: 409,
                                             InvalidIdentifier: 422, IllegalTransition: 409}

RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Nothing matches; suggestions lists the nearest."},
    409: {"model": ErrorBody, "description": "More than one lot or unit matches; see candidates."},
    422: {"model": ErrorBody,
          "description": "The identifier (e.g. its check digit) or a parameter is malformed."},
}


def body_of(error: TraceBridgeError) -> ErrorBody:
    return ErrorBody(code=error.code, message=error.message,
                     suggestions=list(getattr(error, "suggestions", [])),
                     candidates=list(getattr(error, "candidates", [])))


async def _handle(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, TraceBridgeError)
    status = next(code for kind, code in STATUS.items() if isinstance(error, kind))
    return JSONResponse(status_code=status, content=body_of(error).model_dump())


async def _invalid_request(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')} (given {e.get('input')!r})"
        for e in error.errors())
    body = ErrorBody(code="invalid-request", message=problems)
    return JSONResponse(status_code=422, content=body.model_dump())


def install(app: FastAPI) -> None:
    """Register the translations above on ``app`` (malformed query parameters too)."""
    for kind in STATUS:
        app.add_exception_handler(kind, _handle)
    app.add_exception_handler(RequestValidationError, _invalid_request)
