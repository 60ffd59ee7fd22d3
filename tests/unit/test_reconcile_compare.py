"""The pure comparison of two systems' views: tolerances, location map, every measure."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tracebridge.reconcile.compare import (
    CODES,
    Measure,
    Observation,
    compare,
    consistency,
)
from tracebridge.reconcile.tolerances import Tolerances

GTIN = "09506000134352"
SITE = Tolerances(locations={"erp": {"1000-*": "SZ01"}, "wms": {"*": "SZ01"}})


def site_with(**changes: object) -> Tolerances:
    return Tolerances.model_validate({**SITE.model_dump(), **changes})


def erp(measure: Measure, value: float | str | None, *, location: str = "1000-FG01",
        reference: str = "", seq: int = 1, lot: str = "L1") -> Observation:
    return Observation(measure, "erp", GTIN, lot, location, reference, value,
                       seq=seq, record=f"E{seq}")


def wms(measure: Measure, value: float | str | None, *, location: str = "FG-01-01",
        reference: str = "", seq: int = 100, lot: str = "L1") -> Observation:
    return Observation(measure, "wms", GTIN, lot, location, reference, value,
                       seq=seq, record=f"T{seq}")


def test_agreeing_quantities_are_no_finding() -> None:
    facts = [erp(Measure.SHIPPED, 30, reference="D1", seq=1),
             erp(Measure.SHIPPED, 20, reference="D1", seq=2),
             wms(Measure.SHIPPED, 50, reference="D1")]
    assert compare(facts, SITE) == []


def test_shipped_mismatch_names_both_sides_records_and_values() -> None:
    [diff] = compare([erp(Measure.SHIPPED, 51, reference="D1"),
                      wms(Measure.SHIPPED, 50, reference="D1", location="FG-03-02")], SITE)
    assert diff.code == "quantity-mismatch-shipped"
    assert (diff.key.location, diff.key.reference) == ("SZ01", "D1")
    assert (diff.left.value, diff.right.value) == (51.0, 50.0)
    assert (diff.left.records, diff.right.records) == ({1: "E1"}, {100: "T100"})


def test_shipments_are_compared_per_document() -> None:
    facts = [erp(Measure.SHIPPED, 50, reference="D1"), wms(Measure.SHIPPED, 50, reference="D2")]
    assert sorted(d.key.reference for d in compare(facts, SITE)) == ["D1", "D2"]


def test_a_quantity_one_system_never_reported_counts_as_zero() -> None:
    [diff] = compare([erp(Measure.SCRAPPED, 50)], SITE)
    assert diff.code == "quantity-mismatch-scrapped"
    assert (diff.left.value, diff.right.value, diff.right.reported) == (50.0, None, False)


def test_on_hand_sums_moves_per_shared_location() -> None:
    facts = [erp(Measure.ON_HAND, 100, seq=1), erp(Measure.ON_HAND, -40, seq=2),
             wms(Measure.ON_HAND, 100, location="DOCK-01", seq=3),
             wms(Measure.ON_HAND, -100, location="DOCK-01", seq=4),
             wms(Measure.ON_HAND, 100, location="FG-01-01", seq=5),
             wms(Measure.ON_HAND, -41, location="FG-01-01", seq=6)]
    [diff] = compare(facts, SITE)
    assert diff.code == "quantity-mismatch-on-hand"
    assert (diff.left.value, diff.right.value) == (60.0, 59.0)


def test_finer_location_map_compares_per_storage_location() -> None:
    per_store = Tolerances(locations={"wms": {"FG-*": "1000-FG01", "RM-*": "1000-RM01"}})
    facts = [erp(Measure.ON_HAND, 10, location="1000-FG01"),
             erp(Measure.ON_HAND, 5, location="1000-RM01"),
             wms(Measure.ON_HAND, 15, location="FG-02-03")]
    assert {(d.key.location, d.left.value, d.right.value) for d in compare(facts, per_store)} == {
        ("1000-FG01", 10.0, 15.0), ("1000-RM01", 5.0, None)}


def test_unmapped_locations_are_compared_as_they_are() -> None:
    assert compare([erp(Measure.ON_HAND, 5, location="WH1"),
                    wms(Measure.ON_HAND, 5, location="WH1")], Tolerances()) == []


def test_other_systems_are_ignored() -> None:
    partner = Observation(Measure.SHIPPED, "partner", GTIN, "L1", "X", "D1", 99.0,
                          seq=5, record="P5")
    assert compare([partner], SITE) == []


@given(st.floats(0, 10_000, allow_nan=False), st.floats(-50, 50, allow_nan=False),
       st.floats(0, 20, allow_nan=False))
def test_absolute_tolerance_is_a_strict_bound(base: float, delta: float, allowed: float) -> None:
    tolerances = site_with(quantities={"default": {"absolute": allowed}})
    facts = [erp(Measure.RECEIVED, base), wms(Measure.RECEIVED, base + delta)]
    found = compare(facts, tolerances)
    difference = abs(round(base + delta, 6) - round(base, 6))
    if difference > allowed + 1e-6:
        assert [d.code for d in found] == ["quantity-mismatch-received"]
    elif difference <= allowed - 1e-6:
        assert found == []


def test_relative_tolerance_per_measure_overrides_the_default() -> None:
    tolerances = site_with(quantities={"default": {"absolute": 0}, "on_hand": {"relative": 0.01}})
    assert compare([erp(Measure.ON_HAND, 1000), wms(Measure.ON_HAND, 991)], tolerances) == []
    assert len(compare([erp(Measure.ON_HAND, 1000), wms(Measure.ON_HAND, 989)], tolerances)) == 1
    assert len(compare([erp(Measure.PRODUCED, 1000), wms(Measure.PRODUCED, 999)], tolerances)) == 1


def test_dates_compare_within_days_tolerance() -> None:
    facts = [erp(Measure.EXPIRY, "2030-01-31", location="1000-RM01"),
             wms(Measure.EXPIRY, "2030-02-01")]
    [diff] = compare(facts, SITE)
    assert (diff.code, diff.key.location) == ("expiry-mismatch", "")
    lenient = site_with(dates={"expiry": {"days": 1}})
    assert compare(facts, lenient) == []


def test_a_date_only_one_system_reports_is_not_compared() -> None:
    assert compare([erp(Measure.MANUFACTURED, "2026-01-05")], SITE) == []


def test_latest_date_of_each_side_counts() -> None:
    facts = [erp(Measure.EXPIRY, "2030-01-01", seq=1), erp(Measure.EXPIRY, "2030-02-01", seq=2),
             wms(Measure.EXPIRY, "2030-02-01")]
    assert compare(facts, SITE) == []


def test_req18_lot_status_of_both_systems_must_agree() -> None:
    """REQ-18: the ERP usage decision and the WMS stock status are the same lot status."""
    agree = [erp(Measure.STATUS, "released"), wms(Measure.STATUS, "released")]
    assert compare(agree, SITE) == []
    [diff] = compare([erp(Measure.STATUS, "released", seq=1), erp(Measure.STATUS, "hold", seq=2),
                      wms(Measure.STATUS, "released")], SITE)
    assert (diff.code, diff.left.value, diff.right.value) == ("status-mismatch", "hold",
                                                                "released")


def test_status_is_not_compared_when_the_wms_reports_none() -> None:
    assert compare([erp(Measure.STATUS, "hold")], SITE) == []


def test_serial_sets_must_be_equal() -> None:
    same = [erp(Measure.SERIALS, "S1", seq=1), erp(Measure.SERIALS, "S2", seq=2),
            wms(Measure.SERIALS, "S2", seq=3), wms(Measure.SERIALS, "S1", seq=4)]
    assert compare(same, SITE) == []
    [diff] = compare([*same, wms(Measure.SERIALS, "S3", seq=5)], SITE)
    assert (diff.code, diff.left.value, diff.right.value) == (
        "serial-set-mismatch", ["S1", "S2"], ["S1", "S2", "S3"])


def test_every_measure_has_its_own_kebab_case_code() -> None:
    assert set(CODES) == set(Measure)
    assert len(set(CODES.values())) == len(CODES)
    assert all(code == code.lower() and " " not in code and "_" not in code
               for code in CODES.values())


def test_consistency_is_the_share_of_lots_that_agree() -> None:
    assert consistency(4, 1) == 0.75
    assert consistency(0, 0) is None
