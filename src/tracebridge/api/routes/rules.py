"""The rule set over HTTP: ``GET /rules`` (the built-in pack, or the files configured) and
``GET /rules/{id}``; ``GET /rules/firings`` lists stored firings with the inputs they saw."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select

from tracebridge.api.errors import ErrorBody
from tracebridge.rules.evaluation import CompiledRule
from tracebridge.store.event_log import utc
from tracebridge.store.tables import rule_firing

router = APIRouter(tags=["rules"])


class RuleOut(BaseModel):
    id: str
    version: int
    effective: str
    code: str
    severity: str
    title: dict[str, str]
    trigger: dict[str, Any]
    condition: str
    actions: list[dict[str, Any]]
    params: dict[str, Any]
    origin: str

    @classmethod
    def of(cls, rule: CompiledRule) -> RuleOut:
        r = rule.rule
        return cls(id=r.id, version=r.version, effective=r.effective.isoformat(), code=r.code,
                   severity=r.severity.value, title={"zh-CN": r.title.zh_cn, "en": r.title.en},
                   trigger=r.trigger.model_dump(mode="json", exclude_defaults=True),
                   condition=r.condition,
                   actions=[a.model_dump(mode="json", exclude_defaults=True) for a in r.actions],
                   params=rule.params, origin=rule.origin)


class FiringOut(BaseModel):
    id: int
    rule_id: str
    rule_version: int
    code: str
    severity: str
    event_seq: int | None
    gtin: str | None
    lot: str | None
    inputs: dict[str, Any]
    actions: list[dict[str, Any]]
    fired_at: str


def rule_set(request: Request) -> list[CompiledRule]:
    rules: list[CompiledRule] = request.app.state.container.rule_set
    return rules


@router.get("/rules", response_model=list[RuleOut])
def list_rules(request: Request) -> Any:
    """Every rule in force, with its condition, actions and parameters."""
    return [RuleOut.of(r) for r in rule_set(request)]


@router.get("/rules/firings", response_model=list[FiringOut])
def firings(request: Request, rule_id: str | None = None, lot: str | None = None,
            limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> Any:
    """Stored rule firings, newest first: why each rule fired (the inputs it saw)."""
    query = select(rule_firing).order_by(rule_firing.c.id.desc()).limit(limit)
    if rule_id:
        query = query.where(rule_firing.c.rule_id == rule_id)
    if lot:
        query = query.where(rule_firing.c.lot == lot)
    with request.app.state.container.engine.connect() as conn:
        rows = list(conn.execute(query))
    return [FiringOut(id=r.id, rule_id=r.rule_id, rule_version=r.rule_version, code=r.code,
                      severity=r.severity, event_seq=r.event_seq, gtin=r.gtin, lot=r.lot,
                      inputs=r.inputs, actions=r.actions, fired_at=utc(r.fired_at).isoformat())
            for r in rows]


@router.get("/rules/{rule_id}", response_model=list[RuleOut],
            responses={404: {"model": ErrorBody, "description": "No rule has this id."}})
def show_rule(request: Request, rule_id: str) -> Any:
    """Every version of one rule."""
    found = [RuleOut.of(r) for r in rule_set(request) if r.id == rule_id]
    if not found:
        known = ", ".join(sorted({r.id for r in rule_set(request)}))
        return JSONResponse(status_code=404, content=ErrorBody(
            code="not-found", message=f"rule {rule_id!r}: no such rule; known: {known}",
        ).model_dump())
    return found
