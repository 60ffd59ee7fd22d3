"""Lot decisions (`tracebridge hold`, `release-hold` …) and `tracebridge dispatch`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from tracebridge.cli.output import report
from tracebridge.errors import IllegalTransition, NotFound

Reason = Annotated[str, typer.Option("--reason", help="Why (kept with the decision).")]
Actor = Annotated[str, typer.Option("--actor", help="User id of who decides.")]
Gtin = Annotated[str, typer.Argument(metavar="GTIN", help="GTIN of the lot's product.")]
Lot = Annotated[str, typer.Argument(metavar="LOT", help="Lot (batch) number.")]
Serials = Annotated[list[str] | None, typer.Option(
    "--serial", metavar="SERIAL",
    help="Only this unit of the lot (repeat for more); the lot's own status is unchanged.")]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("hold")(hold)
    app.command("release-hold")(release_hold)
    app.command("release")(release)
    app.command("recall-block")(recall_block)
    app.command("expiry-block")(expiry_block)
    app.command("dispatch")(dispatch)


def _decide(command: str, gtin: str, lot: str, **arguments: Any) -> None:
    from tracebridge.bootstrap import bootstrap

    container = bootstrap()
    try:
        decision = getattr(container.quality, command.replace("-", "_"))(gtin, lot, **arguments)
    except (IllegalTransition, NotFound) as error:
        report(error)
        raise typer.Exit(1) from None
    finally:
        container.close()
    queued = ", ".join(decision.messages) or "no target"
    units = f" of {len(decision.serials)} unit(s): {', '.join(decision.serials)}" if (
        decision.serials) else ""
    typer.echo(f"{decision.gtin}/{decision.lot}: {decision.status_before} → "
               f"{decision.status_after} ({decision.event_kind}{units}); queued for {queued}")


def hold(gtin: Gtin, lot: Lot, reason: Reason, actor: Actor, serial: Serials = None) -> None:
    """Put a lot — or single units of it (--serial) — on hold: WMS and ERP are told."""
    _decide("hold", gtin, lot, reason=reason, actor=actor, serials=tuple(serial or ()))


def release_hold(gtin: Gtin, lot: Lot, reason: Reason, actor: Actor,
                 serial: Serials = None) -> None:
    """Lift a hold: the lot returns to the status the hold interrupted (or the units are free)."""
    _decide("release-hold", gtin, lot, reason=reason, actor=actor, serials=tuple(serial or ()))


def release(gtin: Gtin, lot: Lot, reason: Reason, actor: Actor) -> None:
    """Batch release of a quarantined lot."""
    _decide("release", gtin, lot, reason=reason, actor=actor)


def recall_block(
    gtin: Gtin, lot: Lot, reason: Reason, actor: Actor,
    recall: Annotated[str, typer.Option("--recall", help="Recall number.")],
) -> None:
    """Block a lot that is in a recall's scope."""
    _decide("block-for-recall", gtin, lot, reason=reason, actor=actor, recall_id=recall)


def expiry_block(gtin: Gtin, lot: Lot, reason: Reason, actor: Actor) -> None:
    """Block a released lot whose expiry date has passed."""
    _decide("block-expired", gtin, lot, reason=reason, actor=actor)


def dispatch(
    once: Annotated[bool, typer.Option("--once", help="Send what is due, then stop.")] = False,
    requeue_dead: Annotated[str | None, typer.Option(
        "--requeue-dead", metavar="TARGET",
        help="First put TARGET's dead messages back in line (after fixing the target).")] = None,
) -> None:
    """Send outbox messages to WMS and ERP, in order per lot (runs until Ctrl-C without --once)."""
    from tracebridge.bootstrap import bootstrap
    from tracebridge.dispatch import outbox

    container = bootstrap()
    try:
        if requeue_dead is not None:
            with container.engine.begin() as conn:
                count = outbox.requeue_dead(conn, target=requeue_dead, now=outbox.now_utc())
            typer.echo(f"requeued {count} dead message(s) for {requeue_dead}")
        dispatcher = container.new_dispatcher()
        if once:
            report = dispatcher.run_once()
            dispatcher.close()
            with container.engine.connect() as conn:
                backlog = outbox.backlog(conn)
            typer.echo(json.dumps({**report.as_dict(), "backlog": backlog}, indent=2))
        else:
            try:
                dispatcher.run_forever()
            except KeyboardInterrupt:
                typer.echo("dispatcher stopped")
    finally:
        container.close()
