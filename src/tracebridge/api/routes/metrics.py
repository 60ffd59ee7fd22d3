"""Interface health over HTTP: liveness, readiness, per-connector health, Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from tracebridge.monitor import metrics
from tracebridge.monitor.health import connector_health, readiness

router = APIRouter(tags=["health"])


@router.get("/health/live")
def live() -> dict[str, str]:
    """The process answers (no dependency is checked)."""
    return {"status": "alive"}


@router.get("/health/ready", responses={503: {"description": "Database down or not migrated."}})
def ready(request: Request) -> JSONResponse:
    """Ready when the database answers and its schema is at the newest migration."""
    state = readiness(request.app.state.container.engine)
    return JSONResponse(status_code=200 if state.ready else 503, content=state.as_dict())


@router.get("/health/connectors")
def connectors(request: Request) -> list[dict[str, Any]]:
    """Per connector: last success, throughput, lag, error rate, DLQ depth, outbox backlog."""
    return [c.as_dict() for c in connector_health(request.app.state.container.engine)]


@router.get("/metrics", response_class=Response)
def prometheus(request: Request) -> Response:
    """Prometheus text exposition of the interface health."""
    return Response(content=metrics.render(request.app.state.container.engine),
                    media_type=metrics.CONTENT_TYPE)
