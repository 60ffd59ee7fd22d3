"""The composition root: the only place that builds engines, services and connectors.

Nothing opens a database at import time; entry points (CLI, API, tests) call
``bootstrap`` with settings and get back the services they need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from tracebridge import process
from tracebridge.alerts.delivery import (
    AlertSettings,
    build_alert_outbounds,
    configured_channels,
    with_alert_channels,
)
from tracebridge.alerts.inbox import AlertInbox
from tracebridge.dispatch.dispatcher import Dispatcher
from tracebridge.dispatch.endpoints import (
    DispatchSettings,
    build_outbounds,
    load_target_mappings,
)
from tracebridge.dispatch.forwarding import ForwardToTargets
from tracebridge.ingest.dead_letters import DeadLetterService
from tracebridge.ingest.service import IngestService
from tracebridge.quality.rules_reaction import RulesReaction
from tracebridge.quality.service import QualityService
from tracebridge.recall.service import RecallService
from tracebridge.reconcile.service import ReconcileService
from tracebridge.reconcile.tolerances import load_tolerances
from tracebridge.rules.evaluation import CompiledRule
from tracebridge.rules.loader import load_builtin
from tracebridge.settings import Settings
from tracebridge.store.database import make_engine, upgrade
from tracebridge.store.writer import Reaction
from tracebridge.trace.service import TraceService


@dataclass
class Container:
    settings: Settings
    engine: Engine
    ingest: IngestService
    trace: TraceService
    quality: QualityService
    dead_letters: DeadLetterService
    reconcile: ReconcileService
    recall: RecallService
    alerts: AlertInbox
    rule_set: list[CompiledRule]
    forwarding: ForwardToTargets  # the reaction writing outbox messages for WMS and ERP
    new_dispatcher: Callable[[], Dispatcher]  # connectors open on first send; caller closes

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(settings: Settings | None = None, *, migrate: bool = True) -> Container:
    settings = settings or Settings()
    alert_settings = AlertSettings()
    # Every connection of this engine queues raised alerts to the configured channels.
    engine = with_alert_channels(make_engine(settings.database_url),
                                 configured_channels(alert_settings))
    if migrate:
        upgrade(engine)
    dispatch_settings = DispatchSettings()
    forwarding = ForwardToTargets(load_target_mappings(dispatch_settings))

    def new_dispatcher() -> Dispatcher:
        outbounds = build_outbounds(
            dispatch_settings, forwarding.targets, data_dir=settings.data_dir
        ) | build_alert_outbounds(alert_settings)
        return Dispatcher(engine, outbounds, idle_seconds=dispatch_settings.idle_seconds)

    # Rules act through a quality service that only forwards: a rule's own decisions are
    # never evaluated by rules again, so consequences stay one step deep.
    rule_set = load_builtin()
    forwarding_only = QualityService(engine, reactions=(forwarding,))
    reactions: tuple[Reaction, ...] = (forwarding,)
    if settings.rules_enabled:
        reactions = (forwarding, RulesReaction(rule_set, quality=forwarding_only))
    quality = QualityService(engine, reactions=reactions)
    container = Container(
        settings=settings,
        engine=engine,
        ingest=IngestService(engine, batch_size=settings.batch_size, reactions=reactions),
        trace=TraceService(engine),
        quality=quality,
        dead_letters=DeadLetterService(engine, reactions=reactions),
        reconcile=ReconcileService(
            engine, tolerances=load_tolerances(settings.reconcile_tolerances)
        ),
        recall=RecallService(engine, quality),
        alerts=AlertInbox(engine),
        rule_set=rule_set,
        forwarding=forwarding,
        new_dispatcher=new_dispatcher,
    )
    if process.owned_by_command:
        process.settle_heap()
    return container
