"""``tracebridge reconcile [--since …] [--json] [--every 1h]`` and ``reconcile show FINDING_ID``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tracebridge.cli.choose import parse_duration, parse_since
from tracebridge.cli.output import report
from tracebridge.errors import FindingNotFound, ReconciliationConfigError

if TYPE_CHECKING:
    from tracebridge.bootstrap import Container
    from tracebridge.reconcile.service import ReconcileService

app = typer.Typer(
    help="Compare ERP and WMS per lot and location; findings close when a later record "
    "resolves them.",
    invoke_without_command=True,
    no_args_is_help=False,
)

def _service(tolerances: Path | None) -> tuple[Container, ReconcileService]:
    from tracebridge.bootstrap import bootstrap
    from tracebridge.reconcile.service import ReconcileService
    from tracebridge.reconcile.tolerances import load_tolerances

    container = bootstrap()
    try:
        return container, ReconcileService(container.engine, tolerances=load_tolerances(tolerances))
    except ReconciliationConfigError as error:
        container.close()
        report(error)
        raise typer.Exit(2) from None


@app.callback()
def reconcile(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(
        help="Only lots changed since this time (ISO 8601) or duration ago (24h); lots "
        "with open findings are always re-checked.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run and findings as JSON.")]
    = False,
    every: Annotated[str | None, typer.Option(
        help="Run again every interval (30m, 1h …) until interrupted: the scheduled job.")]
    = None,
    tolerances: Annotated[Path | None, typer.Option(
        help="Tolerances YAML (default: the built-in one).", exists=True, dir_okay=False)]
    = None,
) -> None:
    """Compare ERP and WMS per lot and location and update the findings."""
    if ctx.invoked_subcommand is not None:
        return
    interval = parse_duration(every, option="--every") if every else None
    start = parse_since(since, now=datetime.now(UTC)) if since else None
    container, service = _service(tolerances)
    try:
        if interval is None:
            report = service.run(since=start)
            _print(report.as_dict(), service.summary(limit=100_000), as_json=as_json)
            return
        try:
            service.run_every(interval, on_run=lambda r: _print_line(r.as_dict(), as_json))
        except KeyboardInterrupt:
            return
    finally:
        container.close()


@app.command("show")
def show(
    finding_id: Annotated[int, typer.Argument(metavar="FINDING_ID", help="Finding number.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the finding as JSON.")] = False,
) -> None:
    """A finding with both sides' source records and their raw payloads."""
    container, service = _service(None)
    try:
        detail = service.show(finding_id)
    except FindingNotFound as error:
        report(error)
        raise typer.Exit(1) from None
    finally:
        container.close()
    if as_json:
        typer.echo(json.dumps(detail, indent=2, ensure_ascii=False))
        return
    console = Console()
    _finding_table(console, [detail], title=f"Finding {finding_id} ({detail['status']})")
    for side in ("left", "right"):
        console.print(f"\n[bold]{detail[side]['system']}[/bold] source records")
        for source in detail[f"{side}_sources"]:
            console.print(
                f"  {source['source_record_id']} v{source['version']} {source['kind']} "
                f"at {source['event_time']} — {source['origin']}", highlight=False)
            console.print(f"    {source['raw_payload']}", highlight=False, markup=False)


def _print_line(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
    else:
        typer.echo(_headline(report))


def _headline(report: dict[str, Any]) -> str:
    kpi = report["consistency"]
    share = "n/a" if kpi is None else f"{kpi:.1%}"
    return (f"run {report['run_id']}: {report['lots_checked']} lots checked, "
            f"{len(report['opened'])} findings opened, {len(report['closed'])} closed, "
            f"{report['open_total']} open; ERP/WMS consistency {share} "
            f"({report['lots_agreeing']} of {report['lots_total']} lots agree)")


def _print(report: dict[str, Any], summary: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"run": report, "findings": summary["findings"]}, indent=2,
                              ensure_ascii=False))
        return
    typer.echo(_headline(report))
    if summary["findings"]:
        _finding_table(Console(), summary["findings"], title="Open findings")


def _finding_table(console: Console, findings: list[dict[str, Any]], *, title: str) -> None:
    table = Table(title=title)
    for column in ("id", "code", "lot", "location", "reference", "ERP/left", "WMS/right",
                   "first seen"):
        table.add_column(column, overflow="fold")
    for f in findings:
        table.add_row(
            str(f["id"]), f["code"], f"{f['gtin']}/{f['lot']}", f["location"], f["reference"],
            f"{_value(f['left']['value'])} ({', '.join(f['left']['records'][-3:])})",
            f"{_value(f['right']['value'])} ({', '.join(f['right']['records'][-3:])})",
            f["first_seen_at"][:19],
        )
    console.print(table)


def _value(value: object) -> str:
    if isinstance(value, list):
        return f"{len(value)} serials only here"
    return "—" if value is None else str(value)
