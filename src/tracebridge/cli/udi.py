"""`tracebridge udi` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="udi", no_args_is_help=True)
