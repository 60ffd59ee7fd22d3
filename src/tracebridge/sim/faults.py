"""What goes wrong between a plant and its integration: the fault model of the simulator.

Each exported record suffers at most one fault, drawn with the probabilities of
:class:`FaultRates`. Record faults never change the physical world: a record with a
missing field or an unknown code is always followed, later, by a corrected re-send under
the same record id, so a trace built once every valid record has arrived equals the truth.
Plant faults (``PLANT_FAULT_KINDS``, off by default) change what the plant does instead —
ship an unreleased lot, consume a rejected component — one per built-in quality rule that
has no natural occasion to fire.

>>> FaultRates.none().total() == 0
True
>>> FaultRates().missing_field > 0
True
>>> FaultRates().unreleased_shipment, FaultRates.every_rule().unreleased_shipment > 0
(0.0, True)
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
# Faults in what the plant does, each aimed at one built-in quality rule. They default to
# 0 so that a default run stays as it was; each draws from a random stream of its own.
PLANT_FAULT_KINDS = (
    "unreleased_shipment",
    "expired_stock",
    "unusable_component",
    "duplicate_serial",
    "missing_expiry",
    "complaint_cluster",
    "skipped_inspection",
    "short_shelf_life_shipment",
)
# Plant faults added after the first ones draw from a stream of their own, named after the
# fault, so turning one on leaves every other fault's draws — and output — as they were.
OWN_STREAM_FAULTS = ("short_shelf_life_shipment",)


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
    # per shipment order: a lot still in quarantine (or on hold) is shipped
    unreleased_shipment: float = Field(default=0.0, ge=0, le=1)
    # per product: an opening-balance lot taken over a few days before its expiry date
    expired_stock: float = Field(default=0.0, ge=0, le=1)
    # per incoming inspection: a lot that failed is released and consumed all the same
    unusable_component: float = Field(default=0.0, ge=0, le=1)
    # per serialised production lot: one serial of an earlier lot is printed again
    duplicate_serial: float = Field(default=0.0, ge=0, le=1)
    # per ERP production receipt or opening balance: the expiry date (VFDAT) is left out
    missing_expiry: float = Field(default=0.0, ge=0, le=1)
    # per complaint naming a lot: two more customers complain about that lot within days
    complaint_cluster: float = Field(default=0.0, ge=0, le=1)
    # per incoming inspection: the results are never posted (the lot is released all the
    # same), so every finished lot made from it has a genealogy gap
    skipped_inspection: float = Field(default=0.0, ge=0, le=1)
    # per product: an opening-balance lot has only 100-170 days of shelf life left at
    # go-live; first-expiry-first-out ships it to customers whose contract asks for more
    short_shelf_life_shipment: float = Field(default=0.0, ge=0, le=1)

    @classmethod
    def none(cls) -> FaultRates:
        return cls(
            duplicate=0, out_of_order=0, missing_field=0, unknown_code=0,
            quantity_mismatch=0, clock_skew=0, late=0,
        )

    @classmethod
    def every_rule(cls) -> FaultRates:
        """The default record faults plus a fault for every built-in quality rule."""
        return cls(unreleased_shipment=0.02, expired_stock=1.0, unusable_component=0.1,
                   duplicate_serial=0.3, missing_expiry=0.05, complaint_cluster=0.3,
                   skipped_inspection=0.02, short_shelf_life_shipment=1.0)

    def total(self) -> float:
        return float(sum(getattr(self, kind) for kind in FAULT_KINDS + PLANT_FAULT_KINDS))


def load_fault_rates(spec: str | Path) -> FaultRates:
    """``"default"``, ``"none"``, ``"rules"`` (:meth:`FaultRates.every_rule`) or the path of a
    YAML file with :class:`FaultRates` fields."""
    if str(spec) == "default":
        return FaultRates()
    if str(spec) == "rules":
        return FaultRates.every_rule()
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
    """How many of each fault were injected, and into which record ids — and, per built-in
    quality rule, the lots (``gtin/lot``) or records (``system:id``) it should fire for,
    whether a fault put them there or the plant's own life (a failed inspection, a warm
    warehouse zone, complaints piling up on one lot).

    >>> log = FaultLog()
    >>> log.expect("failed-inspection", "lot", "0690/A1")
    >>> log.expectations()
    {'failed-inspection': {'by': 'lot', 'keys': ['0690/A1']}}

    A rule that catches more than one kind of problem names the kind of each key:

    >>> log.expect("expired-shipment", "lot", "0690/B2", kind="below_minimum")
    >>> log.expectations()["expired-shipment"]
    {'by': 'lot', 'keys': ['0690/B2'], 'kinds': {'below_minimum': ['0690/B2']}}
    """

    def __init__(self) -> None:
        self._ids: dict[str, list[str]] = defaultdict(list)
        self._expected: dict[str, tuple[str, set[str]]] = {}
        self._kinds: dict[str, dict[str, set[str]]] = {}

    def note(self, kind: str, system: str, record_id: str) -> None:
        self._ids[kind].append(f"{system}:{record_id}")

    def records(self, kind: str) -> list[str]:
        return list(self._ids.get(kind, ()))

    def expect(self, rule_id: str, by: str, key: str, *, kind: str | None = None) -> None:
        """Rule ``rule_id`` should fire for ``key``, a lot (``by="lot"``) or a record —
        for a problem of ``kind``, when the rule catches several."""
        self._expected.setdefault(rule_id, (by, set()))[1].add(key)
        if kind is not None:
            self._kinds.setdefault(rule_id, {}).setdefault(kind, set()).add(key)

    def expectations(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for rule, (by, keys) in sorted(self._expected.items()):
            out[rule] = {"by": by, "keys": sorted(keys)}
            if rule in self._kinds:
                out[rule]["kinds"] = {kind: sorted(named)
                                      for kind, named in sorted(self._kinds[rule].items())}
        return out

    def count(self, kind: str) -> int:
        return len(self._ids.get(kind, ()))

    def as_json(self) -> dict[str, Any]:
        return {
            kind: {"count": len(self._ids.get(kind, ())),
                   "records": sorted(self._ids.get(kind, ()))}
            for kind in FAULT_KINDS + PLANT_FAULT_KINDS
            if kind in FAULT_KINDS or self.count(kind)  # a default run's file stays as it was
        }
