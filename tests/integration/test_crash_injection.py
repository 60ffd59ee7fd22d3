"""Crash injection: SIGKILL the RabbitMQ consumer at every point, then count exactly.

The harness lives in ``stress/crash_stress.py`` (the on-demand stress run uses the same
code with ≥ 1,000 kills); here each CI run makes ≥ 30 kills on SQLite plus more on
PostgreSQL, and restarts the broker under a running ``tracebridge consume``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from types import ModuleType

import pytest
from sqlalchemy import create_engine, text

CLI = ("import typer; from tracebridge.cli import connectors; app = typer.Typer(); "
       "connectors.register(app); app()")


@pytest.fixture(scope="module")
def stress(amqp_url: str) -> ModuleType:
    """The on-demand stress harness, driven here in a small dose (the broker is checked first)."""
    import crash_stress

    return crash_stress


def _kill_and_audit(stress: ModuleType, db_url: str, *, kills: int, seed: int) -> None:
    stress.prepare(db_url)
    run = stress.Run(db_url)
    run.declare()
    try:
        hits = stress.inject(run, kills=kills, seed=seed, wave=120)
        stress.drain(run)
        result = stress.audit(run)
    finally:
        run.delete()
    assert sum(hits.values()) - hits["missed"] == kills
    # Each named point was actually hit by at least one kill (the seed makes it so).
    assert all(hits[point] >= 1 for point in ("received", "in-transaction", "after-commit"))
    assert result.records > 0 and result.poison > 0
    assert (result.lost, result.duplicated, result.partial) == (0, 0, 0), result
    assert result.events == result.records, result
    assert result.poison_not_dead_lettered == 0, result
    assert result.integrity_breaks == 0 and result.queue_left == 0, result
    # The raw inbox keeps every delivery, so redeliveries show there and only there.
    assert result.raw_receipts >= result.published


def test_req1_thirty_kills_lose_and_double_nothing_sqlite(
    stress: ModuleType, sqlite_url: str
) -> None:
    """REQ-1 / REQ-8: every published record is exactly one event after 32 SIGKILLs."""
    _kill_and_audit(stress, sqlite_url, kills=32, seed=7)


@pytest.mark.postgres
def test_req1_kills_lose_and_double_nothing_postgres(
    stress: ModuleType, postgres_url: str
) -> None:
    """REQ-1 / REQ-8: the same on PostgreSQL (row locks, server-side rollback on kill)."""
    _kill_and_audit(stress, postgres_url, kills=16, seed=11)


def test_req1_broker_restart_under_the_cli_consumer(stress: ModuleType, sqlite_url: str) -> None:
    """`rabbitmqctl stop_app`/`start_app` while `tracebridge consume` runs: it reconnects
    and the counts stay exact (REQ-1)."""
    stress.prepare(sqlite_url)
    run = stress.Run(sqlite_url)
    run.declare()
    run.publish(1500)
    env = {**os.environ, "TRACEBRIDGE_DATABASE_URL": sqlite_url}
    command = [sys.executable, "-c", CLI, "consume", "--url", stress.AMQP_URL,
               "--queue", run.queue, "--exchange", run.exchange, "--binding-key", run.queue,
               "--source", "wms", "--key-field", "txn_id", "--prefetch", "20",
               "--idle-exit", "4"]
    engine = create_engine(sqlite_url)
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.execute(text("SELECT COUNT(*) FROM event")).scalar_one() >= 100:
                    break
            time.sleep(0.1)
        stress.rabbitmqctl("stop_app")
        time.sleep(2)
        stress.rabbitmqctl("start_app")
        stdout, stderr = process.communicate(timeout=150)
    finally:
        if process.poll() is None:
            process.kill()
        engine.dispose()
    try:
        assert process.returncode == 0, stderr
        stats = json.loads(stdout)
        assert stats["reconnects"] >= 1, stderr
        result = stress.audit(run)
    finally:
        run.delete()
    assert result.published == 1500
    assert (result.lost, result.duplicated, result.partial) == (0, 0, 0), result
    assert result.events == result.records and result.poison_not_dead_lettered == 0, result
    assert result.integrity_breaks == 0 and result.queue_left == 0, result
