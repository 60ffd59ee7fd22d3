"""`tracebridge dictionary` commands: export the field table, show one entity, check a copy."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from tracebridge.dictionary.export import columns, field_row, to_csv, to_markdown
from tracebridge.dictionary.loader import load_dictionary
from tracebridge.dictionary.model import LANGUAGES, Dictionary, Lang
from tracebridge.errors import TraceBridgeError

app = typer.Typer(help="The versioned data dictionary.", no_args_is_help=True)


class ExportFormat(StrEnum):
    MD = "md"
    CSV = "csv"


class Language(StrEnum):
    ZH_CN = "zh-CN"
    EN = "en"


DictionaryOption = Annotated[
    Path | None,
    typer.Option(
        "--dictionary",
        help="A dictionary.yaml (or its folder) to use instead of the built-in one.",
    ),
]


def _load(path: Path | None) -> Dictionary:
    try:
        return load_dictionary(path)
    except TraceBridgeError as error:
        _fail(error)


def _fail(error: TraceBridgeError) -> NoReturn:
    typer.echo(f"error [{error.code}]: {error.message}", err=True)
    raise typer.Exit(1)


def _languages(chosen: list[Language] | None) -> tuple[Lang, ...]:
    if not chosen:
        return LANGUAGES
    return tuple(lang for lang in LANGUAGES if lang in {c.value for c in chosen})


@app.command()
def export(
    format: Annotated[ExportFormat, typer.Option("--format", "-f")] = ExportFormat.MD,
    lang: Annotated[
        list[Language] | None,
        typer.Option("--lang", help="Label language to include; repeat for several. Default: all."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here, not stdout.")] = None,
    dictionary: DictionaryOption = None,
) -> None:
    """Print the field table every integration vendor gets, as Markdown or CSV."""
    d = _load(dictionary)
    langs = _languages(lang)
    text = to_csv(d, langs=langs) if format is ExportFormat.CSV else to_markdown(d, langs=langs)
    if out is None:
        typer.echo(text, nl=False)
        return
    # A BOM makes Excel, which vendors open CSVs with, read the Chinese labels as UTF-8.
    encoding = "utf-8-sig" if format is ExportFormat.CSV else "utf-8"
    out.write_text(text, encoding=encoding, newline="")
    typer.echo(f"Wrote dictionary {d.version} to {out}", err=True)


@app.command()
def show(
    entity: Annotated[str, typer.Argument(help="Entity name, e.g. lot, product, shipment.")],
    dictionary: DictionaryOption = None,
) -> None:
    """Show one entity's fields as a table."""
    d = _load(dictionary)
    try:
        spec = d.entity(entity)
    except TraceBridgeError as error:
        _fail(error)
    table = Table(
        title=f"{spec.name} — {spec.label.zh_cn} / {spec.label.en}",
        caption=f"{spec.description} Key: {', '.join(spec.key)}. Dictionary {d.version}.",
    )
    for column in columns():
        table.add_column(column, overflow="fold")
    for field in spec.fields.values():
        table.add_row(*field_row(d, field))
    Console().print(table)


@app.command()
def check(
    path: Annotated[
        Path | None, typer.Argument(help="A dictionary.yaml or its folder; default: built-in.")
    ] = None,
) -> None:
    """Validate a dictionary and report every problem as file:line: field."""
    d = _load(path)
    fields = sum(len(entity.fields) for entity in d.entities.values())
    typer.echo(
        f"Dictionary {d.version} (effective {d.effective.isoformat()}) is valid: "
        f"{len(d.entities)} entities, {fields} fields, {len(d.code_lists)} code lists."
    )
