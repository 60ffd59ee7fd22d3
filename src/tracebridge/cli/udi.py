"""`tracebridge udi` commands: decode a UDI as scanned or typed."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tracebridge.domain.udi.model import UdiResult, json_value
from tracebridge.domain.udi.parse import expand_typed_separators, parse_udi
from tracebridge.errors import InvalidIdentifier

app = typer.Typer(help="Decode and check Unique Device Identifiers.", no_args_is_help=True)

INVALID_INPUT_EXIT_CODE = 2


@app.command("parse")
def parse_command(
    text: str = typer.Argument(
        ...,
        metavar="STRING",
        help="The UDI: GS1 (AIDC, '(01)…' or Digital Link), HIBCC or ISBT 128. "
        "Type a group separator as \\x1d or <GS>.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Identify the issuing agency and show the DI and production identifiers."""
    try:
        udi = parse_udi(expand_typed_separators(text))
    except InvalidIdentifier as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(INVALID_INPUT_EXIT_CODE) from None
    if as_json:
        typer.echo(json.dumps(udi.as_dict(), ensure_ascii=False, indent=2))
    else:
        Console().print(_table(udi))


def _table(udi: UdiResult) -> Table:
    table = Table(title=escape(f"{udi.agency} UDI  {udi.human_readable}"))
    table.add_column("Field")
    table.add_column("Value")
    summary: list[tuple[str, object]] = [
        ("Issuing agency", udi.agency),
        ("UDI-DI", udi.di),
        ("Lot", udi.lot),
        ("Serial", udi.serial),
        ("Manufacturing date", json_value(udi.production_date)),
        ("Expiry date", json_value(udi.expiry_date)),
        ("SSCC", udi.sscc),
        ("Quantity", udi.quantity),
        ("Distinct identification code", udi.distinct_identification_code),
    ]
    for name, value in summary:
        if value is not None:
            table.add_row(name, escape(str(value)))
    table.add_section()
    for element in udi.elements:
        parsed = json_value(element.value)
        shown = (
            element.raw
            if parsed is None or str(parsed) == element.raw
            else f"{element.raw} → {parsed}"
        )
        table.add_row(escape(f"{element.key} {element.name}"), escape(shown))
    return table
