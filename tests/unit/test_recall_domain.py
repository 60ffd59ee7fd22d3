"""Recall values: classification (REQ 32), scope text forms, the status life cycle."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracebridge.domain.recall import (
    Depth,
    EffectivenessLevel,
    EquipmentWindow,
    InspectionCriterion,
    LotScope,
    OperationCriterion,
    RecallClass,
    RecallPlan,
    RecallStatus,
    ScopeItem,
    SerialRange,
    SerialScope,
    SupplierLotCriterion,
    parse_scope,
    scope_from_dict,
    scope_to_dict,
    scope_to_text,
)
from tracebridge.errors import IllegalRecallTransition, InvalidRecallInput


def test_req32_plan_captures_class_depth_public_warning_and_level() -> None:
    """REQ-32: class I/II/III, depth consumer/retail/wholesale, public warning, level A–E."""
    plan = RecallPlan.parse(recall_class="ii", depth="Retail", public_warning=True,
                            effectiveness_level="d", reason=" cracked housing ")
    assert plan.recall_class is RecallClass.II and plan.depth is Depth.RETAIL
    assert plan.public_warning and plan.effectiveness_level is EffectivenessLevel.D
    assert plan.reason == "cracked housing" and plan.reduces_health_risk


@pytest.mark.parametrize(("field", "value", "message"), [
    ("recall_class", "IV", "recall class 'IV': expected one of I, II, III"),
    ("depth", "pharmacy", "recall depth 'pharmacy': expected one of consumer, retail, wholesale"),
    ("effectiveness_level", "F", "effectiveness-check level 'F': expected one of A, B, C, D, E"),
])
def test_req32_plan_refuses_values_outside_the_regulation(field: str, value: str,
                                                          message: str) -> None:
    args = {"recall_class": "I", "depth": "consumer", "effectiveness_level": "A"}
    args[field] = value
    with pytest.raises(InvalidRecallInput, match=message):
        RecallPlan.parse(recall_class=args["recall_class"], depth=args["depth"],
                         effectiveness_level=args["effectiveness_level"], public_warning=False,
                         reason="why")


def test_plan_needs_a_reason() -> None:
    with pytest.raises(InvalidRecallInput, match="needs a reason"):
        RecallPlan.parse(recall_class="I", depth="consumer", public_warning=False,
                         effectiveness_level="A", reason="  ")


def test_status_life_cycle() -> None:
    status = RecallStatus.OPEN.next("contain")
    assert status.next("notify").next("respond") is RecallStatus.NOTIFIED
    assert RecallStatus.NOTIFIED.next("close") is RecallStatus.CLOSED
    with pytest.raises(IllegalRecallTransition, match="Cannot respond a recall that is open"):
        RecallStatus.OPEN.next("respond")
    with pytest.raises(IllegalRecallTransition, match="the recall is closed"):
        RecallStatus.CLOSED.next("notify")


def test_serial_range_compares_trailing_numbers_as_numbers() -> None:
    span = SerialRange("09506000134352", "SN9", "SN12")
    assert span.contains("SN10") and span.contains("SN9") and span.contains("SN12")
    assert not span.contains("SN13") and not span.contains("SN8") and not span.contains("XX10")


@pytest.mark.parametrize("text", ["lot:0950/", "serials:0950/S1", "nonsense", "color:red",
                                  "equipment:PRESS-1@yesterday..today", "lot"])
def test_malformed_scope_says_what_was_expected(text: str) -> None:
    with pytest.raises(InvalidRecallInput, match="expected"):
        parse_scope(text)


_token = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-_", min_size=1, max_size=12)
_moment = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1),
                       timezones=st.just(UTC))
_items: st.SearchStrategy[ScopeItem] = st.one_of(
    st.builds(LotScope, _token, _token), st.builds(SerialScope, _token, _token),
    st.builds(SerialRange, _token, _token, _token), st.builds(SupplierLotCriterion, _token),
    st.builds(EquipmentWindow, _token, _moment, _moment), st.builds(OperationCriterion, _token),
    st.builds(InspectionCriterion, _token, st.sampled_from(["fail", "pass"])))


@given(_items)
def test_scope_text_and_stored_forms_round_trip(item: ScopeItem) -> None:
    assert parse_scope(scope_to_text(item)) == item
    assert scope_from_dict(scope_to_dict(item)) == item
