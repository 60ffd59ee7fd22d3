"""The shape of a rule: who it is, when it runs, what it checks (CEL) and what it does.

>>> rule = Rule.model_validate({
...     "id": "failed-inspection", "version": 1, "effective": "2026-01-01",
...     "title": {"zh-CN": "检验不合格", "en": "Inspection failed"},
...     "severity": "major", "trigger": {"events": ["inspected"]},
...     "condition": 'event.inspection.result == "fail"',
...     "actions": [{"type": "hold"}, {"type": "alert"}]})
>>> rule.triggered_by("inspected"), rule.triggered_by("shipped")
(True, False)
>>> rule.code
'failed-inspection'
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tracebridge.domain.events import EventKind

KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    MAJOR = "major"
    CRITICAL = "critical"


class ActionType(StrEnum):
    HOLD = "hold"  # HELD event + outbox messages, exactly like QualityService.hold
    BLOCK_SHIPMENT = "block_shipment"  # a hold whose reason says the shipment is blocked
    ALERT = "alert"
    OPEN_NONCONFORMANCE = "open_nonconformance"  # a nonconformance_raised event
    PROPOSE_RECALL = "propose_recall"  # a critical alert the recall workflow picks up


class Target(StrEnum):
    """Which lots — or which units (serials) of them — an action applies to."""

    EVENT_LOTS = "event_lots"  # the lots the event names (outputs for production)
    INPUT_LOTS = "input_lots"  # the consumed component lots
    LOCATION_LOTS = "location_lots"  # lots stored at the event's location
    EVENT_SERIALS = "event_serials"  # the units the event names, not their whole lots
    DUPLICATE_SERIALS = "duplicate_serials"  # the event's units also known in another lot

    @property
    def units(self) -> bool:
        return self in (Target.EVENT_SERIALS, Target.DUPLICATE_SERIALS)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Title(_Strict):
    zh_cn: str = Field(alias="zh-CN", min_length=1)
    en: str = Field(min_length=1)


class Trigger(_Strict):
    events: tuple[EventKind, ...] = ()
    schedule: Literal["daily"] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Trigger:
        if bool(self.events) == (self.schedule is not None):
            raise ValueError("give exactly one of 'events: [kinds]' and 'schedule: daily'")
        return self


class Action(_Strict):
    type: ActionType
    target: Target = Target.EVENT_LOTS
    severity: Severity | None = None  # alert severity; the rule's when absent

    @model_validator(mode="after")
    def _units_are_held(self) -> Action:
        if self.target.units and self.type not in (ActionType.HOLD, ActionType.BLOCK_SHIPMENT):
            raise ValueError(f"target {self.target.value!r} names units: only 'hold' and "
                             "'block_shipment' act on units")
        return self


class Rule(_Strict):
    id: str = Field(min_length=1, max_length=100)
    version: int = Field(ge=1)
    effective: date
    title: Title
    severity: Severity
    trigger: Trigger
    condition: str = Field(min_length=1)
    actions: tuple[Action, ...] = Field(min_length=1)
    finding_code: str | None = Field(default=None, alias="code")  # stable code; the id if absent
    params: dict[str, Any] = Field(default_factory=dict)
    description: str = ""

    @field_validator("id", "finding_code")
    @classmethod
    def _kebab(cls, value: str | None) -> str | None:
        if value is not None and not KEBAB.match(value):
            raise ValueError(f"{value!r} is not kebab-case (e.g. 'failed-inspection')")
        return value

    @property
    def code(self) -> str:
        return self.finding_code or self.id

    def triggered_by(self, kind: str) -> bool:
        return any(k.value == kind for k in self.trigger.events)

    @property
    def scheduled(self) -> bool:
        return self.trigger.schedule is not None


class RuleFile(_Strict):
    """One YAML file: shared parameters plus rules."""

    version: int = Field(ge=1)
    params: dict[str, Any] = Field(default_factory=dict)
    rules: tuple[Rule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> RuleFile:
        seen: set[tuple[str, int]] = set()
        for rule in self.rules:
            if (rule.id, rule.version) in seen:
                raise ValueError(
                    f"rule {rule.id!r} version {rule.version} appears twice; "
                    "expected each (id, version) once"
                )
            seen.add((rule.id, rule.version))
        return self
