"""The HTTP API: thin routes over the use cases a :class:`~tracebridge.bootstrap.Container` holds.

``create_app(bootstrap())`` builds it; nothing is opened at import time. The OpenAPI
document is at ``/openapi.json`` and the interactive docs at ``/docs``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI

from tracebridge.api import errors
from tracebridge.api.routes import (
    alerts,
    dlq,
    health,
    ingest,
    metrics,
    quality,
    recall,
    reconcile,
    root,
    rules,
    trace,
)
from tracebridge.bootstrap import Container


def _version() -> str:
    try:
        return version("tracebridge")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def create_app(container: Container) -> FastAPI:
    """The FastAPI application serving ``container``'s use cases."""
    app = FastAPI(
        title="TraceBridge",
        version=_version(),
        description="Quality traceability between ERP and WMS for medical-device makers.",
        openapi_url="/openapi.json",
        docs_url="/docs",
    )
    app.state.container = container
    errors.install(app)
    app.include_router(root.router)
    app.include_router(health.router)
    app.include_router(trace.router)
    app.include_router(ingest.router)
    app.include_router(dlq.router)
    app.include_router(quality.router)
    app.include_router(metrics.router)
    app.include_router(reconcile.router)
    app.include_router(recall.router)
    app.include_router(rules.router)
    app.include_router(alerts.router)
    return app
