"""Choices several commands share: which mapping a connector command uses, durations."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
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


_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str, *, option: str) -> timedelta:
    """``30m``, ``1h``, ``7d`` … as a timedelta.

    >>> parse_duration("1h", option="--every")
    datetime.timedelta(seconds=3600)
    """
    match = _DURATION.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise typer.BadParameter(
            f"{text!r}: expected a positive duration such as 30m, 1h or 7d", param_hint=option
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_since(text: str, *, now: datetime) -> datetime:
    """An ISO 8601 time (no offset means UTC) or a duration back from now (``24h``)."""
    if _DURATION.match(text.strip()):
        return now - parse_duration(text, option="--since")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: expected an ISO 8601 time (2026-03-01T08:00) or a duration (24h, 7d)",
            param_hint="--since",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
