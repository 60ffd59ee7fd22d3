"""`tracebridge dictionary …` end to end, through the real root command."""

from __future__ import annotations

import csv
import io
from importlib.resources import files
from pathlib import Path

from typer.testing import CliRunner

from tracebridge.cli.main import app
from tracebridge.dictionary.export import to_markdown
from tracebridge.dictionary.loader import load_dictionary

REPO_ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_export_markdown_prints_the_committed_page() -> None:
    result = runner.invoke(app, ["dictionary", "export", "--format", "md"])
    assert result.exit_code == 0, result.output
    page = (REPO_ROOT / "docs" / "data-dictionary.md").read_text(encoding="utf-8")
    assert result.stdout == page


def test_export_csv_in_english_only() -> None:
    result = runner.invoke(app, ["dictionary", "export", "--format", "csv", "--lang", "en"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][:4] == ["entity", "field", "en label", "type"]
    assert ["lot", "expiry_date", "expiry date", "date"] in [row[:4] for row in rows]
    assert "有效期至" not in result.stdout


def test_export_csv_to_a_file_opens_as_utf8_in_excel(tmp_path: Path) -> None:
    out = tmp_path / "dictionary.csv"
    result = runner.invoke(app, ["dictionary", "export", "-f", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert text.startswith("entity,field,zh-CN label,en label,")
    assert "批次状态" in text


def test_export_markdown_in_chinese_only(tmp_path: Path) -> None:
    out = tmp_path / "dictionary.md"
    result = runner.invoke(app, ["dictionary", "export", "--lang", "zh-CN", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert text == to_markdown(load_dictionary(), langs=("zh-CN",))
    assert "| field | zh-CN label | type |" in text


def test_export_rejects_an_unknown_format() -> None:
    result = runner.invoke(app, ["dictionary", "export", "--format", "xlsx"])
    assert result.exit_code == 2
    assert "xlsx" in result.output


def test_show_prints_the_fields_of_one_entity() -> None:
    result = runner.invoke(app, ["dictionary", "show", "recall"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for expected in ("recall — 召回 / recall", "effectiveness_level", "召回级别", "tracebridge"):
        assert expected in result.stdout


def test_show_unknown_entity_suggests_the_nearest() -> None:
    result = runner.invoke(app, ["dictionary", "show", "shipmnet"])
    assert result.exit_code == 1
    assert "error [not-found]: Unknown entity 'shipmnet'" in result.stderr
    assert "did you mean 'shipment'" in result.stderr
    assert "Traceback" not in result.output


def test_check_reports_the_built_in_dictionary_valid() -> None:
    result = runner.invoke(app, ["dictionary", "check"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Dictionary 1.1.0 (effective 2026-03-01) is valid: ")


def test_check_reports_a_broken_copy_with_file_and_line(tmp_path: Path) -> None:
    packaged = files("tracebridge.dictionary").joinpath("data")
    for source in packaged.iterdir():
        if source.name.endswith(".yaml"):
            (tmp_path / source.name).write_text(source.read_text("utf-8"), "utf-8")
    production = tmp_path / "production.yaml"
    text = production.read_text("utf-8")
    line = text.splitlines().index("        code_list: lot_status") + 1
    production.write_text(text.replace("code_list: lot_status", "code_list: lot_state"), "utf-8")

    result = runner.invoke(app, ["dictionary", "check", str(tmp_path)])

    assert result.exit_code == 1
    assert f"{production}:{line}: entities.lot.fields.status.code_list: " in result.stderr
    assert "did you mean 'lot_status'?" in result.stderr
    shown = runner.invoke(app, ["dictionary", "show", "lot", "--dictionary", str(tmp_path)])
    assert shown.exit_code == 1 and "dictionary-invalid" in shown.stderr
