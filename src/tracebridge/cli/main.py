"""The ``tracebridge`` command: one Typer app assembling each capability's commands.

Commands only translate: parse arguments, call one service, print the result.
"""

from __future__ import annotations

import typer

from tracebridge import process
from tracebridge.cli import (
    alerts,
    connectors,
    dictionary,
    dlq,
    mapping,
    quality,
    recall,
    reconcile,
    rules,
    sim,
    status,
    store,
    trace,
    udi,
    watch,
)

app = typer.Typer(
    name="tracebridge",
    help="Quality traceability between ERP and WMS for medical-device makers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(udi.app, name="udi")
app.add_typer(dictionary.app, name="dictionary")
app.add_typer(sim.app, name="sim")
app.add_typer(dlq.app, name="dlq")
app.add_typer(mapping.app, name="mapping")
app.add_typer(reconcile.app, name="reconcile")
app.add_typer(recall.app, name="recall")
app.add_typer(rules.app, name="rules")
app.add_typer(alerts.app, name="alerts")
trace.register(app)
store.register(app)
watch.register(app)
status.register(app)
quality.register(app)
connectors.register(app)


def main() -> None:
    """The ``tracebridge`` command. Its process is its own: once a command has built its
    services, the start-up heap is settled (``process.settle_heap``)."""
    process.owned_by_command = True
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
