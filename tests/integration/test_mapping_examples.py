"""The shipped example mappings, each ingested from its sample files and traced end to end.

Odoo (JSON move lines + CSV lots), ERPNext (JSON ledger + XLSX batches + CSV items + JSON
delivery notes) and a Chinese ERP (GB18030 CSV, Chinese field names, header + lines
files): the same `tracebridge ingest --mapping` path, the same trace.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from tracebridge.bootstrap import Container
from tracebridge.mapping.engine import MAPPING_DIR, load_mapping
from tracebridge.store import tables as t
from tracebridge.trace.reference import lot_link

EXAMPLES = MAPPING_DIR / "examples"


def ingest_example(container: Container, name: str) -> dict[str, object]:
    mapping = load_mapping(f"examples/{name}")
    return container.ingest.ingest_paths(mapping, [EXAMPLES / name / "sample"]).as_dict()


def dead_letter_reasons(container: Container) -> list[str]:
    with container.engine.connect() as conn:
        return sorted(r.reason for r in conn.execute(select(t.dead_letter.c.reason)))


def test_odoo_move_lines_joined_with_lots_trace_from_resin_to_hospital(
        container: Container) -> None:
    summary = ingest_example(container, "odoo")
    assert summary["received"] == 8 and summary["rejected_total"] == 0
    assert summary["events_stored"] == 7  # the cancelled line is skipped, not an event
    back = container.trace.trace(lot_link("08712345000011", "IS-26-0001"), direction="backward")
    assert back.lot.expiry == "2029-03-01" and back.lot.quantity == 100.0  # 2 × box of 50
    assert back.backward is not None
    inputs = {(link.input_lot, link.work_order) for link in back.backward.links}
    assert inputs == {("RES-2026-001", "WH/MO/00001"), ("TUB-2026-014", "WH/MO/00001")}
    forward = container.trace.trace(lot_link("08712345000028", "RES-2026-001"),
                                    direction="forward").forward
    assert forward is not None
    assert [(n.lot, n.depth) for n in forward.lots] == [("IS-26-0001", 1)]
    shipped = {(s.shipment, s.quantity) for s in forward.shipments}
    assert shipped == {("WH/OUT/00003", 40.0)}  # the cancelled WH/OUT/00004 never shipped


def test_erpnext_ledger_with_batches_from_xlsx_traces_and_enforces_sterile_expiry(
        container: Container) -> None:
    """REQ-43: a sterile device's lot without an expiry date is refused, by the dictionary."""
    summary = ingest_example(container, "erpnext")
    assert summary["received"] == 8
    assert summary["rejected"] == {"dictionary-required": 1}
    result = container.trace.trace(lot_link("06901234000016", "CVC-2603-01"))
    assert result.lot.expiry == "2029-03-03" and result.lot.manufactured == "2026-03-04"
    assert result.backward is not None and result.forward is not None
    assert {link.input_lot for link in result.backward.links} == {"PU-2602-A", "HUB-2602-B"}
    resin = next(n for n in result.backward.lots if n.lot == "PU-2602-A")
    assert resin.quantity == 500.0  # 10 boxes of 50
    assert [(s.shipment, s.quantity) for s in result.forward.shipments] == [
        ("MAT-DN-2026-00007", 60.0)]
    assert dead_letter_reasons(container) == ["dictionary-required"]


def test_chinese_erp_gb18030_header_and_lines_trace_to_the_hospital(
        container: Container) -> None:
    summary = ingest_example(container, "chinese_erp")
    assert summary["rejected_total"] == 0 and summary["master_versions"] == 3
    result = container.trace.trace(lot_link("06901234000061", "SY260306"))
    assert result.lot.product_name == "一次性使用输液器 带针"
    assert result.lot.manufactured == "2026-03-06" and result.lot.expiry == "2029-03-05"
    assert result.backward is not None and result.forward is not None
    assert {link.input_lot for link in result.backward.links} == {"PVC-260301", "ZJ-260215"}
    shipments = result.forward.shipments
    assert {s.shipment for s in shipments} == {"XS20260310"}
    assert sum(s.quantity or 0 for s in shipments) == 70.0  # 1 箱 (50) + 20 套
    events = container.trace.trace(lot_link("06901234000047", "PVC-260301"))
    assert events.lot.quantity == 200.0  # 4 箱 × 50


def test_every_event_keeps_the_mapping_id_and_version(container: Container) -> None:
    ingest_example(container, "chinese_erp")
    with container.engine.connect() as conn:
        rows = conn.execute(select(t.event.c.mapping_id, t.event.c.mapping_version)).all()
    assert rows and set(rows) == {("cn-erp-export", "1")}


def test_example_folders_hold_only_what_their_mapping_reads() -> None:
    for folder in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        mapping = load_mapping(f"examples/{folder.name}")
        for sample in (folder / "sample").iterdir():
            mapping.record_type_for(Path(sample))  # raises for a file nothing reads
