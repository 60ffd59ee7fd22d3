"""``tracebridge watch DIR``: ingest the files a source system drops into a folder.

Also runnable as ``python -m tracebridge.cli.watch`` (the crash tests start it that way).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tracebridge.bootstrap import bootstrap
from tracebridge.cli.choose import mapping_from
from tracebridge.ingest.files import DropFolder, FileResult

console = Console()


def watch(
    folder: Annotated[Path, typer.Argument(help="The drop folder.", file_okay=False,
                                           exists=True)],
    source: Annotated[str | None, typer.Option(help="Built-in source mapping: erp or wms.")
                      ] = None,
    mapping: Annotated[Path | None, typer.Option(help="A mapping file instead of --source.")
                       ] = None,
    once: Annotated[bool, typer.Option("--once", help="Take the ready files and stop.")
                    ] = False,
    interval: Annotated[float, typer.Option(help="Seconds between looks.")] = 5.0,
    settle: Annotated[float | None, typer.Option(
        help="Seconds a file must stay unchanged (default TRACEBRIDGE_WATCH_SETTLE_SECONDS)."
    )] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per file.")] = False,
) -> None:
    """Ingest complete files from FOLDER once each; move them to done/ or failed/.

    Write files as NAME.part and rename them when complete; files still changing are skipped.
    """
    mapper = mapping_from(source, mapping)
    container = bootstrap()
    drop = DropFolder(folder, mapper, container.ingest,
                      settle_seconds=container.settings.watch_settle_seconds
                      if settle is None else settle)

    def report(result: FileResult) -> None:
        if as_json:
            typer.echo(json.dumps(result.as_dict(), ensure_ascii=False))
        else:
            rejected = (result.summary or {}).get("rejected_total", 0)
            console.print(f"{result.outcome:>12}  {result.name}  {result.records} record(s)"
                          + (f", {rejected} dead letter(s)" if rejected else "")
                          + (f"  [red]{result.error}[/red]" if result.error else ""))

    if once:
        for result in drop.poll():
            report(result)
        return
    try:
        drop.run(interval=interval, stop=lambda: False, report=report)
    except KeyboardInterrupt:
        console.print("stopped")


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)


main = typer.Typer(add_completion=False)
main.command()(watch)

if __name__ == "__main__":
    main()
