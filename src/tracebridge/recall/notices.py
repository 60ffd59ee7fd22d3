"""Per-customer recall lists (CSV and XLSX) and the recall notice text (REQ 34, 36).

Each consignee gets one list: every shipment line of an affected lot it received, with
the shipment document, ship date, product, GTIN, lot, serial and quantity. The notice
names the product, the lot numbers and the serials in full, with each lot's UDI, so the
consignee can identify the goods at once (21 CFR 7.49(c)(1)(ii)).

Lists are built in memory as bytes; ``service`` writes them (a drill only counts them).

>>> rows = [["RCL-1", "C1", "DN-1", "2026-01-02", "", "0950", "A1", "", 3.0, "EA"]]
>>> customer_csv(rows).decode().splitlines()[1]
'RCL-1,C1,DN-1,2026-01-02,,0950,A1,,3.0,EA'
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from tracebridge.recall.model import CustomerImpact, Impact, Recall
from tracebridge.trace.assemble import lot_udi

HEADER = ["recall", "customer", "shipment", "ship_date", "product", "gtin", "lot", "serial",
          "quantity", "uom"]


def customer_rows(recall_id: str, customer: CustomerImpact, impact: Impact) -> list[list[Any]]:
    """One row per serial, or per lot line when unserialised, sent to ``customer``.

    Returns are not listed: the list says what the consignee received.
    """
    rows: list[list[Any]] = []
    for s in customer.shipments:
        if s.kind != "shipped":
            continue
        head = [recall_id, customer.consignee.code, s.shipment, s.shipped_at.date().isoformat(),
                impact.products.get(s.gtin) or "", s.gtin, s.lot]
        if s.serials and len(s.serials) == s.quantity:
            rows.extend([*head, serial, 1.0, s.uom or ""] for serial in s.serials)
        else:
            rows.append([*head, " ".join(s.serials), s.quantity, s.uom or ""])
    return rows


def customer_csv(rows: Sequence[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def customer_xlsx(recall_id: str, customer: CustomerImpact, rows: Sequence[Sequence[Any]]
                  ) -> bytes:
    """The list as a workbook: recall and consignee on the first row, then the lines.

    The recall and customer columns of the CSV are constant within one customer's file,
    so the sheet states them once; cells are what a large list costs to write.
    """
    from openpyxl import Workbook  # type: ignore[import-untyped]  # heavy: only on use

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=_sheet_title(customer.consignee.code))
    c = customer.consignee
    sheet.append(["recall", recall_id, "customer", c.code, c.name or "", c.address or "",
                  c.phone or ""])
    sheet.append(HEADER[2:])
    for row in rows:
        sheet.append(list(row[2:]))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _sheet_title(code: str) -> str:
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in code)
    return cleaned[:31] or "customer"


def safe_name(code: str) -> str:
    """A customer code usable as a file name."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in code) or "customer"


def notice_text(recall: Recall, impact: Impact, customer: CustomerImpact | None = None) -> str:
    """The recall notice: product, lots with UDI, serials, quantities, what to do."""
    lots = {f"{lot.gtin}/{lot.lot}": lot for lot in impact.lots}
    named = customer.lots if customer is not None else [
        f"{lot.gtin}/{lot.lot}" for lot in impact.lots
        if lot.role == "finished" or lot.shipped > 0]  # what consignees can hold
    lines = [
        f"URGENT: MEDICAL DEVICE RECALL — {recall.id} (Class {recall.recall_class})",
        "",
    ]
    if customer is not None:
        c = customer.consignee
        lines += [f"To: {c.name or c.code} ({c.code})", *([c.address] if c.address else []), ""]
    products = sorted({impact.products.get(name.split("/")[0]) or name.split("/")[0]
                       for name in named})
    lines += [f"Product: {recall.product or '; '.join(products)}",
              f"Reason: {recall.reason}", "", "Affected lots:"]
    serials = set(customer.serials) if customer is not None else None
    for name in named:
        gtin, _, lot_number = name.partition("/")
        lot = lots.get(name)
        expiry = lot.expiry if lot is not None else None
        product = impact.products.get(gtin) or "product"
        lines.append(f"  - {product}, GTIN {gtin}, LOT {lot_number}, UDI "
                     f"{lot_udi(gtin, lot_number, expiry)}"
                     + (f", expiry {expiry}" if expiry else ""))
        units = [s for s in (lot.serials if lot is not None else [])
                 if serials is None or f"{gtin}/{s}" in serials]
        if units:
            lines.append(f"    serial numbers: {', '.join(units)}")
    if customer is not None:
        lines += ["", f"Our records show {customer.shipped:g} unit(s) shipped to you in "
                  f"{len({s.shipment for s in customer.shipments if s.kind == 'shipped'})} "
                  "shipment(s); the enclosed list names each shipment, lot and serial."]
    lines += ["", "Please stop using and distributing these units at once, quarantine them, "
              "and return the response form stating the quantity you have on hand, even if it "
              "is none." + (f" Recall depth: {recall.depth} level — pass this notice on to "
                            "your customers who received the product."
                            if recall.depth != "wholesale" else "")]
    return "\n".join(lines) + "\n"
