"""``tracebridge alerts list|ack|assign|resolve``: the alert inbox from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from tracebridge.alerts.inbox import Alert, AlertInbox
from tracebridge.cli.output import report
from tracebridge.errors import TraceBridgeError

app = typer.Typer(help="The alert inbox: list, acknowledge, assign, resolve.",
                  no_args_is_help=True)

AlertId = Annotated[int, typer.Argument(help="Alert id (see `tracebridge alerts list`).")]
Actor = Annotated[str, typer.Option("--actor", help="User id of who acts.")]
Note = Annotated[str | None, typer.Option("--note", help="Why (kept in the action log).")]


@contextmanager
def _inbox() -> Iterator[AlertInbox]:
    from tracebridge.bootstrap import bootstrap

    container = bootstrap()
    try:
        yield container.alerts
    except TraceBridgeError as error:
        report(error)
        raise typer.Exit(1) from None
    finally:
        container.close()


def _line(a: Alert) -> str:
    lot = f"{a.gtin}/{a.lot}" if a.lot else "-"
    who = f" → {a.assignee}" if a.assignee else ""
    return (f"#{a.id:<6} {a.severity:<8} {a.status:<12} {a.code:<26} {lot:<32} "
            f"{a.title_en}{who}")


@app.command("list")
def list_alerts(
    status: Annotated[str | None, typer.Option(help="open|acknowledged|assigned|resolved")] = None,
    severity: Annotated[str | None, typer.Option(help="info|warning|major|critical")] = None,
    code: Annotated[str | None, typer.Option(help="Only this code.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (newest first).")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Alerts, newest first."""
    with _inbox() as inbox:
        found = inbox.find(status=status, severity=severity, code=code, limit=limit)
    if as_json:
        typer.echo(json.dumps([a.as_dict() for a in found], ensure_ascii=False, indent=2))
        return
    for a in found:
        typer.echo(_line(a))
    if not found:
        typer.echo("no alerts")


def _act(action: Callable[[AlertInbox], Alert]) -> None:
    with _inbox() as inbox:
        typer.echo(_line(action(inbox)))


@app.command("ack")
def ack(alert_id: AlertId, actor: Actor, note: Note = None) -> None:
    """Acknowledge an open alert."""
    _act(lambda inbox: inbox.acknowledge(alert_id, actor=actor, note=note))


@app.command("assign")
def assign(alert_id: AlertId, actor: Actor,
           to: Annotated[str, typer.Option("--to", help="User id to hand it to.")],
           note: Note = None) -> None:
    """Assign an alert to someone."""
    _act(lambda inbox: inbox.assign(alert_id, actor=actor, assignee=to, note=note))


@app.command("resolve")
def resolve(alert_id: AlertId, actor: Actor,
            note: Annotated[str, typer.Option("--note", help="Why it is resolved.")]) -> None:
    """Resolve an alert, saying why."""
    _act(lambda inbox: inbox.resolve(alert_id, actor=actor, note=note))
