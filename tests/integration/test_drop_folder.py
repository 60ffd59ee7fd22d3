"""The drop folder: complete files only, each read once, even when killed before the move."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tracebridge.bootstrap import Container, bootstrap
from tracebridge.domain.identifiers import gs1_check_digit
from tracebridge.ingest.files import CRASH_ENV, DropFolder
from tracebridge.mapping import load_mapping
from tracebridge.settings import Settings
from tracebridge.store.tables import (
    dead_letter,
    event,
    file_receipt,
    raw_record,
)

GTIN = "0950600000001" + str(gs1_check_digit("0950600000001"))
REPO_ROOT = Path(__file__).resolve().parents[2]


def txn(number: int, *, uom: str = "EA") -> str:
    return json.dumps({"txn_id": f"T{number}", "type": "RCV", "ts": 1767571200000 + number,
                       "gtin": GTIN, "lot_no": f"L-{number % 3}", "qty": number, "uom": uom,
                       "loc": "WH-01", "user": "u1", "ref": {"po": "PO-1", "supplier": "S"}})


def drop(folder: Path, name: str, lines: list[str]) -> Path:
    """Write as NAME.part, then rename: the convention the watcher relies on."""
    part = folder / f"{name}.part"
    part.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return part.replace(folder / name)


def counts(app: Container) -> tuple[int, int, int]:
    with app.engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (raw_record, event, dead_letter))


@pytest.fixture
def app(container: Container) -> Container:
    return container


def folder_of(app: Container, path: Path) -> DropFolder:
    return DropFolder(path, load_mapping("wms"), app.ingest, settle_seconds=0,
                      sleep=lambda _: None)


def test_files_are_ingested_once_and_moved(app: Container, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    drop(inbox, "transactions_1.jsonl", [txn(1), txn(2), txn(3, uom="BOX")])
    (inbox / "transactions_2.jsonl.part").write_text(txn(4) + "\n", encoding="utf-8")
    watcher = folder_of(app, inbox)

    [result] = watcher.poll()
    assert (result.outcome, result.records) == ("ingested", 3)
    assert result.summary and result.summary["rejected_total"] == 1
    assert (inbox / "done" / "transactions_1.jsonl").exists()
    assert (inbox / "transactions_2.jsonl.part").exists()  # still being written: left alone
    assert counts(app) == (3, 2, 1)  # the bad record is a dead letter; the file is done

    drop(inbox, "transactions_1.jsonl", [txn(1), txn(2), txn(3, uom="BOX")])  # sent again
    [again] = watcher.poll()
    assert again.outcome == "already-read"
    assert counts(app) == (3, 2, 1)
    assert len(list((inbox / "done").iterdir())) == 2  # both copies kept, nothing overwritten


def test_a_file_no_record_type_reads_goes_to_failed(app: Container, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    drop(inbox, "invoice.pdf", ["%PDF-1.7"])
    [result] = folder_of(app, inbox).poll()
    assert result.outcome == "failed" and result.error and "invoice.pdf" in result.error
    assert (inbox / "failed" / "invoice.pdf").exists()
    assert counts(app) == (0, 0, 0)
    with app.engine.connect() as conn:
        assert conn.execute(select(file_receipt.c.status)).scalar_one() == "failed"


def test_a_file_still_growing_waits_for_the_next_look(app: Container, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = drop(inbox, "transactions_1.jsonl", [txn(1)])

    def writer_appends(_: float) -> None:
        with path.open("a", encoding="utf-8") as still_writing:
            still_writing.write(txn(2) + "\n")

    growing = DropFolder(inbox, load_mapping("wms"), app.ingest, settle_seconds=1,
                         sleep=writer_appends)
    assert growing.poll() == []
    [result] = folder_of(app, inbox).poll()
    assert result.records == 2


def _watch(db_url: str, folder: Path, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRACEBRIDGE_DATABASE_URL": db_url,
           "PYTHONPATH": str(REPO_ROOT / "src")}
    env.pop(CRASH_ENV, None)
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "tracebridge.cli.watch", str(folder), "--source", "wms", "--once",
         "--settle", "0", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("crash_at", ["after-commit", "after-receipt"])
def test_sigkill_between_commit_and_move_resumes_without_reingesting(
        sqlite_url: str, tmp_path: Path, crash_at: str) -> None:
    app = bootstrap(Settings(database_url=sqlite_url))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    drop(inbox, "transactions_1.jsonl", [txn(n) for n in range(1, 8)] + [txn(8, uom="BOX")])
    drop(inbox, "transactions_2.jsonl", [txn(n) for n in range(9, 12)])

    killed = _watch(sqlite_url, inbox, crash_at)
    assert killed.returncode == -9, killed.stderr
    assert (inbox / "transactions_1.jsonl").exists()  # committed but never moved
    assert counts(app) == (8, 7, 1)

    restarted = _watch(sqlite_url, inbox, None)
    assert restarted.returncode == 0, restarted.stderr
    outcomes = [json.loads(line) for line in restarted.stdout.splitlines()]
    expected = "resumed" if crash_at == "after-commit" else "already-read"
    assert [(o["file"], o["outcome"]) for o in outcomes] == [
        ("transactions_1.jsonl", expected), ("transactions_2.jsonl", "ingested")]
    assert counts(app) == (11, 10, 1)  # every record exactly once
    assert sorted(p.name for p in (inbox / "done").iterdir()) == [
        "transactions_1.jsonl", "transactions_2.jsonl"]
    with app.engine.connect() as conn:
        assert [r.status for r in conn.execute(select(file_receipt))] == ["done", "done"]
    app.close()
