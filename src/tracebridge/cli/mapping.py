"""`tracebridge mapping` commands: lint a mapping, dry-run it on a sample, print its table.

Register in ``cli/main.py`` with ``app.add_typer(mapping.app, name="mapping")``.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from tracebridge.errors import TraceBridgeError
from tracebridge.mapping.dryrun import dry_run
from tracebridge.mapping.engine import Mapping, load_mapping
from tracebridge.mapping.table import field_table, to_csv, to_markdown, to_xlsx

app = typer.Typer(help="Write and check mapping files (source system → canonical events).",
                  no_args_is_help=True)

MappingArg = Annotated[str, typer.Argument(
    help="A mapping YAML file, a built-in name (erp, wms) or a shipped example "
         "(examples/odoo, examples/erpnext, examples/chinese_erp).")]


class TableFormat(StrEnum):
    MD = "md"
    CSV = "csv"
    XLSX = "xlsx"


def _fail(error: TraceBridgeError) -> NoReturn:
    typer.echo(f"error [{error.code}]: {error.message}", err=True)
    raise typer.Exit(1)


def _load(ref: str) -> Mapping:
    try:
        return load_mapping(ref)
    except TraceBridgeError as error:
        _fail(error)


@app.command()
def check(file: MappingArg) -> None:
    """Load and validate a mapping: exit 0 when it is valid, 1 with file:line: what is wrong."""
    mapping = _load(file)
    typer.echo(f"ok: {mapping.source_name}: mapping '{mapping.mapping_id}' version "
               f"{mapping.version} ({mapping.format}), record types: "
               f"{', '.join(mapping.record_types)}")


@app.command("try")
def try_(
    file: MappingArg,
    sample: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A sample file.")],
    record_type: Annotated[str | None, typer.Option(
        "--record-type", help="Read the sample as this record type (default: by file name).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Dry run: map SAMPLE, print the canonical output and every field-level error; no writes.

    Exits 1 when any record is rejected.
    """
    mapping = _load(file)
    try:
        outcomes = dry_run(mapping, sample, record_type=record_type)
    except TraceBridgeError as problem:
        _fail(problem)
    rejected = sum(not o.ok for o in outcomes)
    if as_json:
        typer.echo(json.dumps({"mapping": mapping.mapping_id, "version": mapping.version,
                               "records": len(outcomes), "rejected": rejected,
                               "results": [o.as_dict() for o in outcomes]},
                              ensure_ascii=False, indent=2))
    else:
        for outcome in outcomes:
            if not outcome.ok:
                typer.echo(f"{outcome.origin}: REJECTED [{outcome.reason}]")
                for error in outcome.errors:
                    value = "" if error.value is None else f" (value {error.value!r})"
                    typer.echo(f"    {error.field}: {error.message}{value}")
                continue
            produced = [str(e["kind"]) for e in outcome.events] + \
                [f"master:{m['entity']}" for m in outcome.master]
            typer.echo(f"{outcome.origin}: {', '.join(produced) or 'skipped'}")
            for item in outcome.events + outcome.master:
                typer.echo("    " + json.dumps(item, ensure_ascii=False, sort_keys=True))
        typer.echo(f"{len(outcomes)} records, {rejected} rejected (nothing was written)")
    raise typer.Exit(1 if rejected else 0)


@app.command()
def table(
    file: MappingArg,
    format: Annotated[TableFormat, typer.Option("--format", "-f")] = TableFormat.MD,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file.")] = None,
) -> None:
    """The source → canonical field table, with data-dictionary labels in zh-CN and en."""
    rows = field_table(_load(file))
    if format is TableFormat.XLSX:
        if out is None:
            typer.echo("error: --format xlsx needs --out FILE.xlsx", err=True)
            raise typer.Exit(2)
        out.write_bytes(to_xlsx(rows))
    else:
        text = to_markdown(rows) if format is TableFormat.MD else to_csv(rows)
        if out is None:
            typer.echo(text, nl=False)
        else:
            out.write_text(text, encoding="utf-8")
    if out is not None:
        typer.echo(f"wrote {len(rows)} rows to {out}", err=True)
