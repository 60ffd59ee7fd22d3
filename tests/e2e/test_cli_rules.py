"""``tracebridge rules …`` and ``tracebridge alerts …`` against a SQLite file store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

import tracebridge.rules
from tracebridge.bootstrap import Container, bootstrap
from tracebridge.cli.alerts import app as alerts_app
from tracebridge.cli.rules import app as rules_app
from tracebridge.domain.events import BizTransaction, CanonicalEvent, EventKind, LotRef, Source
from tracebridge.settings import Settings
from tracebridge.store import tables as t

BUILTIN = Path(tracebridge.rules.__file__).parent / "builtin" / "quality.yaml"
GTIN = "06901234010015"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("TRACEBRIDGE_DATABASE_URL", url)
    app = bootstrap(Settings(database_url=url, rules_enabled=False))
    produced = CanonicalEvent(
        kind=EventKind.PRODUCED, event_time=T0, event_time_zone_offset="+08:00",
        lots=(LotRef(gtin=GTIN, lot="F1", quantity=10, uom="EA", expiry="2029-01-01",
                     manufactured="2026-03-01"),),
        work_order="WO-1", source=Source(system="erp", record_id="101-1"),
    )
    shipped = CanonicalEvent(
        kind=EventKind.SHIPPED, event_time=T0 + timedelta(hours=2),
        event_time_zone_offset="+08:00", destination_party="C1",
        lots=(LotRef(gtin=GTIN, lot="F1", quantity=10, uom="EA"),),
        biz_transactions=(BizTransaction(type="desadv", id="D1"),),
        source=Source(system="wms", record_id="SHIP-1"),
    )
    app.ingest.append_events([produced, shipped])  # rules off: history to dry-run against
    yield app
    app.close()


def counts(app: Container) -> tuple[int, ...]:
    with app.engine.connect() as conn:
        return tuple(
            int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in (t.event, t.outbox, t.rule_firing, t.alert)
        )


runner = CliRunner()


def test_rules_list_and_show() -> None:
    listed = runner.invoke(rules_app, ["list"])
    assert listed.exit_code == 0, listed.output
    assert "unreleased-shipment" in listed.stdout and "genealogy-gap" in listed.stdout
    shown = runner.invoke(rules_app, ["show", "failed-inspection"])
    assert json.loads(shown.stdout)[0]["actions"] == [{"type": "hold"}, {"type": "alert"}]
    missing = runner.invoke(rules_app, ["show", "no-such-rule"])
    assert missing.exit_code == 1


def test_rules_test_reports_what_would_fire_and_writes_nothing(store: Container) -> None:
    """REQ-9: the unreleased shipment in history is found by a dry run, without side effects."""
    before = counts(store)
    result = runner.invoke(rules_app, ["test", str(BUILTIN), "--json"])
    assert result.exit_code == 0, result.output
    fired = json.loads(result.stdout)
    rules = {f["rule_id"] for f in fired}
    assert "unreleased-shipment" in rules
    assert "genealogy-gap" in rules  # F1: produced without inputs, never released
    blocked = next(f for f in fired if f["rule_id"] == "unreleased-shipment")
    assert blocked["actions"][0] == {"type": "block_shipment", "outcome": "would",
                                     "lots": [f"{GTIN}/F1"]}
    assert counts(store) == before


def test_rules_test_since_skips_earlier_records(store: Container) -> None:
    later = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    result = runner.invoke(rules_app, ["test", str(BUILTIN), "--since", later])
    assert result.exit_code == 0, result.output
    assert "unreleased-shipment" not in result.stdout


def test_rules_test_rejects_a_broken_file_with_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "mine.yaml"
    broken.write_text(BUILTIN.read_text(encoding="utf-8").replace(
        'lot.present && lot.status != "released"', 'lot.present && lot.status != '), "utf-8")
    result = runner.invoke(rules_app, ["test", str(broken)])
    assert result.exit_code == 1
    assert "rule-invalid" in result.stderr and f"{broken}:" in result.stderr


def test_gaps_and_daily_run_raise_one_alert_per_lot(store: Container) -> None:
    gaps = runner.invoke(rules_app, ["gaps", "--json"])
    report = json.loads(gaps.stdout)
    assert report["lots"] == 1 and report["complete"] == 0
    assert set(report["gaps"][0]["gaps"]) == {"no-release", f"no-inputs:{GTIN}/F1"}
    for _ in range(2):
        daily = runner.invoke(rules_app, ["run-daily"])
        assert daily.exit_code == 0, daily.output
    listed = runner.invoke(alerts_app, ["list", "--json", "--code", "genealogy-gap"])
    assert len(json.loads(listed.stdout)) == 1


def test_run_daily_every_repeats_until_interrupted(
    store: Container, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scheduled job: run, sleep the interval, run again; Ctrl-C ends it cleanly."""
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr("tracebridge.cli.rules.time.sleep", nap)
    result = runner.invoke(rules_app, ["run-daily", "--every", "24h", "--json"])
    assert result.exit_code == 0, result.output
    assert naps == [86400.0, 86400.0]
    decoder, text, runs = json.JSONDecoder(), result.stdout, []
    while text.strip():
        run, end = decoder.raw_decode(text.lstrip())
        runs.append(run)
        text = text.lstrip()[end:]
    assert len(runs) == 2
    assert [f["rule_id"] for f in runs[0]] == ["genealogy-gap"]
    listed = runner.invoke(alerts_app, ["list", "--json", "--code", "genealogy-gap"])
    assert len(json.loads(listed.stdout)) == 1  # the second run finds it still open


def test_run_daily_every_refuses_a_bad_interval(store: Container) -> None:
    result = runner.invoke(rules_app, ["run-daily", "--every", "daily"])
    assert result.exit_code == 2
    assert "expected a positive duration" in result.output


def test_alert_inbox_ack_assign_resolve(store: Container) -> None:
    runner.invoke(rules_app, ["run-daily"])
    (alert,) = json.loads(runner.invoke(alerts_app, ["list", "--json"]).stdout)
    number = str(alert["id"])
    assert runner.invoke(alerts_app, ["ack", number, "--actor", "qa.li"]).exit_code == 0
    assigned = runner.invoke(alerts_app, ["assign", number, "--actor", "qa.li", "--to", "qe.wu"])
    assert "→ qe.wu" in assigned.stdout
    resolved = runner.invoke(alerts_app, ["resolve", number, "--actor", "qe.wu",
                                          "--note", "Inputs booked late; chain complete now"])
    assert "resolved" in resolved.stdout
    again = runner.invoke(alerts_app, ["ack", number, "--actor", "qa.li"])
    assert again.exit_code == 1 and "alert-transition" in again.stderr
    with store.engine.connect() as conn:
        actions = list(conn.execute(select(t.alert_action.c.action).where(
            t.alert_action.c.alert_id == alert["id"]).order_by(t.alert_action.c.id)).scalars())
    assert actions == ["raised", "acknowledged", "assigned", "resolved"]
