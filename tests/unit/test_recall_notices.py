"""Customer lists and the recall notice (REQ 34, 36), built from an impact value."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

from openpyxl import load_workbook  # type: ignore[import-untyped]

from tracebridge.recall.model import (
    AffectedLot,
    Consignee,
    CustomerImpact,
    Impact,
    Recall,
    Shipment,
)
from tracebridge.recall.notices import customer_csv, customer_rows, customer_xlsx, notice_text

AT = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
GTIN = "09506000134352"


def _impact() -> Impact:
    shipments = [
        Shipment(shipment="DN-1", kind="shipped", shipped_at=AT, gtin=GTIN, lot="A1",
                 serials=["S1", "S2"], quantity=2, uom="EA", in_transit=True),
        Shipment(shipment="DN-2", kind="shipped", shipped_at=AT, gtin=GTIN, lot="A2",
                 quantity=5, uom="EA", in_transit=False),
        Shipment(shipment="RMA-1", kind="returned", shipped_at=AT, gtin=GTIN, lot="A2",
                 quantity=1, uom="EA", in_transit=False)]
    customer = CustomerImpact(
        consignee=Consignee(code="HOSP-1", name="City Hospital", address="1 Main St"),
        shipped=7, returned=1, in_transit=2, first_shipped_at=AT, last_shipped_at=AT,
        lots=[f"{GTIN}/A1", f"{GTIN}/A2"], serials=[f"{GTIN}/S1", f"{GTIN}/S2"],
        shipments=shipments)
    lots = [AffectedLot(gtin=GTIN, lot="A1", role="finished", depth=1, expiry="2028-03-31",
                        serials=["S1", "S2", "S3"]),
            AffectedLot(gtin=GTIN, lot="A2", role="finished", depth=1)]
    return Impact(scope_lots=["0950/C"], products={GTIN: "Infusion set 20 drops/ml"},
                  lots=lots, finished_lots=[f"{GTIN}/A1", f"{GTIN}/A2"], sub_assemblies=[],
                  serials=[], stock=[], customers=[customer], quantity_produced=0,
                  quantity_in_stock=0, quantity_in_transit=2, quantity_in_distribution=6,
                  notes=[])


def _recall() -> Recall:
    return Recall(id="RCL-20261125-001", recall_class="I", depth="consumer",
                  public_warning=True, effectiveness_level="A", reason="leaking seal",
                  product=None, reportable_806=True, initiated_at=AT,
                  report_due=date(2026, 3, 18), expected_completion=None, scope=[],
                  status="open", initiated_by="qa", close_reason=None, history=[])


def test_req34_rows_list_each_serial_and_each_unserialised_line_without_returns() -> None:
    """REQ-34: shipment, date, identification and quantity of everything sent to the customer."""
    impact = _impact()
    rows = customer_rows("R1", impact.customers[0], impact)
    assert [(r[2], r[6], r[7], r[8]) for r in rows] == [
        ("DN-1", "A1", "S1", 1.0), ("DN-1", "A1", "S2", 1.0), ("DN-2", "A2", "", 5)]
    assert rows[0][3] == "2026-03-04" and rows[0][4] == "Infusion set 20 drops/ml"
    text = customer_csv(rows).decode()
    assert text.splitlines()[0].startswith("recall,customer,shipment,ship_date")
    sheet = load_workbook(io.BytesIO(customer_xlsx("R1", impact.customers[0], rows))).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][:5] == ["recall", "R1", "customer", "HOSP-1", "City Hospital"]
    assert values[1][0] == "shipment" and values[2][:2] == ["DN-1", "2026-03-04"]
    assert values[2][4:6] == ["A1", "S1"] and len(values) == 2 + 3


def test_req36_notice_names_product_lots_udi_and_serials() -> None:
    """REQ-36: product, lot numbers, codes (UDI) and serials, clearly enough to identify."""
    impact = _impact()
    general = notice_text(_recall(), impact)
    assert "Infusion set 20 drops/ml" in general and "LOT A1" in general and "LOT A2" in general
    assert f"(01){GTIN}(17)280331(10)A1" in general and "S1, S2, S3" in general
    assert "Class I" in general
    to_customer = notice_text(_recall(), impact, impact.customers[0])
    assert "To: City Hospital (HOSP-1)" in to_customer
    assert "serial numbers: S1, S2\n" in to_customer  # only the units it received
    assert "7 unit(s) shipped to you in 2 shipment(s)" in to_customer
