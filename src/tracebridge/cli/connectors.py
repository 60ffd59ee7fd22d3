"""CLI commands for the long-running connectors in: ``consume`` (RabbitMQ) and ``poll`` (SQL)."""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from tracebridge.bootstrap import bootstrap
from tracebridge.cli.choose import mapping_from
from tracebridge.cli.output import errors
from tracebridge.errors import TraceBridgeError
from tracebridge.ingest.amqp import AmqpConsumer, AmqpSettings, PauseHook
from tracebridge.ingest.db_poll import DbPoller, load_poll_config
from tracebridge.ingest.db_poll import create_source_engine as source_engine
from tracebridge.mapping.engine import load_mapping

console = Console()


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("consume")(consume)
    app.command("poll")(poll)


def _stop_on_signals(stop: Callable[[], None]) -> None:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def consume(
    url: Annotated[str, typer.Option(envvar="TRACEBRIDGE_AMQP_URL",
                                     help="amqp://user:password@host:port/vhost")],
    queue: Annotated[str, typer.Option(help="Durable queue to consume.")],
    source: Annotated[str | None, typer.Option(help="Built-in mapping, e.g. wms.")] = None,
    mapping: Annotated[Path | None, typer.Option(help="A mapping file instead.")] = None,
    exchange: Annotated[str, typer.Option(help="Topic exchange the queue is bound to.")] = (
        "tracebridge.in"),
    binding_key: Annotated[str, typer.Option(help="Binding key, e.g. wms.#")] = "#",
    record_type: Annotated[str | None, typer.Option(
        help="Record type of messages without an AMQP 'type' (default: the mapping's first)."
    )] = None,
    key_field: Annotated[str | None, typer.Option(
        help="Body field holding the source's record id (default: the message id).")] = None,
    prefetch: Annotated[int, typer.Option(help="Messages per batch (and in flight).")] = 500,
    max_wait_ms: Annotated[int, typer.Option(help="Commit a partial batch after this.")] = 200,
    idle_exit: Annotated[float | None, typer.Option(
        help="Exit after the queue was empty this many seconds (default: run until stopped)."
    )] = None,
) -> None:
    """Consume a RabbitMQ queue: batches committed, then acknowledged; poison to dead letters."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    mapper = mapping_from(source, mapping)
    app = bootstrap()
    try:
        settings = AmqpSettings(
            url=url, queue=queue, exchange=exchange, binding_key=binding_key,
            record_type=record_type or mapper.record_types[0], key_field=key_field,
            prefetch=prefetch, max_wait_ms=max_wait_ms,
        )
        consumer = AmqpConsumer(app.ingest, mapper, settings, pause=PauseHook.from_env())
        _stop_on_signals(consumer.stop)
        stats = consumer.run(idle_exit_s=idle_exit)
    finally:
        app.close()
    console.print_json(json.dumps(stats.as_dict()))


def poll(
    config: Annotated[Path, typer.Option(exists=True, dir_okay=False,
                                         help="Poller YAML: name, source_url, query, "
                                              "hwm_column, key_column, mapping.")],
    once: Annotated[bool, typer.Option(help="Poll until caught up, then exit.")] = False,
) -> None:
    """Poll a source database by high-water mark into the event store."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        settings = load_poll_config(config)
        mapper = load_mapping(settings.mapping)
    except TraceBridgeError as error:
        errors.print(f"[red]{error.message}[/red]")
        raise typer.Exit(2) from error
    app = bootstrap()
    source = source_engine(settings.source_url)
    try:
        poller = DbPoller(app.ingest, mapper, settings, source=source,
                          record_type=settings.record_type or mapper.record_types[0])
        _stop_on_signals(poller.stop)
        summary = poller.run(until_caught_up=once)
    except TraceBridgeError as error:
        errors.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from error
    finally:
        source.dispose()
        app.close()
    mark = poller.mark()
    console.print_json(json.dumps({"mark": mark.to_json() if mark else None,
                                   **summary.as_dict()}))
