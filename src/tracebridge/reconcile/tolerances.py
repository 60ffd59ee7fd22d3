"""How far two systems may differ before it is a finding, and which locations are the same.

Tolerances are data (YAML), validated on load; an error names the file, line and field.
The built-in file ``tolerances.yaml`` beside this module is used when none is given.

>>> t = Tolerances(quantities={"default": {"absolute": 0.5}, "on_hand": {"relative": 0.01}})
>>> t.quantity("shipped").allowed(100, 99.6), t.quantity("on_hand").allowed(1000, 995)
(0.5, 10.0)
>>> t = Tolerances(locations={"wms": {"FG-*": "1000-FG01"}})
>>> t.shared_location("wms", "FG-02-01"), t.shared_location("wms", "DOCK-01")
('1000-FG01', 'DOCK-01')
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tracebridge.errors import ReconciliationConfigError

BUILTIN = Path(__file__).resolve().parent / "tolerances.yaml"


class QuantityTolerance(BaseModel):
    """Allowed difference: the larger of an absolute amount and a share of the larger side."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    absolute: float = Field(default=0.0, ge=0)
    relative: float = Field(default=0.0, ge=0, le=1)

    def allowed(self, a: float, b: float) -> float:
        # Float sums of decimal quantities are off in the last digits; that is no finding.
        return max(self.absolute, self.relative * max(abs(a), abs(b)), 1e-6)


class DateTolerance(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    days: int = Field(default=0, ge=0)


class Tolerances(BaseModel):
    """Which two systems are compared, the tolerance per measure, and the location map.

    ``locations`` maps each system's location codes (glob patterns, first match wins) to a
    shared name, because an ERP storage location and a WMS bin are different namespaces.
    A code no pattern matches is compared as it is.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    left: str = Field(default="erp", min_length=1)
    right: str = Field(default="wms", min_length=1)
    quantities: dict[str, QuantityTolerance] = Field(default_factory=dict)
    dates: dict[str, DateTolerance] = Field(default_factory=dict)
    locations: dict[str, dict[str, str]] = Field(default_factory=dict)

    def quantity(self, measure: str) -> QuantityTolerance:
        return self.quantities.get(measure) or self.quantities.get("default") or QuantityTolerance()

    def date_days(self, measure: str) -> int:
        tolerance = self.dates.get(measure) or self.dates.get("default") or DateTolerance()
        return tolerance.days

    def shared_location(self, system: str, location: str) -> str:
        for pattern, shared in self.locations.get(system, {}).items():
            if fnmatchcase(location, pattern):
                return shared
        return location


def load_tolerances(path: Path | None = None) -> Tolerances:
    """Read and validate a tolerances file (the built-in one when ``path`` is None)."""
    source = path or BUILTIN
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as e:
        raise ReconciliationConfigError(
            f"tolerances: cannot read '{source}' ({e.strerror}); expected a YAML file"
        ) from e
    try:
        node = yaml.compose(text)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ReconciliationConfigError(f"{source}{where}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ReconciliationConfigError(
            f"{source}: expected a mapping (left, right, quantities, dates, locations), "
            f"got {type(data).__name__}"
        )
    try:
        return Tolerances.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = [str(part) for part in first["loc"]]
        line = _line_of(node, loc)
        raise ReconciliationConfigError(
            f"{source}:{line}: {'.'.join(loc)}: {first['msg']} (given {first.get('input')!r})"
        ) from e


def _line_of(node: yaml.Node | None, path: list[str]) -> int:
    """Line of the deepest key of ``path`` that exists in the YAML document."""
    line = 1 if node is None else node.start_mark.line + 1
    for part in path:
        if not isinstance(node, yaml.MappingNode):
            break
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                line, node = key.start_mark.line + 1, value
                break
        else:
            break
    return line
