"""The built-in ERP and WMS mappings map every simulated record, and reject bad ones
with the right reason — never with anything but ``RecordRejected``."""

from __future__ import annotations

import functools
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracebridge.domain.events import EventKind
from tracebridge.mapping.engine import Mapping, load_mapping
from tracebridge.mapping.records import RawRecord, RecordRejected
from tracebridge.sim.erp_export import COLUMNS
from tracebridge.sim.faults import FaultRates
from tracebridge.sim.generator import generate
from tracebridge.sim.truth import load_truth


@pytest.fixture(scope="module")
def clean_plant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean")
    generate(out, seed=8, scale=0.05, faults=FaultRates.none())
    return out


@pytest.fixture(scope="module")
def faulty_plant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("faulty")
    generate(out, seed=9, scale=0.2, faults=FaultRates(missing_field=0.03, unknown_code=0.03))
    return out


@functools.cache
def _builtin(system: str) -> Mapping:
    return load_mapping(system)


def _raws(out: Path, system: str) -> list[tuple[Mapping, RawRecord]]:
    mapping = load_mapping(system)
    return [(mapping, raw) for path in sorted((out / system).iterdir())
            for raw in mapping.read(path)]


@pytest.mark.parametrize("system", ["erp", "wms"])
def test_every_record_of_a_clean_plant_maps(clean_plant: Path, system: str) -> None:
    kinds: Counter[str] = Counter()
    entities: Counter[str] = Counter()
    raws = _raws(clean_plant, system)
    for mapping, raw in raws:
        mapped = mapping.map(raw)
        assert mapped.events or mapped.master, raw.origin
        kinds.update(e.kind.value for e in mapped.events)
        entities.update(m.entity for m in mapped.master)
        for event in mapped.events:
            assert event.source.system == system and event.source.mapping_id == mapping.mapping_id
    assert len(raws) > 100
    assert {"opening_balance", "received", "consumed", "produced", "shipped"} <= set(kinds)
    assert "location" in entities


def test_erp_master_data_covers_products_parties_and_people(clean_plant: Path) -> None:
    entities = {m.entity for mapping, raw in _raws(clean_plant, "erp")
                for m in mapping.map(raw).master}
    assert entities == {"product", "material", "supplier", "party", "equipment", "operator",
                        "location"}


def test_customer_master_keeps_consignee_name_address_and_gln(clean_plant: Path) -> None:
    """REQ-26: the consignee's name and address are in the distribution master data."""
    parties = [m for mapping, raw in _raws(clean_plant, "erp") if raw.record_type == "customer"
               for m in mapping.map(raw).master]
    hospital = next(p for p in parties if p.key == "C3001")
    assert hospital.attributes["name"] == "苏州大学附属第一医院"
    assert hospital.attributes["party_type"] == "hospital"
    assert len(hospital.attributes["gln"]) == 13 and hospital.attributes["street"]


def test_faulty_records_are_rejected_with_the_right_reason_and_resent(faulty_plant: Path) -> None:
    truth = load_truth(faulty_plant)
    expected = {f"{kind}": {r for r in truth.faults[kind]["records"]}
                for kind in ("missing_field", "unknown_code")}
    outcomes: dict[str, list[str]] = {}
    for system in ("erp", "wms"):
        for mapping, raw in _raws(faulty_plant, system):
            record = f"{system}:{raw.record_key}"
            try:
                mapping.map(raw)
                outcomes.setdefault(record, []).append("ok")
            except RecordRejected as rejected:
                outcomes.setdefault(record, []).append(rejected.reason)
    assert expected["missing_field"] and expected["unknown_code"]
    for kind, reason in (("missing_field", "missing-field"), ("unknown_code", "unknown-code")):
        for record in expected[kind]:
            assert outcomes[record][0] == reason, record
            assert outcomes[record][-1] == "ok", f"{record}: the corrected re-send maps"
    rejected_ids = {r for r, seen in outcomes.items() if any(s != "ok" for s in seen)}
    assert rejected_ids == expected["missing_field"] | expected["unknown_code"]


def _one(mapping: Mapping, record_type: str, fields: dict[str, Any]) -> Any:
    payload = json.dumps(fields).encode()
    return mapping.map(RawRecord(mapping.source_system, record_type, payload, "test:1", fields))


def _movement(**overrides: str) -> dict[str, str]:
    row = dict.fromkeys(COLUMNS["goods_movements"], "")
    row.update(MBLNR="4900000123", MJAHR="2026", ZEILE="0001", BWART="601", MATNR="FG-1001",
               EAN11="06901234010019", WERKS="1000", LGORT="FG01", CHARG="260105001",
               MENGE="2.000", MEINS="BOX", BUDAT="05.01.2026", CPUTM="08:30:00",
               KUNNR="C2001", VBELN="80000001", USNAM="00010041")
    row.update(overrides)
    return row


def test_erp_local_time_becomes_utc_with_the_shanghai_offset() -> None:
    event = _one(load_mapping("erp"), "goods_movement", _movement()).events[0]
    assert event.event_time == datetime(2026, 1, 5, 0, 30, tzinfo=UTC)
    assert event.event_time_zone_offset == "+08:00"


def test_erp_boxes_become_each_and_cartons_use_the_material_factor() -> None:
    erp = load_mapping("erp")
    shipped = _one(erp, "goods_movement", _movement()).events[0]
    assert shipped.kind is EventKind.SHIPPED
    assert (shipped.lots[0].quantity, shipped.lots[0].uom) == (100.0, "EA")
    assert shipped.biz_transactions[0].id == "80000001"
    received = _one(erp, "goods_movement", _movement(
        BWART="101", MATNR="RM-3002", MEINS="CAR", MENGE="3.000", EBELN="4500000001",
        LIFNR="V1002", LICHA="02-26005")).events[0]
    assert received.kind is EventKind.RECEIVED
    assert received.lots[0].quantity == 3000.0 and received.source_party == "V1002"
    assert received.details["supplier_lot"] == "02-26005"


def test_erp_production_receipt_routes_on_the_order_field() -> None:
    produced = _one(load_mapping("erp"), "goods_movement", _movement(
        BWART="101", AUFNR="1000001", HSDAT="05.01.2026", VFDAT="05.01.2029")).events[0]
    assert produced.kind is EventKind.PRODUCED and produced.work_order == "1000001"
    assert produced.lots[0].expiry == "2029-01-05"


def test_erp_reversal_declares_its_original_in_error() -> None:
    """REQ-61: corrections are error declarations naming the original record."""
    event = _one(load_mapping("erp"), "goods_movement", _movement(
        BWART="262", AUFNR="1000001", SMBLN="4900000100", SJAHR="2026",
        SMBLP="0001")).events[0]
    assert event.kind is EventKind.ERROR_DECLARED
    assert event.corrects == ("4900000100-2026-0001",)


@pytest.mark.parametrize(("override", "reason", "field"), [
    ({"BWART": "999"}, "unknown-code", "BWART"),
    ({"MEINS": "PAL"}, "unknown-code", "MEINS"),
    ({"CHARG": ""}, "missing-field", "CHARG"),
    ({"MENGE": "zwei"}, "invalid-value", "MENGE"),
    ({"BUDAT": "2026-01-05"}, "invalid-value", "BUDAT+CPUTM"),
])
def test_erp_rejections_name_reason_and_field(override: dict[str, str], reason: str,
                                              field: str) -> None:
    with pytest.raises(RecordRejected) as caught:
        _one(load_mapping("erp"), "goods_movement", _movement(**override))
    assert caught.value.reason == reason
    assert caught.value.errors[0].field == field


def test_wms_pack_of_a_pallet_lists_child_cases() -> None:
    event = _one(load_mapping("wms"), "transaction", {
        "txn_id": "T1", "type": "PACK", "ts": 1767571200000, "loc": "DOCK-01",
        "sscc": "069012340000000019", "children": ["169012340000000026"]}).events[0]
    assert event.kind is EventKind.PACKED and event.children == ("169012340000000026",)
    assert event.event_time_zone_offset == "+08:00" and event.event_time.hour == 0


_SCALARS = st.one_of(st.none(), st.text(max_size=12), st.integers(), st.floats(),
                     st.booleans(), st.sampled_from(["", " ", "101", "601", "BOX", "EA", "CAR",
                                                     "05.01.2026", "08:30:00", "SHIP", "PACK"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)


@pytest.mark.parametrize("system", ["erp", "wms"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_records_only_ever_raise_record_rejected(system: str, data: st.DataObject) -> None:
    mapping = _builtin(system)
    record_type = data.draw(st.sampled_from(mapping.record_types))
    names = [*COLUMNS["goods_movements"], "txn_id", "type", "ts", "gtin", "lot_no", "qty", "uom",
             "loc", "ref", "contents", "children", "serials", "sscc", "reading_id", "MTART",
             "KUNNR", "NAME1", "KTOKD", "PRUEFLOS", "MERKNR", "ART", "MBEWERTG", "VCODE"]
    fields = data.draw(st.dictionaries(st.sampled_from(names) | st.text(max_size=5), _VALUES,
                                       max_size=25))
    try:
        _one(mapping, record_type, fields)
    except RecordRejected as rejected:
        assert rejected.reason and rejected.errors


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.binary(max_size=80), min_size=1, max_size=5))
def test_random_bytes_in_a_file_only_ever_raise_record_rejected(
        tmp_path_factory: pytest.TempPathFactory, lines: list[bytes]) -> None:
    folder = tmp_path_factory.mktemp("bytes")
    for system, name in (("erp", "goods_movements_202601.csv"), ("wms", "transactions_1.jsonl")):
        path = folder / name
        path.write_bytes(b"\n".join(lines))
        mapping = _builtin(system)
        for raw in mapping.read(path):
            try:
                mapping.map(raw)
            except RecordRejected as rejected:
                assert rejected.reason
