"""The composition root: the only place that builds engines, services and connectors.

Nothing opens a database at import time; entry points (CLI, API, tests) call
``bootstrap`` with settings and get back the services they need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from tracebridge.dispatch.dispatcher import Dispatcher
from tracebridge.dispatch.endpoints import (
    DispatchSettings,
    build_outbounds,
    load_target_mappings,
)
from tracebridge.dispatch.forwarding import ForwardToTargets
from tracebridge.ingest.dead_letters import DeadLetterService
from tracebridge.ingest.service import IngestService
from tracebridge.quality.service import QualityService
from tracebridge.settings import Settings
from tracebridge.store.database import make_engine, upgrade
from tracebridge.trace.service import TraceService


@dataclass
class Container:
    settings: Settings
    engine: Engine
    ingest: IngestService
    trace: TraceService
    quality: QualityService
    dead_letters: DeadLetterService
    forwarding: ForwardToTargets  # the reaction writing outbox messages for WMS and ERP
    new_dispatcher: Callable[[], Dispatcher]  # connectors open on first send; caller closes

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(settings: Settings | None = None, *, migrate: bool = True) -> Container:
    settings = settings or Settings()
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    dispatch_settings = DispatchSettings()
    forwarding = ForwardToTargets(load_target_mappings(dispatch_settings))

    def new_dispatcher() -> Dispatcher:
        outbounds = build_outbounds(
            dispatch_settings, forwarding.targets, data_dir=settings.data_dir
        )
        return Dispatcher(engine, outbounds)

    reactions = (forwarding,)
    return Container(
        settings=settings,
        engine=engine,
        ingest=IngestService(engine, batch_size=settings.batch_size, reactions=reactions),
        trace=TraceService(engine),
        quality=QualityService(engine, reactions=reactions),
        dead_letters=DeadLetterService(engine, reactions=reactions),
        forwarding=forwarding,
        new_dispatcher=new_dispatcher,
    )
