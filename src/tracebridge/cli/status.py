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

console = Console()


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "—"


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
                   "error rate", "DLQ", "outbox"):
        table.add_column(column, justify="left" if column in ("connector", "last success")
                         else "right")
    for c in health:
        table.add_row(
            c.connector, _when(c.last_success), f"{c.records_received:,}",
            f"{c.throughput_per_minute:g}",
            "—" if c.lag_seconds is None else f"{c.lag_seconds:,.0f}",
            "—" if c.error_rate is None else f"{c.error_rate:.1%}",
            f"[red]{c.dlq_depth}[/red]" if c.dlq_depth else "0",
            "—" if c.outbox_backlog is None else str(c.outbox_backlog))
    if not health:
        console.print("No connector has sent anything yet.")
        return
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
