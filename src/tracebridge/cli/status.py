"""``tracebridge status``: interface health per connector (Rich table or ``--json``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tracebridge.bootstrap import bootstrap
from tracebridge.monitor.health import connector_health


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "—"


def _age(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:,.0f}"


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per connector: last success, throughput, lag, error rate, DLQ depth, outbox backlog."""
    health = connector_health(bootstrap().engine)
    if as_json:
        typer.echo(json.dumps([c.as_dict() for c in health], ensure_ascii=False))
        return
    table = Table(title="Interface health")
    for column in ("connector", "last success", "received", "per min (1 h)", "lag s",
                   "error rate", "DLQ", "outbox pending", "outbox dead", "oldest pending s"):
        table.add_column(column, justify="left" if column in ("connector", "last success")
                         else "right")
    for c in health:
        table.add_row(
            c.connector, _when(c.last_success), f"{c.records_received:,}",
            f"{c.throughput_per_minute:g}",
            "—" if c.lag_seconds is None else f"{c.lag_seconds:,.0f}",
            "—" if c.error_rate is None else f"{c.error_rate:.1%}",
            f"[red]{c.dlq_depth}[/red]" if c.dlq_depth else "0",
            "—" if c.outbox_backlog is None else str(c.outbox_backlog),
            "—" if c.outbox_dead is None else (
                f"[red]{c.outbox_dead}[/red]" if c.outbox_dead else "0"),
            _age(c.outbox_oldest_pending_age_seconds))
    if not health:
        Console().print("No connector has sent anything yet.")
        return
    Console().print(table)  # built per call: the terminal width is the caller's, now


def register(app: typer.Typer) -> None:
    app.command("status")(status)
