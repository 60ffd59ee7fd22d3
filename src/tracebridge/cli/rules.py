"""``tracebridge rules list|show|test|gaps|run-daily``: rules, dry runs, genealogy gaps."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from tracebridge.cli.choose import parse_duration
from tracebridge.cli.output import errors, report
from tracebridge.errors import RuleError
from tracebridge.rules.evaluation import CompiledRule
from tracebridge.rules.loader import load_builtin, load_rules

app = typer.Typer(help="Quality rules: list, show, dry-run against history, genealogy gaps.",
                  no_args_is_help=True)

Files = Annotated[list[Path] | None, typer.Option(
    "--file", "-f", help="Rule file(s) to use instead of the built-in pack.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _fail(error: RuleError) -> None:
    report(error)
    raise typer.Exit(1)


def _rules(files: list[Path] | None) -> list[CompiledRule]:
    try:
        return load_rules(files) if files else load_builtin()
    except RuleError as error:
        _fail(error)
        raise  # unreachable: _fail exits


@app.command("list")
def list_rules(files: Files = None, as_json: AsJson = False) -> None:
    """Every rule: id, version, severity, trigger and title."""
    rules = _rules(files)
    if as_json:
        typer.echo(json.dumps([_describe(r) for r in rules], ensure_ascii=False, indent=2))
        return
    for r in rules:
        trigger = ",".join(k.value for k in r.rule.trigger.events) or r.rule.trigger.schedule
        typer.echo(f"{r.id:<28} v{r.version}  {r.rule.severity.value:<8}  on {trigger}  "
                   f"{r.rule.title.en} / {r.rule.title.zh_cn}")


@app.command("show")
def show(rule_id: Annotated[str, typer.Argument(help="Rule id, e.g. failed-inspection.")],
         files: Files = None) -> None:
    """One rule in full (every version), as JSON."""
    found = [_describe(r) for r in _rules(files) if r.id == rule_id]
    if not found:
        errors.print(f"not-found: rule {rule_id!r}; see `tracebridge rules list`", markup=False)
        raise typer.Exit(1)
    typer.echo(json.dumps(found, ensure_ascii=False, indent=2))


@app.command("test")
def test(
    file: Annotated[Path, typer.Argument(help="Rule file to try against stored history.")],
    since: Annotated[datetime | None, typer.Option(
        "--since", help="Only events recorded from this time (ISO, UTC).")] = None,
    as_json: AsJson = False,
) -> None:
    """What FILE's rules would have fired on the stored history — nothing is written."""
    from tracebridge.bootstrap import bootstrap
    from tracebridge.quality.rules_reaction import dry_run, run_scheduled

    rules = _rules([file])
    container = bootstrap()
    try:
        moment = since.replace(tzinfo=UTC) if since and since.tzinfo is None else since
        fired = dry_run(container.engine, rules, since=moment)
        with container.engine.connect() as conn:
            fired += run_scheduled(conn, rules, now=datetime.now(UTC), act=False)
            conn.rollback()
    finally:
        container.close()
    _report(fired, as_json=as_json)


@app.command("gaps")
def gaps(as_json: AsJson = False, below: Annotated[float, typer.Option(
        help="Only lots whose completeness score is below this.")] = 1.0) -> None:
    """Completeness of every finished lot's backward chain, and what is missing."""
    from tracebridge.bootstrap import bootstrap
    from tracebridge.quality.completeness import finished_lots, lot_completeness

    container = bootstrap()
    try:
        with container.engine.connect() as conn:
            scores = [lot_completeness(conn, g, lot) for g, lot in finished_lots(conn)]
    finally:
        container.close()
    shown = [s for s in scores if s.score < below]
    if as_json:
        typer.echo(json.dumps({"lots": len(scores), "complete": sum(s.score >= 1 for s in scores),
                               "gaps": [s.as_dict() for s in shown]}, indent=2))
        return
    typer.echo(f"{len(scores)} finished lots, {sum(s.score >= 1 for s in scores)} complete")
    for s in shown:
        typer.echo(f"{s.gtin}/{s.lot}  {s.score:.2f}  {', '.join(s.gaps)}")


@app.command("run-daily")
def run_daily(
    as_json: AsJson = False,
    every: Annotated[str | None, typer.Option(
        help="Run again every interval (24h …) until interrupted: the scheduled job.")]
    = None,
) -> None:
    """Run the scheduled (daily) rules now: firings stored, alerts raised."""
    from tracebridge.bootstrap import bootstrap
    from tracebridge.quality.rules_reaction import run_scheduled

    interval = parse_duration(every, option="--every") if every else None
    container = bootstrap()
    try:
        while True:
            with container.engine.begin() as conn:
                fired = run_scheduled(conn, container.rule_set, now=datetime.now(UTC), act=True)
            _report(fired, as_json=as_json)
            if interval is None:
                return
            time.sleep(interval.total_seconds())
    except KeyboardInterrupt:
        return
    finally:
        container.close()


def _report(fired: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(fired, ensure_ascii=False, indent=2, default=str))
        return
    counts = Counter(str(f.get("rule_id") or f.get("code")) for f in fired)
    typer.echo(f"{len(fired)} firing(s)" + (": " if counts else "") +
               ", ".join(f"{rule} {n}" for rule, n in sorted(counts.items())))
    for f in fired[:50]:
        where = f"{f.get('gtin')}/{f.get('lot')}" if f.get("lot") else "-"
        typer.echo(f"  {f.get('rule_id') or f.get('code')}  seq {f.get('event_seq')}  "
                   f"{f.get('source', '')}  {where}  {f.get('message', '')}".rstrip())
    if len(fired) > 50:
        typer.echo(f"  … {len(fired) - 50} more (use --json)")


def _describe(rule: CompiledRule) -> dict[str, Any]:
    r = rule.rule
    return {
        "id": r.id, "version": r.version, "effective": r.effective.isoformat(),
        "code": r.code, "severity": r.severity.value,
        "title": {"zh-CN": r.title.zh_cn, "en": r.title.en},
        "trigger": r.trigger.model_dump(mode="json", exclude_defaults=True),
        "condition": r.condition,
        "actions": [a.model_dump(mode="json", exclude_defaults=True) for a in r.actions],
        "params": rule.params, "origin": rule.origin, "description": r.description,
    }
