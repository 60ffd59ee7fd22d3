"""`tracebridge dictionary` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="dictionary", no_args_is_help=True)
