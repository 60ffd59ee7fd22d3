"""The composition root: the only place that builds engines, services and connectors.

Nothing opens a database at import time; entry points (CLI, API, tests) call
``bootstrap`` with settings and get back the services they need.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from tracebridge.ingest.service import IngestService
from tracebridge.settings import Settings
from tracebridge.store.database import make_engine, upgrade
from tracebridge.trace.service import TraceService


@dataclass
class Container:
    settings: Settings
    engine: Engine
    ingest: IngestService
    trace: TraceService

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(settings: Settings | None = None, *, migrate: bool = True) -> Container:
    settings = settings or Settings()
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    return Container(
        settings=settings,
        engine=engine,
        ingest=IngestService(engine, batch_size=settings.batch_size),
        trace=TraceService(engine),
    )
