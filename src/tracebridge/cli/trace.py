"""``tracebridge trace`` (a lot, serial or UDI, backward and forward) and ``tracebridge serve``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, cast

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from tracebridge.errors import Ambiguous, InvalidIdentifier, NotFound
from tracebridge.trace.model import Direction, LotNode, TraceResult


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("trace")(trace)
    app.command("serve")(serve)


def trace(
    reference: Annotated[str, typer.Argument(
        metavar="ID", help="Lot number, serial, gtin:lot, GS1 Digital Link or UDI string.")],
    direction: Annotated[str, typer.Option(
        help="backward | forward | both")] = "both",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    as_of: Annotated[datetime | None, typer.Option(
        "--as-of", help="Record time to trace as of (ISO 8601; no offset means UTC).")] = None,
) -> None:
    """Trace a lot or unit: components and conditions backward, customers forward."""
    from tracebridge.bootstrap import bootstrap

    err = Console(stderr=True)
    if direction not in ("backward", "forward", "both"):
        err.print(f"Invalid --direction {direction!r}: expected backward, forward or both")
        raise typer.Exit(2)
    chosen = cast(Direction, direction)
    container = bootstrap()
    try:
        result = container.trace.trace(reference, direction=chosen, as_of=as_of)
    except (NotFound, Ambiguous, InvalidIdentifier) as error:
        err.print(f"[red]{error.code}[/red]: {error.message}", highlight=False)
        others = getattr(error, "suggestions", None) or getattr(error, "candidates", None) or []
        for other in others:
            err.print(f"  {other}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        container.close()
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        render(result, Console())


def _label(node: LotNode) -> str:
    name = f" {node.product_name}" if node.product_name else ""
    status = node.status or "unknown"
    return f"[bold]{node.lot}[/bold] ({node.gtin}){name} — {status}, {node.origin}"


def render(result: TraceResult, console: Console) -> None:
    """Show a trace as a Rich tree and tables."""
    s = result.subject
    title = f"{s.kind} {s.serial or s.lot} — {s.udi} (read as {s.interpreted_as})"
    if result.as_of:
        title += f", as of {result.as_of.isoformat()}"
    root = Tree(title)
    root.add(_label(result.lot))
    if result.release:
        root.add(f"released by {result.release.by} at {result.release.at.isoformat()}")
    if result.backward:
        back = root.add("[cyan]backward[/cyan]")
        for node in result.backward.lots:
            supplier = f", supplier {node.supplier.code} lot {node.supplier_lot}" \
                if node.supplier else ""
            back.add(f"depth {node.depth}: {_label(node)}{supplier}")
        for order in result.backward.work_orders:
            branch = back.add(f"work order {order.work_order}")
            for step in order.steps:
                branch.add(f"{step.at.isoformat()} {step.operation or step.kind} "
                           f"on {step.equipment or '-'} by {step.operator or '-'}")
    if result.forward:
        fwd = root.add("[magenta]forward[/magenta]")
        for node in result.forward.lots:
            fwd.add(f"depth {node.depth}: {_label(node)}")
    console.print(root)
    if result.forward and result.forward.shipments:
        table = Table("shipment", "date", "lot", "serial", "qty", "consignee", "kind",
                      title="Shipments")
        for line in result.forward.shipments:
            consignee = line.consignee.name or line.consignee.code if line.consignee else "-"
            quantity = "" if line.quantity is None else f"{line.quantity:g} {line.uom or ''}"
            table.add_row(line.shipment, line.shipped_at.date().isoformat(), line.lot,
                          line.serial or "", quantity, consignee, line.kind)
        console.print(table)
    if result.forward and result.forward.stock:
        stock = Table("lot", "location", "qty", "system", title="Stock")
        for p in result.forward.stock:
            stock.add_row(p.lot, p.location, f"{p.quantity:g} {p.uom or ''}", p.source_system)
        console.print(stock)
    for note in result.notes:
        console.print(f"[yellow]note[/yellow] {note.code}: {note.message}", highlight=False)


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from tracebridge.api.app import create_app
    from tracebridge.bootstrap import bootstrap

    base = f"http://{host}:{port}"
    typer.echo(f"API:    {base}/\nDocs:   {base}/docs\nHealth: {base}/health")
    uvicorn.run(create_app(bootstrap(), freeze_heap=True), host=host, port=port)
