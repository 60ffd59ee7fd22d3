"""Choices several commands share: which mapping a connector command uses."""

from __future__ import annotations

from pathlib import Path

import typer

from tracebridge.cli.output import errors
from tracebridge.errors import TraceBridgeError
from tracebridge.mapping.engine import Mapping, load_mapping


def mapping_from(source: str | None, mapping: Path | None) -> Mapping:
    """The mapping named by exactly one of ``--source NAME`` or ``--mapping FILE``; exit 2 else."""
    if (source is None) == (mapping is None):
        errors.print("Give exactly one of --source NAME (erp, wms …) or --mapping FILE.")
        raise typer.Exit(2)
    try:
        return load_mapping(mapping if mapping is not None else str(source))
    except TraceBridgeError as error:
        errors.print(f"[red]{error.message}[/red]")
        raise typer.Exit(2) from error
