"""`tracebridge sim` commands: generate a simulated plant's ERP and WMS exports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tracebridge.errors import TraceBridgeError
from tracebridge.sim.faults import load_fault_rates
from tracebridge.sim.generator import generate

app = typer.Typer(help="Simulate a medical-device plant and its ERP/WMS exports.",
                  no_args_is_help=True)


@app.command("generate")
def generate_command(
    out: Annotated[Path, typer.Option("--out", help="Directory to write erp/, wms/, truth/")],
    seed: Annotated[int, typer.Option("--seed", help="Same seed and scale, same bytes")] = 1,
    scale: Annotated[float, typer.Option("--scale", help="1 = about 10,000 records")] = 1.0,
    faults: Annotated[str, typer.Option(
        "--faults", help="'default', 'none', 'rules' (every rule-targeting fault on) "
        "or a YAML file of fault rates")] = "default",
) -> None:
    """Write the ERP and WMS exports of a simulated plant, with its ground truth."""
    console = Console(stderr=True)
    try:
        rates = load_fault_rates(faults)
        with Progress(TextColumn("simulating days"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as progress:
            task = progress.add_task("days", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            summary = generate(out, seed=seed, scale=scale, faults=rates, progress=advance)
    except TraceBridgeError as e:
        console.print(f"[red]error[/red] {escape(f'[{e.code}] {e.message}')}")
        raise typer.Exit(code=2) from e
    fault_total = sum(summary.faults.values())
    typer.echo(f"{summary.total_records} records over {summary.days} days "
               f"({summary.lots} lots, {summary.work_orders} work orders, "
               f"{summary.deliveries} deliveries, {fault_total} faults) written to {out}")
