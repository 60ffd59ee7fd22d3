"""Where commands write: results to stdout, problems to stderr — never hard-wrapped.

Error lines carry file paths and record ids that scripts and people copy; Rich would
otherwise break them at the terminal width.
"""

from __future__ import annotations

from rich.console import Console

from tracebridge.errors import TraceBridgeError

errors = Console(stderr=True, soft_wrap=True, highlight=False)


def report(error: TraceBridgeError) -> None:
    """One line: the stable code, then what was given and what was expected."""
    errors.print(f"[red]{error.code}[/red]: {error.message}")
