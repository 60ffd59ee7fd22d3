"""The drop folder: files a source system writes into a directory are ingested once each.

How a file is taken (``tracebridge watch DIR``):

1. **Only complete files.** A file whose name ends in ``.part`` or ``.tmp`` or starts with
   ``.`` is still being written and is left alone — writers should write ``name.part`` and
   rename it when done. For writers that cannot rename, a file is also only taken when its
   size and modification time did not change over ``settle`` seconds.
2. **One file, one transaction.** All records of the file go through :class:`IngestService`
   as one batch: the raw records, events, projections and dead letters of a file are
   committed together or not at all. Records that fail to map are dead letters; the file
   still counts as read and goes to ``DIR/done/``. A file that cannot be read at all (no
   record type of the mapping reads its name, unreadable bytes) goes to ``DIR/failed/``.
3. **Never twice.** A ``file_receipt`` row per (source, name, size, sha256) says the file
   was taken. The receipt is written as ``ingesting`` (with the newest raw record id) before
   the ingest and marked ``done`` after it. A watcher killed after the commit but before the
   move finds the receipt on restart: if the file's first raw record is already stored above
   that id, the file is only moved, not read again. The same file dropped again later is
   moved to ``done/`` without being read.

>>> is_in_progress(Path("erp_2026-03-02.csv.part")), is_in_progress(Path("erp.csv"))
(True, False)
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, func, insert, select, update

from tracebridge.domain.events import sha256_hex
from tracebridge.errors import TraceBridgeError
from tracebridge.ingest.service import IngestService, RecordMapper
from tracebridge.mapping.records import RawRecord
from tracebridge.store.tables import file_receipt, raw_record

DONE = "done"
FAILED = "failed"
IN_PROGRESS_SUFFIXES = (".part", ".tmp")
# Fault injection for the crash tests: the watcher SIGKILLs itself at the named point.
CRASH_ENV = "TRACEBRIDGE_WATCH_CRASH_AT"
CRASH_POINTS = ("after-commit", "after-receipt")

Outcome = Literal["ingested", "resumed", "already-read", "failed"]


@dataclass(frozen=True)
class FileResult:
    name: str
    outcome: Outcome
    moved_to: Path
    records: int = 0
    summary: dict[str, Any] | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.name, "outcome": self.outcome, "moved_to": str(self.moved_to),
                "records": self.records, "summary": self.summary, "error": self.error}


def is_in_progress(path: Path) -> bool:
    return path.name.startswith(".") or path.name.endswith(IN_PROGRESS_SUFFIXES)


def _crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


Snapshot = dict[str, tuple[int, int]]


class DropFolder:
    """One watched directory of one source system."""

    def __init__(self, folder: Path, mapper: RecordMapper, service: IngestService, *,
                 settle_seconds: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.folder = folder
        self.mapper = mapper
        self.service = service
        self.settle_seconds = settle_seconds
        self._sleep = sleep
        for sub in (DONE, FAILED):
            (folder / sub).mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------ which files
    def _snapshot(self) -> Snapshot:
        found: Snapshot = {}
        for path in self.folder.iterdir():
            if is_in_progress(path):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:  # renamed or removed while we looked
                continue
            if path.is_file():
                found[path.name] = (stat.st_size, stat.st_mtime_ns)
        return found

    def ready_files(self) -> list[Path]:
        """The complete files: present and unchanged over ``settle_seconds``, in name order."""
        before = self._snapshot()
        if not before:
            return []
        self._sleep(self.settle_seconds)
        after = self._snapshot()
        return [self.folder / name for name in sorted(before) if after.get(name) == before[name]]

    def poll(self) -> list[FileResult]:
        """Take every ready file once."""
        return [self.take(path) for path in self.ready_files()]

    def run(self, *, interval: float, stop: Callable[[], bool],
            report: Callable[[FileResult], None]) -> None:
        while not stop():
            for result in self.poll():
                report(result)
            self._sleep(interval)

    # ------------------------------------------------------------ one file
    def take(self, path: Path) -> FileResult:
        data = path.read_bytes()
        size, digest = len(data), hashlib.sha256(data).hexdigest()
        source = self.mapper.source_system
        with self.service.engine.begin() as conn:
            receipt = self._receipt(conn, source, path.name, size, digest)
        if receipt is not None and receipt.status == "done":
            return FileResult(path.name, "already-read", self._move(path, DONE, digest),
                              records=int(receipt.records or 0))
        try:
            records = list(self.mapper.read(path))
        except (TraceBridgeError, OSError, UnicodeDecodeError, ValueError) as error:
            message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
            self._fail(source, path.name, size, digest, receipt, message)
            return FileResult(path.name, "failed", self._move(path, FAILED, digest),
                              error=message)
        if (receipt is not None and receipt.status == "ingesting"
                and self._already_stored(records, int(receipt.raw_after_id))):
            self._finish(int(receipt.id), len(records), None)
            return FileResult(path.name, "resumed", self._move(path, DONE, digest),
                              records=len(records))
        receipt_id = self._start(source, path.name, size, digest, receipt)
        one_transaction = IngestService(self.service.engine, batch_size=max(len(records), 1))
        summary = one_transaction.ingest_records(self.mapper, records).as_dict()
        _crash_point("after-commit")
        self._finish(receipt_id, len(records), summary)
        _crash_point("after-receipt")
        return FileResult(path.name, "ingested", self._move(path, DONE, digest),
                          records=len(records), summary=summary)

    # ------------------------------------------------------------ receipts
    @staticmethod
    def _receipt(conn: Connection, source: str, name: str, size: int, digest: str) -> Any:
        c = file_receipt.c
        return conn.execute(select(file_receipt).where(
            c.source_system == source, c.file_name == name, c.size == size, c.sha256 == digest,
        )).one_or_none()

    def _start(self, source: str, name: str, size: int, digest: str, receipt: Any) -> int:
        now = datetime.now(UTC)
        with self.service.engine.begin() as conn:
            newest = int(conn.execute(select(func.coalesce(func.max(raw_record.c.id), 0)))
                         .scalar_one())
            values = {"status": "ingesting", "raw_after_id": newest, "started_at": now,
                      "finished_at": None, "error": None, "records": None, "summary": None}
            if receipt is not None:
                conn.execute(update(file_receipt).where(file_receipt.c.id == receipt.id)
                             .values(**values))
                return int(receipt.id)
            inserted = conn.execute(insert(file_receipt).values(
                source_system=source, file_name=name, size=size, sha256=digest, **values))
            key = inserted.inserted_primary_key
            assert key is not None  # a single-row insert always has one
            return int(key[0])

    def _finish(self, receipt_id: int, records: int, summary: dict[str, Any] | None) -> None:
        with self.service.engine.begin() as conn:
            conn.execute(update(file_receipt).where(file_receipt.c.id == receipt_id).values(
                status="done", records=records, summary=summary, finished_at=datetime.now(UTC)))

    def _fail(self, source: str, name: str, size: int, digest: str, receipt: Any,
              message: str) -> None:
        # A failed file may be dropped again after a mapping fix, so its receipt does not
        # block a later read; it only records what happened.
        receipt_id = self._start(source, name, size, digest, receipt)
        with self.service.engine.begin() as conn:
            conn.execute(update(file_receipt).where(file_receipt.c.id == receipt_id).values(
                status="failed", error=message[:2000], finished_at=datetime.now(UTC)))

    def _already_stored(self, records: list[RawRecord], raw_after_id: int) -> bool:
        if not records:
            return False
        first = records[0]
        r = raw_record.c
        with self.service.engine.connect() as conn:
            return conn.execute(select(r.id).where(
                r.id > raw_after_id, r.source_system == first.source_system,
                r.origin == first.origin, r.payload_hash == sha256_hex(first.payload),
            ).limit(1)).first() is not None

    # ------------------------------------------------------------ moving
    def _move(self, path: Path, folder: str, digest: str) -> Path:
        target = self.folder / folder / path.name
        if target.exists():  # a file of the same name was taken before: keep both
            target = target.with_name(f"{path.name}.{digest[:12]}")
            number = 1
            while target.exists():
                target = target.with_name(f"{path.name}.{digest[:12]}.{number}")
                number += 1
        path.replace(target)
        return target
