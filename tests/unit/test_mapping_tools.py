"""`tracebridge mapping check | try | table`: lint, dry run and field table."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from openpyxl import load_workbook  # type: ignore[import-untyped]
from typer.testing import CliRunner

from tracebridge.cli.mapping import app
from tracebridge.mapping.engine import MAPPING_DIR

runner = CliRunner()
ERPNEXT_LEDGER = MAPPING_DIR / "examples" / "erpnext" / "sample" / "Stock Ledger Entry.json"


def test_check_accepts_every_shipped_mapping() -> None:
    for ref in ("erp", "wms", "examples/odoo", "examples/erpnext", "examples/chinese_erp"):
        result = runner.invoke(app, ["check", ref])
        assert result.exit_code == 0, result.output
        assert result.output.startswith("ok: ")


def test_check_reports_file_line_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((MAPPING_DIR / "builtin" / "wms.yaml").read_text(encoding="utf-8")
                   .replace("kind: picked", "kind: pickd"), encoding="utf-8")
    result = runner.invoke(app, ["check", str(bad)])
    assert result.exit_code == 1
    assert "bad.yaml:" in result.output and "unknown event kind 'pickd'" in result.output


def test_try_prints_canonical_events_and_every_field_error_as_json() -> None:
    result = runner.invoke(app, ["try", "examples/erpnext", str(ERPNEXT_LEDGER), "--json"])
    assert result.exit_code == 1  # one record is rejected
    report = json.loads(result.output)
    assert (report["records"], report["rejected"]) == (8, 1)
    [rejected] = [r for r in report["results"] if not r["ok"]]
    assert rejected["reason"] == "dictionary-required"
    assert rejected["errors"][0]["field"] == "batch.expiry_date"
    shipped = next(e for r in report["results"] for e in r["events"] if e["kind"] == "shipped")
    assert shipped["destination_party"] == "Apollo Hospitals Chennai"
    assert shipped["source"]["mapping_id"] == "erpnext-stock-ledger"
    assert shipped["source"]["mapping_version"] == "1"


def test_try_in_text_names_the_rejected_record_and_writes_nothing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["try", "examples/erpnext", str(ERPNEXT_LEDGER)])
    assert "Stock Ledger Entry.json:7: REJECTED [dictionary-required]" in result.output
    assert "8 records, 1 rejected (nothing was written)" in result.output
    assert list(tmp_path.iterdir()) == []


def test_table_lists_source_to_canonical_with_chinese_and_english_labels(
        tmp_path: Path) -> None:
    result = runner.invoke(app, ["table", "examples/chinese_erp", "--format", "csv"])
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.output)))
    expiry = next(r for r in rows if r["target"] == "received.lots[].expiry")
    assert (expiry["source"], expiry["dictionary"]) == ("有效期至", "lot.expiry_date")
    assert (expiry["label_zh_cn"], expiry["label_en"]) == ("有效期至", "expiry date")
    assert expiry["where"].startswith("examples/chinese_erp/mapping.yaml:")
    markdown = runner.invoke(app, ["table", "erp", "--format", "md"]).output
    assert markdown.startswith("| record_type | case | target |") and "| 批号 |" in markdown
    out = tmp_path / "table.xlsx"
    assert runner.invoke(app, ["table", "wms", "--format", "xlsx", "--out", str(out)]
                         ).exit_code == 0
    sheet = load_workbook(out).active
    assert sheet is not None
    assert [c.value for c in sheet[1]][:3] == ["record_type", "case", "target"]
    assert sheet.max_row > 50


def test_table_as_xlsx_needs_an_output_file() -> None:
    result = runner.invoke(app, ["table", "wms", "--format", "xlsx"])
    assert result.exit_code == 2 and "--out" in result.output
