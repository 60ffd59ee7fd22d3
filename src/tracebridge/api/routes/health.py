"""Liveness and readiness: ``GET /health`` answers only when the database does."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

router = APIRouter(tags=["health"])


class Health(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    status: Literal["ok", "unavailable"]
    database: Literal["ok", "error"]


@router.get("/health", response_model=Health,
            responses={503: {"model": Health, "description": "The database does not answer."}})
def health(request: Request) -> Health | JSONResponse:
    try:
        with request.app.state.container.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        down = Health(status="unavailable", database="error")
        return JSONResponse(status_code=503, content=down.model_dump())
    return Health(status="ok", database="ok")
