"""``tracebridge dlq list|show|retry|discard``: the dead-letter store at the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tracebridge.bootstrap import bootstrap
from tracebridge.cli.output import errors
from tracebridge.errors import TraceBridgeError
from tracebridge.ingest.dead_letters import RetryOutcome
from tracebridge.ingest.http import source_mapping
from tracebridge.mapping import Mapping, load_mapping

app = typer.Typer(help="Records that failed to map: list, show, retry, discard.",
                  no_args_is_help=True)
console = Console()


def _fail(error: TraceBridgeError) -> typer.Exit:
    errors.print(f"[red]{error.code}: {error.message}[/red]")
    return typer.Exit(1)


@app.command("list")
def list_letters(
    source: Annotated[str | None, typer.Option(help="Only this source system.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason code.")] = None,
    status: Annotated[str | None, typer.Option(help="open, retried or discarded.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List dead letters, oldest first."""
    container = bootstrap()
    letters = container.dead_letters.find(source=source, reason=reason,
                                                       status=status, limit=limit)
    if as_json:
        typer.echo(json.dumps([letter.as_dict() for letter in letters], ensure_ascii=False))
        return
    table = Table(title=f"Dead letters ({len(letters)})")
    for column in ("id", "source", "type", "origin", "reason", "status", "attempts", "created"):
        table.add_column(column)
    for letter in letters:
        table.add_row(str(letter.id), letter.source_system, letter.record_type, letter.origin,
                      letter.reason, letter.status, str(letter.attempts),
                      letter.created_at.isoformat(timespec="seconds"))
    console.print(table)


@app.command()
def show(
    letter_id: Annotated[int, typer.Argument(help="Dead letter id (see 'dlq list').")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One dead letter: raw bytes, source, origin, reason, field errors, attempts, actions."""
    try:
        detail = bootstrap().dead_letters.show(letter_id)
    except TraceBridgeError as error:
        raise _fail(error) from error
    if as_json:
        typer.echo(json.dumps(detail.as_dict(), ensure_ascii=False))
        return
    s = detail.summary
    console.print(f"[bold]dead letter {s.id}[/bold]  {s.status}  attempts {s.attempts}")
    console.print(f"source {s.source_system} / {s.record_type}  origin {s.origin}  "
                  f"raw record {detail.raw_record_id}  reason [red]{s.reason}[/red]")
    for e in detail.errors:
        console.print(f"  {e.get('field')}: {e.get('message')}"
                      + (f" (given {e.get('value')!r})" if e.get("value") is not None else ""))
    console.print("raw bytes:", style="bold")
    console.print(repr(detail.payload), markup=False, highlight=False)
    for action in detail.actions:
        console.print(f"  {action.at.isoformat(timespec='seconds')} {action.action} by "
                      f"{action.actor}" + (f": {action.reason}" if action.reason else ""))


def _print_outcomes(outcomes: list[RetryOutcome]) -> None:
    for outcome in outcomes:
        if outcome.succeeded:
            console.print(f"{outcome.id}: retried, {outcome.events_stored} event(s) stored")
        else:
            detail = "; ".join(f"{e['field']}: {e['message']}" for e in outcome.errors)
            console.print(f"{outcome.id}: still failing ({outcome.reason}: {detail})")


@app.command()
def retry(
    letter_id: Annotated[int | None, typer.Argument(help="Dead letter id.")] = None,
    all_open: Annotated[bool, typer.Option("--all", help="Every open dead letter.")] = False,
    mapping: Annotated[Path | None, typer.Option(
        help="Mapping file to use; default the source's current mapping.")] = None,
    actor: Annotated[str, typer.Option(help="Who retries (kept in the action log).")] = "cli",
) -> None:
    """Re-run dead letters through the (fixed) mapping."""
    if (letter_id is None) == (not all_open):
        errors.print("Give exactly one of a dead letter ID or --all.")
        raise typer.Exit(2)
    container = bootstrap()
    service = container.dead_letters
    try:
        given: Mapping | None = load_mapping(mapping) if mapping is not None else None
        if letter_id is not None:
            source = service.show(letter_id).summary.source_system
            chosen = given or source_mapping(container.settings, source)
            outcomes = [service.retry(letter_id, chosen, actor=actor)]
        elif given is not None:
            outcomes = service.retry_all(given, actor=actor)
        else:
            sources = sorted({s.source_system for s in service.find(status="open",
                                                                   limit=1_000_000)})
            outcomes = [o for s in sources for o in service.retry_all(
                source_mapping(container.settings, s), actor=actor)]
    except TraceBridgeError as error:
        raise _fail(error) from error
    _print_outcomes(outcomes)
    if any(not o.succeeded for o in outcomes):
        raise typer.Exit(1)


@app.command()
def discard(
    letter_id: Annotated[int, typer.Argument(help="Dead letter id.")],
    reason: Annotated[str, typer.Option(help="Why the record is given up.")],
    actor: Annotated[str, typer.Option(help="Who gives it up.")],
) -> None:
    """Close a dead letter for good; who, when and why are kept."""
    try:
        bootstrap().dead_letters.discard(letter_id, reason=reason, actor=actor)
    except TraceBridgeError as error:
        raise _fail(error) from error
    console.print(f"{letter_id}: discarded by {actor}")
