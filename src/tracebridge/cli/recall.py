"""``tracebridge recall start|impact|contain|notify|respond|status|close|drill|track``.

Each command parses its arguments, calls one ``RecallService`` use case and prints the
result (``--json`` for the full model). Errors print their stable code and exit 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel

from tracebridge.cli.output import report
from tracebridge.errors import TraceBridgeError

app = typer.Typer(help="Recall workflow: scope, impact, containment, notices, effectiveness.",
                  no_args_is_help=True)

RecallId = Annotated[str, typer.Argument(metavar="ID",
                                         help="Recall number, e.g. RCL-20261125-001.")]
Actor = Annotated[str, typer.Option("--actor", help="User id of who acts.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
_T = TypeVar("_T")

if TYPE_CHECKING:  # the service is imported on use: CLI start-up stays fast
    from tracebridge.recall.model import Recall, Tracking
    from tracebridge.recall.service import RecallService


@contextmanager
def _service() -> Iterator[RecallService]:
    from tracebridge.bootstrap import bootstrap

    container = bootstrap()
    try:
        yield container.recall
    finally:
        container.close()


def _call(use: Callable[[RecallService], _T]) -> _T:
    try:
        with _service() as service:
            return use(service)
    except TraceBridgeError as error:
        report(error)
        raise typer.Exit(1) from None


def _show(result: BaseModel | list[Any], as_json: bool, summary: str) -> None:
    if as_json:
        if isinstance(result, list):
            typer.echo("[" + ",\n".join(r.model_dump_json(indent=2) for r in result) + "]")
        else:
            typer.echo(result.model_dump_json(indent=2))
    else:
        typer.echo(summary)


@app.command()
def start(
    scope: Annotated[list[str], typer.Option("--scope", help=(
        "What is recalled (repeatable): lot:GTIN/LOT, serial:GTIN/SERIAL, "
        "serials:GTIN/FIRST..LAST, supplier-lot:LOT, equipment:ID@START..END, "
        "operation:NAME, inspection:CHARACTERISTIC[=RESULT]"))],
    recall_class: Annotated[str, typer.Option("--class", help="I, II or III")],
    depth: Annotated[str, typer.Option(help="consumer, retail or wholesale")],
    level: Annotated[str, typer.Option("--level", help="Effectiveness-check level A–E")],
    reason: Annotated[str, typer.Option(help="Why the product is recalled")],
    actor: Actor,
    public_warning: Annotated[bool, typer.Option("--public-warning/--no-public-warning")] = False,
    not_806: Annotated[bool, typer.Option(
        "--not-reportable", help="Not done to reduce a health risk: no 806 report")] = False,
    product: Annotated[str | None, typer.Option(help="Product name/size for the notice")] = None,
    expected_completion: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="Expected completion date")] = None,
    as_json: AsJson = False,
) -> None:
    """Open a recall: class, depth, public warning, effectiveness level and scope."""
    from tracebridge.domain.recall import RecallPlan, parse_scope

    def use(service: RecallService) -> Recall:
        plan = RecallPlan.parse(recall_class=recall_class, depth=depth,
                                public_warning=public_warning, effectiveness_level=level,
                                reason=reason, reduces_health_risk=not not_806, product=product)
        finish: date | None = expected_completion.date() if expected_completion else None
        return service.start(plan, [parse_scope(s) for s in scope], actor=actor,
                             expected_completion=finish)

    recall = _call(use)
    _show(recall, as_json, f"{recall.id} opened (class {recall.recall_class}, "
          f"806 report due {recall.report_due})")


@app.command()
def impact(recall_id: RecallId, as_json: AsJson = False) -> None:
    """Affected lots and serials, stock by location, shipments per customer."""
    found = _call(lambda s: s.impact(recall_id))
    lines = [f"{len(found.finished_lots)} finished lot(s), {len(found.sub_assemblies)} "
             f"sub-assembl(y/ies), {len(found.serials)} serial(s); "
             f"produced {found.quantity_produced:g}, in stock {found.quantity_in_stock:g}, "
             f"in transit {found.quantity_in_transit:g}, in distribution "
             f"{found.quantity_in_distribution:g}"]
    lines += [f"  {s.location}: {s.gtin}/{s.lot} {s.quantity:g}" for s in found.stock]
    lines += [f"  {c.consignee.code} {c.consignee.name or ''}: shipped {c.shipped:g} in "
              f"{len({x.shipment for x in c.shipments})} shipment(s), "
              f"{c.first_shipped_at:%Y-%m-%d}..{c.last_shipped_at:%Y-%m-%d}"
              for c in found.customers]
    lines += [f"  note: {n}" for n in found.notes]
    _show(found, as_json, "\n".join(lines))


@app.command()
def contain(recall_id: RecallId, actor: Actor, as_json: AsJson = False) -> None:
    """Block every affected lot; WMS and ERP are told through the outbox."""
    results = _call(lambda s: s.contain(recall_id, actor=actor))
    _show(results, as_json, "\n".join(
        f"{r.lot}: {r.outcome}" + (f" ({r.status_before} → {r.status_after})"
                                    if r.status_after else "")
        + (f" — {r.detail}" if r.detail else "") for r in results))


@app.command()
def notify(recall_id: RecallId, actor: Actor,
           out: Annotated[Path, typer.Option(help="Folder for the CSV/XLSX lists and notice")],
           method: Annotated[str, typer.Option(help="letter, e-mail, phone, visit …")] = "letter",
           as_json: AsJson = False) -> None:
    """Write per-customer lists and the notice; record every consignee as notified."""
    done = _call(lambda s: s.notify(recall_id, actor=actor, method=method, out_dir=out))
    _show(done, as_json, f"{len(done.customers)} customer(s) notified; "
          f"{len(done.files)} file(s) in {out}")


@app.command()
def respond(recall_id: RecallId,
            customer: Annotated[str, typer.Argument(help="Consignee (customer) code")],
            actor: Actor,
            on_hand: Annotated[float, typer.Option(help="Units the consignee still has")],
            returned: Annotated[float, typer.Option(help="Units returned or corrected")],
            method: Annotated[str | None, typer.Option(help="How it answered")] = None,
            as_json: AsJson = False) -> None:
    """Record a consignee's response (cumulative figures)."""
    report = _call(lambda s: s.respond(recall_id, customer, actor=actor,
                                       quantity_on_hand=on_hand, quantity_returned=returned,
                                       method=method))
    _show(report, as_json, f"{customer}: recorded; total accounted {report.accounted_percent}%")


@app.command()
def status(recall_id: RecallId, as_json: AsJson = False) -> None:
    """The recall status report (21 CFR 7.53(b))."""
    r = _call(lambda s: s.status(recall_id))
    lines = [f"{r.recall.id} {r.recall.status}: class {r.recall.recall_class}, depth "
             f"{r.recall.depth}, 806 due {r.recall.report_due}",
             f"notified {r.consignees_notified}, responded {r.consignees_responded}, "
             f"non-responders {', '.join(r.non_responders) or 'none'}",
             f"units accounted {r.units_accounted:g} of {r.units_shipped:g} "
             f"({r.accounted_percent}%); returned {r.quantity_returned:g}, on hand "
             f"{r.quantity_on_hand:g}",
             f"effectiveness checks: {r.effectiveness_results}",
             f"open customers: {', '.join(r.open_customers) or 'none'}; expected completion "
             f"{r.expected_completion or 'not set'}"]
    _show(r, as_json, "\n".join(lines))


@app.command()
def close(recall_id: RecallId, actor: Actor,
          reason: Annotated[str, typer.Option(help="Why the recall is closed")],
          as_json: AsJson = False) -> None:
    """Close a recall with a reason."""
    recall = _call(lambda s: s.close(recall_id, reason=reason, actor=actor))
    _show(recall, as_json, f"{recall.id} closed: {recall.close_reason}")


@app.command()
def drill(reference: Annotated[str, typer.Argument(
              metavar="ID", help="Recall number, scope (lot:GTIN/LOT …) or lot/serial/UDI")],
          as_json: AsJson = False) -> None:
    """Mock recall: scope, impact and customer lists, timed, with nothing written."""
    result = _call(lambda s: s.drill(reference))
    i = result.impact
    _show(result, as_json, (
        f"mock recall of {', '.join(result.scope)}: {len(i.finished_lots)} finished lot(s), "
        f"{len(i.serials)} serial(s), {len(i.customers)} customer(s), "
        f"{result.customer_lists} list(s)\n"
        + "  ".join(f"{stage} {seconds:.3f} s" for stage, seconds in result.seconds.items())))


@app.command()
def track(gtin: Annotated[str, typer.Argument(help="GTIN of the tracked device")],
          serial: Annotated[str, typer.Argument(help="Serial number")],
          reveal: Annotated[bool, typer.Option(
              "--reveal", help="Show the patient's name, address, phone and identifier "
              "unmasked (personal health data).")] = False,
          as_json: AsJson = False) -> None:
    """821 tracking: who holds a device and where, or which patient has it (REQ 40, 41).

    Patient identity is masked unless --reveal is given; access control will decide who
    may reveal it.
    """
    from tracebridge.recall.tracking import masked

    found = _call(lambda s: s.track(gtin, serial))
    answer = found if reveal else masked(found)
    _show(answer, as_json, _tracking_text(answer))


def _tracking_text(r: Tracking) -> str:
    holder = (f"{r.holder.name or r.holder.code}, {r.holder.address or 'address unknown'}, "
              f"phone {r.holder.phone or 'unknown'}" if r.holder else "with us")
    lines = [f"{r.udi} lot {r.lot}: {r.state}; {holder}; location {r.location or 'unknown'}"
             + (f"; shipped {r.shipped_at:%Y-%m-%d} ({r.shipment})" if r.shipped_at else "")
             + f"; answer due in {r.answer_due_working_days} working days"]
    if r.patient is not None:
        p = r.patient
        lines.append(f"  patient {p.name}, {p.address or 'address unknown'}, phone "
                     f"{p.phone or 'unknown'}, id {p.identifier or 'unknown'}"
                     + (" (masked: --reveal to show)" if r.patient_masked else ""))
    if r.implanted_on:
        by = r.final_distributor
        lines.append(f"  implanted {r.implanted_on} at "
                     f"{(by.name or by.code) if by else 'unknown'}")
    for role, doctor in (("prescribing", r.prescribing_physician),
                         ("following", r.following_physician)):
        if doctor is not None:
            address = doctor.address or "address unknown"
            lines.append(f"  {role} physician {doctor.name}, {address}, "
                         f"phone {doctor.phone or 'unknown'}")
    lines += [f"  {what} {when}" for what, when in (
        ("explanted", r.explanted_on), ("died", r.died_on), ("returned/retired", r.retired_on))
        if when]
    return "\n".join(lines)
