"""A recall as values: its classification, its scope and the life cycle of its status.

21 CFR 7.3(m) and 7.42(b) ask a recall strategy to decide four things up front — the
health-hazard *class*, the *depth* of the distribution chain to reach, whether to issue a
*public warning*, and the *effectiveness-check level* (REQ 32). A :class:`RecallPlan`
holds them; it parses loose user input once and refuses anything else.

A scope says what is recalled: lots, serials, serial ranges, or a criterion that the
genealogy turns into lots (a supplier lot, equipment in a time window, an operation, an
inspection characteristic). Each scope item has a short text form for the command line:

>>> parse_scope("lot:09506000134352/A1")
LotScope(gtin='09506000134352', lot='A1')
>>> parse_scope("serials:09506000134352/S0001..S0100").contains("S0042")
True
>>> RecallStatus.OPEN.next("contain")
<RecallStatus.CONTAINED: 'contained'>
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from tracebridge.errors import IllegalRecallTransition, InvalidRecallInput

_E = TypeVar("_E", bound=StrEnum)


class RecallClass(StrEnum):
    """21 CFR 7.3(m): I — serious harm or death likely; II — temporary or remote; III — unlikely."""

    I = "I"  # noqa: E741 — the regulation's own name for the class
    II = "II"
    III = "III"


class Depth(StrEnum):
    """How far down the distribution chain the recall reaches (21 CFR 7.42(b)(1))."""

    CONSUMER = "consumer"  # consumer or user level, incl. hospitals and patients
    RETAIL = "retail"
    WHOLESALE = "wholesale"


class EffectivenessLevel(StrEnum):
    """Share of consignees to check (21 CFR 7.42(b)(3)); see ``recall.effectiveness``."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"


class RecallStatus(StrEnum):
    """open → contained → notified → closed; closing is allowed from any open state."""

    OPEN = "open"
    CONTAINED = "contained"
    NOTIFIED = "notified"
    CLOSED = "closed"

    def next(self, action: str) -> RecallStatus:
        """The status after ``action`` (contain, notify, respond, close) or a refusal."""
        allowed = _TRANSITIONS.get(self, {})
        if action not in allowed:
            raise IllegalRecallTransition(
                f"Cannot {action} a recall that is {self.value}: expected one of "
                f"{', '.join(sorted(allowed)) or 'nothing (the recall is closed)'}")
        return allowed[action]


# Containing again and notifying again are allowed on purpose: new affected lots can
# appear (late records) and a second notice round is common. Responses only arrive once
# consignees were told.
_TRANSITIONS: dict[RecallStatus, dict[str, RecallStatus]] = {
    RecallStatus.OPEN: {"contain": RecallStatus.CONTAINED, "notify": RecallStatus.NOTIFIED,
                        "close": RecallStatus.CLOSED},
    RecallStatus.CONTAINED: {"contain": RecallStatus.CONTAINED,
                             "notify": RecallStatus.NOTIFIED, "close": RecallStatus.CLOSED},
    RecallStatus.NOTIFIED: {"contain": RecallStatus.NOTIFIED, "notify": RecallStatus.NOTIFIED,
                            "respond": RecallStatus.NOTIFIED, "close": RecallStatus.CLOSED},
    RecallStatus.CLOSED: {},
}


def _choice(kind: type[_E], raw: object, field: str) -> _E:
    text = str(raw).strip()
    for member in kind:
        if text.lower() == member.value.lower():
            return member
    raise InvalidRecallInput(
        f"Invalid {field} {raw!r}: expected one of {', '.join(m.value for m in kind)}")


@dataclass(frozen=True, kw_only=True)
class RecallPlan:
    """What is decided when a recall starts (REQ 32) and whether it is an 806 report (REQ 39)."""

    recall_class: RecallClass
    depth: Depth
    public_warning: bool
    effectiveness_level: EffectivenessLevel
    reason: str
    reduces_health_risk: bool = True  # a correction/removal to reduce a risk: 806 reportable
    product: str | None = None  # product name/size as the notice should state it

    @classmethod
    def parse(cls, *, recall_class: object, depth: object, public_warning: bool,
              effectiveness_level: object, reason: str, reduces_health_risk: bool = True,
              product: str | None = None) -> RecallPlan:
        if not reason.strip():
            raise InvalidRecallInput("A recall needs a reason: given an empty one")
        return cls(recall_class=_choice(RecallClass, recall_class, "recall class"),
                   depth=_choice(Depth, depth, "recall depth"), public_warning=public_warning,
                   effectiveness_level=_choice(EffectivenessLevel, effectiveness_level,
                                               "effectiveness-check level"),
                   reason=reason.strip(), reduces_health_risk=reduces_health_risk,
                   product=product)


# ------------------------------------------------------------------------ scope


@dataclass(frozen=True)
class LotScope:
    gtin: str
    lot: str


@dataclass(frozen=True)
class SerialScope:
    gtin: str
    serial: str


@dataclass(frozen=True)
class SerialRange:
    """Serials ``first`` to ``last`` inclusive; numeric parts compare as numbers."""

    gtin: str
    first: str
    last: str

    def contains(self, serial: str) -> bool:
        return _serial_order(self.first) <= _serial_order(serial) <= _serial_order(self.last)


@dataclass(frozen=True)
class SupplierLotCriterion:
    supplier_lot: str


@dataclass(frozen=True)
class EquipmentWindow:
    equipment: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class OperationCriterion:
    operation: str


@dataclass(frozen=True)
class InspectionCriterion:
    """Lots with a result of ``result`` (default ``fail``) for one inspection characteristic."""

    characteristic: str
    result: str = "fail"


ScopeItem = (LotScope | SerialScope | SerialRange | SupplierLotCriterion | EquipmentWindow
             | OperationCriterion | InspectionCriterion)

SCOPE_FORMS = ("lot:GTIN/LOT", "serial:GTIN/SERIAL", "serials:GTIN/FIRST..LAST",
               "supplier-lot:LOT", "equipment:ID@START..END", "operation:NAME",
               "inspection:CHARACTERISTIC[=RESULT]")


def _serial_order(serial: str) -> tuple[int, str, int]:
    """Sort key: a shared prefix, then the trailing number (S9 before S10)."""
    digits = len(serial) - len(serial.rstrip("0123456789"))
    prefix, number = serial[: len(serial) - digits], serial[len(serial) - digits:]
    return (0, prefix, int(number)) if number else (1, serial, 0)


def _pair(text: str, form: str) -> tuple[str, str]:
    left, sep, right = text.partition("/")
    if not sep or not left or not right:
        raise InvalidRecallInput(f"Invalid recall scope {text!r}: expected {form}")
    return left, right


def parse_scope(text: str) -> ScopeItem:
    """One scope item from its text form (see ``SCOPE_FORMS``)."""
    kind, sep, rest = text.strip().partition(":")
    rest = rest.strip()
    if not sep or not rest:
        raise InvalidRecallInput(
            f"Invalid recall scope {text!r}: expected one of {', '.join(SCOPE_FORMS)}")
    match kind.lower():
        case "lot":
            return LotScope(*_pair(rest, "lot:GTIN/LOT"))
        case "serial":
            return SerialScope(*_pair(rest, "serial:GTIN/SERIAL"))
        case "serials":
            gtin, span = _pair(rest, "serials:GTIN/FIRST..LAST")
            first, dots, last = span.partition("..")
            if not dots or not first or not last:
                raise InvalidRecallInput(
                    f"Invalid serial range {text!r}: expected serials:GTIN/FIRST..LAST")
            return SerialRange(gtin, first, last)
        case "supplier-lot":
            return SupplierLotCriterion(rest)
        case "equipment":
            equipment, at, span = rest.partition("@")
            start, dots, end = span.partition("..")
            if not at or not dots:
                raise InvalidRecallInput(
                    f"Invalid equipment window {text!r}: expected equipment:ID@START..END")
            return EquipmentWindow(equipment, _moment(start, text), _moment(end, text))
        case "operation":
            return OperationCriterion(rest)
        case "inspection":
            characteristic, _, result = rest.partition("=")
            return InspectionCriterion(characteristic, result or "fail")
    raise InvalidRecallInput(
        f"Invalid recall scope kind {kind!r} in {text!r}: expected one of "
        f"{', '.join(SCOPE_FORMS)}")


def _moment(raw: str, text: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidRecallInput(
            f"Invalid time {raw!r} in {text!r}: expected ISO 8601, e.g. 2026-03-01T08:00Z"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def scope_to_text(item: ScopeItem) -> str:
    """The text form :func:`parse_scope` reads back (``parse_scope(scope_to_text(x)) == x``)."""
    match item:
        case LotScope(gtin, lot):
            return f"lot:{gtin}/{lot}"
        case SerialScope(gtin, serial):
            return f"serial:{gtin}/{serial}"
        case SerialRange(gtin, first, last):
            return f"serials:{gtin}/{first}..{last}"
        case SupplierLotCriterion(supplier_lot):
            return f"supplier-lot:{supplier_lot}"
        case EquipmentWindow(equipment, start, end):
            return f"equipment:{equipment}@{start.isoformat()}..{end.isoformat()}"
        case OperationCriterion(operation):
            return f"operation:{operation}"
        case InspectionCriterion(characteristic, result):
            return f"inspection:{characteristic}={result}"
    raise TypeError(f"unknown scope item {item!r}")


def scope_to_dict(item: ScopeItem) -> dict[str, Any]:
    """A JSON-ready form of a scope item (stored with the recall)."""
    data: dict[str, Any] = {"kind": _KIND_OF[type(item)]}
    for name, value in item.__dict__.items():
        data[name] = value.isoformat() if isinstance(value, datetime) else value
    return data


def scope_from_dict(data: dict[str, Any]) -> ScopeItem:
    values = {k: v for k, v in data.items() if k != "kind"}
    kind = _TYPE_OF.get(str(data.get("kind")))
    if kind is None:
        raise InvalidRecallInput(f"Unknown stored scope kind {data.get('kind')!r}")
    if kind is EquipmentWindow:
        values["start"] = datetime.fromisoformat(values["start"])
        values["end"] = datetime.fromisoformat(values["end"])
    item: ScopeItem = kind(**values)
    return item


_KIND_OF: dict[type, str] = {
    LotScope: "lot", SerialScope: "serial", SerialRange: "serials",
    SupplierLotCriterion: "supplier-lot", EquipmentWindow: "equipment",
    OperationCriterion: "operation", InspectionCriterion: "inspection"}
_TYPE_OF: dict[str, Any] = {name: kind for kind, name in _KIND_OF.items()}
