"""`tracebridge udi parse` end to end through the root Typer app (REQ-46, REQ-56)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tracebridge.cli.main import app

runner = CliRunner()
GTIN = "09506000134352"


def test_parse_prints_a_table_of_the_fields() -> None:
    result = runner.invoke(app, ["udi", "parse", f"(01){GTIN}(17)261200(10)A1"])
    assert result.exit_code == 0, result.output
    for expected in ("GS1", GTIN, "2026-12-31", "A1", "UDI-DI"):
        assert expected in result.stdout


def test_parse_json_with_a_typed_group_separator() -> None:
    for separator in (r"\x1d", "<GS>", "\x1d"):
        result = runner.invoke(app, ["udi", "parse", f"01{GTIN}10A1{separator}17261231", "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["di"] == GTIN and data["lot"] == "A1" and data["expiry_date"] == "2026-12-31"


def test_parse_hibc_and_iccbba() -> None:
    hibc = runner.invoke(app, ["udi", "parse", "+A123BJC5D6E71G+$$52001510X3GD", "--json"])
    assert json.loads(hibc.stdout)["agency"] == "HIBCC"
    isbt = runner.invoke(app, ["udi", "parse", "=/A9999XYZ100T0944=,000025", "--json"])
    assert json.loads(isbt.stdout)["serial"] == "000025"


def test_req56_invalid_string_gives_one_line_reason_and_exit_2() -> None:
    """REQ-56: a failed check character is reported on stderr, exit code 2, no traceback."""
    result = runner.invoke(app, ["udi", "parse", "+A999ABC123DE1/$+1234567Y"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0
    assert "check character 'Y', expected 'Z'" in result.stderr
    assert "Traceback" not in result.stderr


def test_req46_string_of_no_agency_is_rejected() -> None:
    """REQ-46: the CLI names the agencies it expected."""
    result = runner.invoke(app, ["udi", "parse", "hello"])
    assert result.exit_code == 2
    assert "not a UDI of any issuing agency" in result.stderr
