"""Outbound mappings: each target receives its own field names and codes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracebridge.dispatch.forwarding import ForwardToTargets
from tracebridge.dispatch.outbound_mapping import (
    OutboundMapping,
    load_outbound_mapping,
    message_fields,
)
from tracebridge.domain.events import CanonicalEvent, EventKind, LotRef, Source
from tracebridge.errors import MappingError
from tracebridge.mapping import load_mapping
from tracebridge.mapping.records import RawRecord
from tracebridge.store.event_log import StoredEvent

GTIN = "09506000134352"
AT = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)  # 10:30 in Suzhou


def decision(kind: EventKind, *, system: str = "tracebridge", **details: Any) -> CanonicalEvent:
    return CanonicalEvent(
        kind=kind, event_time=AT, event_time_zone_offset="+00:00",
        lots=(LotRef(gtin=GTIN, lot="L-7"),), operator="u.li",
        details={"reason": "NC-12 open", **details},
        source=Source(system=system, record_id=f"{kind.value}-1"),
    )


def render(target: str, event: CanonicalEvent) -> dict[str, Any]:
    return load_outbound_mapping(target).render(message_fields(event, event.lots[0]))


def test_wms_receives_a_hold_as_qh_in_its_own_field_names() -> None:
    message = render("wms", decision(EventKind.HELD))
    assert message == {
        "MSG_TYPE": "HOLD", "SKU_GTIN": GTIN, "LOT_NO": "L-7", "QA_STATUS": "QH",
        "REASON_TXT": "NC-12 open", "USER_ID": "u.li", "EVENT_TS": "2026-03-01 10:30:00",
        "ORIGIN_SYS": "TB", "REF_ID": decision(EventKind.HELD).event_id,
    }


def test_wms_receives_a_lifted_hold_as_qr() -> None:
    assert render("wms", decision(EventKind.HOLD_RELEASED))["QA_STATUS"] == "QR"


def test_expiry_block_and_recall_number_reach_the_wms() -> None:
    assert render("wms", decision(EventKind.HELD, block="expired"))["BLOCK_CODE"] == "expired"
    assert render("wms", decision(EventKind.RECALLED, recall_id="RC-9"))["RECALL_NO"] == "RC-9"


def test_erp_receives_usage_decision_codes_its_inbound_mapping_reads_back() -> None:
    """Reversed mapping: the ERP message, read by the inbound ERP mapping, is the same kind."""
    erp_in = load_mapping("erp")
    for kind in (EventKind.RELEASED, EventKind.REJECTED, EventKind.HELD, EventKind.HOLD_RELEASED):
        message = render("erp", decision(kind))
        fields = {**message, "PRUEFLOS": "TB-1", "UDNR": "01"}
        raw = RawRecord("erp", "usage_decision", b"", "test", fields)
        (event,) = erp_in.map(raw).events
        assert event.kind is kind
        assert event.lots[0].key == (GTIN, "L-7")
        assert event.event_time == AT


def test_only_forwarded_kinds_become_messages_and_never_back_to_their_source() -> None:
    forwarding = ForwardToTargets([load_outbound_mapping("wms"), load_outbound_mapping("erp")])
    stored = [
        StoredEvent(1, decision(EventKind.HELD, system="erp"), AT, 1, None),
        StoredEvent(2, decision(EventKind.HELD), AT, 1, None),
        StoredEvent(3, decision(EventKind.SCRAPPED, system="wms"), AT, 1, None),
    ]
    sent = [(m.target, m.kind) for m in forwarding.messages(stored)]
    # erp's hold goes to the WMS only; ours to both; wms's scrap neither back nor to the ERP
    assert sent == [("wms", "held"), ("wms", "held"), ("erp", "held")]


MINIMAL = """
id: t
version: "1"
target: t
forward: [held]
fields:
  A: lot
"""


def test_unknown_event_kind_is_reported_with_file_and_line() -> None:
    with pytest.raises(MappingError, match=r"t.yaml:5: unknown event kind\(s\) helt"):
        OutboundMapping.from_text(MINIMAL.replace("[held]", "[helt]"), "t.yaml")


def test_missing_unknown_code_policy_is_refused() -> None:
    text = MINIMAL + "code_lists:\n  s: {values: {held: X}}\n"
    with pytest.raises(MappingError, match="needs 'unknown: reject' or 'unknown: keep'"):
        OutboundMapping.from_text(text, "t.yaml")


def test_a_code_the_target_does_not_know_names_mapping_and_field() -> None:
    text = MINIMAL.replace("  A: lot", "  S: {field: kind, map: s}") + (
        "code_lists:\n  s: {unknown: reject, values: {held: X}}\n")
    mapping = OutboundMapping.from_text(text, "t.yaml")
    with pytest.raises(MappingError, match="outbound mapping t v1, field S: unknown code 'odd'"):
        mapping.render({"kind": "odd"})


def test_unknown_time_zone_is_refused_at_load() -> None:
    text = MINIMAL.replace("  A: lot", "  T: {time: event_time, zone: Mars/Olympus}")
    with pytest.raises(MappingError, match="unknown time zone 'Mars/Olympus'"):
        OutboundMapping.from_text(text, "t.yaml")


def test_unknown_builtin_target_lists_the_known_ones() -> None:
    with pytest.raises(MappingError, match="built-in targets: erp, wms"):
        load_outbound_mapping("mes")


WMS = load_outbound_mapping("wms")


@given(lot=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                   min_size=1, max_size=20).map(str.strip).filter(bool),
       reason=st.text(min_size=1, max_size=200).map(str.strip).filter(bool))
def test_rendering_keeps_any_lot_and_reason_verbatim(lot: str, reason: str) -> None:
    """Canonical values are already stripped; the target gets them unchanged."""
    wms = WMS
    fields = {"kind": "held", "gtin": GTIN, "lot": lot, "reason": reason, "event_time": AT,
              "source_system": "tracebridge"}
    message = wms.render(fields)
    assert message["LOT_NO"] == lot
    assert message.get("REASON_TXT") == reason


def test_a_forwarded_kind_missing_from_a_code_list_fails_at_start_up() -> None:
    text = MINIMAL.replace("[held]", "[held, released]").replace(
        "  A: lot", "  S: {field: kind, map: s}") + (
        "code_lists:\n  s: {unknown: reject, values: {held: X}}\n")
    with pytest.raises(MappingError, match="field S: unknown code 'released'"):
        ForwardToTargets([OutboundMapping.from_text(text, "t.yaml")])
