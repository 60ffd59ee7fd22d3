"""CLI commands around the store: ingest, rebuild, verify, demo."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from tracebridge.bootstrap import bootstrap
from tracebridge.cli.choose import mapping_from
from tracebridge.cli.output import errors
from tracebridge.ingest.service import IngestSummary, expand
from tracebridge.mapping.engine import load_mapping
from tracebridge.settings import Settings
from tracebridge.store.event_log import verify_chain
from tracebridge.store.rebuild import rebuild as rebuild_projections
from tracebridge.store.rebuild import total_events

console = Console()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _print_summary(summary: IngestSummary) -> None:
    table = Table(title="Ingest summary", show_header=False)
    table.add_row("records received", f"{summary.received:,}")
    table.add_row("events stored", f"{summary.events_stored:,}")
    table.add_row("duplicates skipped", f"{summary.duplicates:,}")
    table.add_row("master-data versions", f"{summary.master_versions:,}")
    table.add_row("rejected (dead letters)", f"{summary.rejected_total:,}")
    for reason, count in sorted(summary.rejected.items()):
        table.add_row(f"  {reason}", f"{count:,}")
    console.print(table)


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.", exists=True)],
    source: Annotated[str | None, typer.Option(help="Built-in source mapping: erp or wms.")] = None,
    mapping: Annotated[
        Path | None, typer.Option(help="A mapping file instead of --source.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Map source files into canonical events; failures go to the dead letters."""
    mapper = mapping_from(source, mapping)
    app = bootstrap()
    files = list(expand(paths))
    with _progress() as progress:
        task = progress.add_task(f"ingest {mapper.source_system}", total=None)
        summary = app.ingest.ingest_paths(
            mapper, files, progress=lambda n: progress.advance(task, n)
        )
    if as_json:
        typer.echo(json.dumps(summary.as_dict()))
    else:
        _print_summary(summary)


def rebuild() -> None:
    """Recompute every projection from the event log."""
    app = bootstrap()
    total = total_events(app.engine)
    with _progress() as progress:
        task = progress.add_task("rebuild projections", total=total)
        replayed = rebuild_projections(app.engine, progress=lambda n: progress.advance(task, n))
    console.print(f"Rebuilt projections from {replayed:,} events.")


def verify() -> None:
    """Check the event log's hash chain; exit 1 if any row was altered."""
    app = bootstrap()
    with app.engine.connect() as conn:
        breaks = verify_chain(conn)
    if breaks:
        for item in breaks[:50]:
            errors.print(f"[red]event {item.seq}: {item.problem}[/red]")
        errors.print(f"[red]{len(breaks)} problem(s): the event log has been altered.[/red]")
        raise typer.Exit(1)
    console.print(f"Event log intact: {total_events(app.engine):,} events, hash chain verified.")


def demo(
    scale: Annotated[
        float, typer.Option(help="Plant size; 1 is about 10,000 source records.")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed of the simulated plant.")] = 7,
    out: Annotated[Path | None, typer.Option(help="Keep the generated exports here.")] = None,
) -> None:
    """Generate the demo plant and ingest its ERP and WMS exports and the hospitals'
    device-tracking reports into the configured store."""
    from tracebridge.sim.faults import FaultRates
    from tracebridge.sim.generator import generate

    target = out or Path(tempfile.mkdtemp(prefix="tracebridge-demo-"))
    console.print(f"Generating the demo plant (scale {scale}, seed {seed}) into {target} …")
    generate(target, seed=seed, scale=scale, faults=FaultRates())
    # Taking over history: the exports are per-type files, not in time order, so the rule pack
    # would judge shipments before the releases that precede them. `rules test` checks it after.
    app = bootstrap(Settings(rules_enabled=False))
    total = IngestSummary()
    with _progress() as progress:
        for source in ("erp", "wms", "device-tracking"):
            mapper = load_mapping(source)
            task = progress.add_task(f"ingest {source}", total=None)

            def advance(n: int, task: TaskID = task) -> None:
                progress.advance(task, n)

            total.add(app.ingest.ingest_paths(mapper, [target / source], progress=advance))
    _print_summary(total)
    console.print("History taken over with the rule pack off; `tracebridge rules test` checks it.")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(ingest)
    app.command()(rebuild)
    app.command()(verify)
    app.command()(demo)
