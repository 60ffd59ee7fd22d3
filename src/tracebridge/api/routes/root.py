"""``GET /``: what this server is and where to go next (the console is a later issue)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from tracebridge import __version__

router = APIRouter(tags=["health"])


class Index(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: str
    docs: str
    openapi: str
    health: str
    trace: str


@router.get("/", response_model=Index)
def index() -> Index:
    return Index(name="TraceBridge", version=__version__, docs="/docs",
                 openapi="/openapi.json", health="/health",
                 trace="/trace/{lot, serial, GS1 Digital Link or UDI}")
