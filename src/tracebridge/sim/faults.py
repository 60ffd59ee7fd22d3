"""What goes wrong between a plant and its integration: the fault model of the simulator.

Each exported record suffers at most one fault, drawn with the probabilities of
:class:`FaultRates`. Faults never change the physical world: a record with a missing
field or an unknown code is always followed, later, by a corrected re-send under the
same record id, so a trace built once every valid record has arrived equals the truth.

>>> FaultRates.none().total() == 0
True
>>> FaultRates().missing_field > 0
True
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tracebridge.errors import SimulationError

FAULT_KINDS = (
    "duplicate",
    "out_of_order",
    "missing_field",
    "unknown_code",
    "quantity_mismatch",
    "clock_skew",
    "late",
)


class FaultRates(BaseModel):
    """Per-record probabilities of each fault (0 = never)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    duplicate: float = Field(default=0.01, ge=0, le=1)
    out_of_order: float = Field(default=0.02, ge=0, le=1)
    missing_field: float = Field(default=0.004, ge=0, le=1)
    unknown_code: float = Field(default=0.003, ge=0, le=1)
    quantity_mismatch: float = Field(default=0.02, ge=0, le=1)  # ERP copies of WMS facts
    clock_skew: float = Field(default=0.01, ge=0, le=1)  # WMS records only
    late: float = Field(default=0.005, ge=0, le=1)
    out_of_order_window: int = Field(default=20, ge=1, le=10_000)
    late_delay: tuple[int, int] = (300, 3000)  # records later
    resend_delay: tuple[int, int] = (20, 400)  # corrected re-send, records later
    clock_skew_minutes: int = Field(default=7, ge=1, le=720)

    @classmethod
    def none(cls) -> FaultRates:
        return cls(
            duplicate=0, out_of_order=0, missing_field=0, unknown_code=0,
            quantity_mismatch=0, clock_skew=0, late=0,
        )

    def total(self) -> float:
        return float(sum(getattr(self, kind) for kind in FAULT_KINDS))


def load_fault_rates(spec: str | Path) -> FaultRates:
    """``"default"``, ``"none"`` or the path of a YAML file with :class:`FaultRates` fields."""
    if str(spec) == "default":
        return FaultRates()
    if str(spec) == "none":
        return FaultRates.none()
    path = Path(spec)
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise SimulationError(
            f"fault rates: cannot read '{path}' ({e.strerror}); expected 'default', 'none' "
            "or a YAML file"
        ) from e
    except yaml.YAMLError as e:
        raise SimulationError(f"fault rates: '{path}' is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise SimulationError(f"fault rates: '{path}' must hold a mapping of rate names to values")
    try:
        return FaultRates.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise SimulationError(f"fault rates: {path}: {problems}") from e


class FaultLog:
    """How many of each fault were injected, and into which record ids."""

    def __init__(self) -> None:
        self._ids: dict[str, list[str]] = defaultdict(list)

    def note(self, kind: str, system: str, record_id: str) -> None:
        self._ids[kind].append(f"{system}:{record_id}")

    def count(self, kind: str) -> int:
        return len(self._ids.get(kind, ()))

    def as_json(self) -> dict[str, Any]:
        return {
            kind: {"count": len(self._ids.get(kind, ())),
                   "records": sorted(self._ids.get(kind, ()))}
            for kind in FAULT_KINDS
        }
