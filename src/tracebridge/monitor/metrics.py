"""Prometheus metrics: the interface health figures, read from the store at each scrape.

Nothing is counted in process memory, so the API, the watchers and the consumers can run
as separate processes and one scrape of ``GET /metrics`` still sees them all.

>>> names = [m.name for m in health_families([ConnectorHealth("wms", records_received=3)])]
>>> "tracebridge_connector_records_received" in names
True
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from tracebridge.monitor.health import ConnectorHealth, connector_health

CONTENT_TYPE = CONTENT_TYPE_LATEST


def health_families(connectors: Sequence[ConnectorHealth]) -> Iterator[Metric]:
    """One metric family per health figure, labelled by connector."""
    received = CounterMetricFamily(
        "tracebridge_connector_records_received", "Raw records received from the connector.",
        labels=["connector"])
    gauges = {
        "last_success": GaugeMetricFamily(
            "tracebridge_connector_last_success_timestamp_seconds",
            "Record time of the newest event stored from the connector (Unix time).",
            labels=["connector"]),
        "throughput": GaugeMetricFamily(
            "tracebridge_connector_throughput_records_per_minute",
            "Raw records received per minute over the last hour.", labels=["connector"]),
        "lag": GaugeMetricFamily(
            "tracebridge_connector_lag_seconds",
            "Now minus the newest source event time of the connector.", labels=["connector"]),
        "error_rate": GaugeMetricFamily(
            "tracebridge_connector_error_rate",
            "Share of the last hour's records that became dead letters.", labels=["connector"]),
        "dlq": GaugeMetricFamily(
            "tracebridge_connector_dead_letters_open", "Open dead letters of the connector.",
            labels=["connector"]),
        "outbox": GaugeMetricFamily(
            "tracebridge_connector_outbox_backlog",
            "Outbound messages to the connector still pending.", labels=["connector"]),
        "outbox_dead": GaugeMetricFamily(
            "tracebridge_connector_outbox_dead",
            "Outbound messages to the connector that are dead (refused or out of retries).",
            labels=["connector"]),
        "outbox_age": GaugeMetricFamily(
            "tracebridge_connector_outbox_oldest_pending_age_seconds",
            "How long the oldest pending outbound message to the connector has waited.",
            labels=["connector"]),
    }
    for c in connectors:
        label = [c.connector]
        received.add_metric(label, c.records_received)
        gauges["throughput"].add_metric(label, c.throughput_per_minute)
        gauges["dlq"].add_metric(label, c.dlq_depth)
        if c.last_success is not None:
            gauges["last_success"].add_metric(label, c.last_success.timestamp())
        if c.lag_seconds is not None:
            gauges["lag"].add_metric(label, c.lag_seconds)
        if c.error_rate is not None:
            gauges["error_rate"].add_metric(label, c.error_rate)
        if c.outbox_backlog is not None:
            gauges["outbox"].add_metric(label, c.outbox_backlog)
        if c.outbox_dead is not None:
            gauges["outbox_dead"].add_metric(label, c.outbox_dead)
        if c.outbox_oldest_pending_age_seconds is not None:
            gauges["outbox_age"].add_metric(label, c.outbox_oldest_pending_age_seconds)
    yield received
    yield from gauges.values()


class StoreCollector(Collector):
    """Collects :func:`health_families` from the store on every scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterable[Metric]:
        return list(health_families(connector_health(self.engine)))


def render(engine: Engine) -> bytes:
    """The Prometheus text exposition of the store's interface health."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(engine))
    return generate_latest(registry)
