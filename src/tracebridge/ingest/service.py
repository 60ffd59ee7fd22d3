"""Receiving records: the one use case every connector in calls.

Each batch is one transaction: the raw records are kept first, then mapped; the
events they yield are appended to the log and the projections updated; records that
fail to map go to the dead letters with their field-level errors. A crash mid-batch
rolls the whole batch back, so a retried delivery is neither lost nor doubled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine

from tracebridge.domain.events import CanonicalEvent
from tracebridge.domain.master import MasterRecord
from tracebridge.errors import TraceBridgeError
from tracebridge.ingest import checkpoints, inbox
from tracebridge.mapping.records import FieldError, MappedRecord, RawRecord, RecordRejected
from tracebridge.store import event_log, writer
from tracebridge.store.event_log import PendingEvent
from tracebridge.store.writer import Reaction


class RecordMapper(Protocol):
    source_system: str
    mapping_id: str
    version: str

    def read(self, path: Path) -> Iterator[RawRecord]: ...

    def map(self, raw: RawRecord) -> MappedRecord: ...


@dataclass
class IngestSummary:
    received: int = 0
    events_stored: int = 0
    duplicates: int = 0
    master_versions: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def add(self, other: IngestSummary) -> None:
        self.received += other.received
        self.events_stored += other.events_stored
        self.duplicates += other.duplicates
        self.master_versions += other.master_versions
        self.rejected.update(other.rejected)

    def as_dict(self) -> dict[str, object]:
        return {
            "received": self.received,
            "events_stored": self.events_stored,
            "duplicates": self.duplicates,
            "master_versions": self.master_versions,
            "rejected": dict(self.rejected),
            "rejected_total": self.rejected_total,
        }


def batched(records: Iterable[RawRecord], size: int) -> Iterator[list[RawRecord]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


class IngestService:
    def __init__(
        self, engine: Engine, *, batch_size: int = 5000, reactions: Sequence[Reaction] = ()
    ) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self.reactions = tuple(reactions)

    def ingest_paths(
        self,
        mapper: RecordMapper,
        paths: Iterable[Path],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> IngestSummary:
        def records() -> Iterator[RawRecord]:
            for path in expand(paths):
                yield from mapper.read(path)

        return self.ingest_records(mapper, records(), progress=progress)

    def ingest_records(
        self,
        mapper: RecordMapper,
        records: Iterable[RawRecord],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> IngestSummary:
        summary = IngestSummary()
        for batch in batched(records, self.batch_size):
            summary.add(self._ingest_batch(mapper, batch))
            if progress:
                progress(len(batch))
        return summary

    def ingest_batch(
        self,
        mapper: RecordMapper,
        records: Sequence[RawRecord],
        *,
        checkpoint: tuple[str, str] | None = None,
    ) -> IngestSummary:
        """Ingest ``records`` as ONE transaction, whatever their number.

        ``checkpoint`` — (connector name, position) — is written in that same
        transaction, so a connector's position always matches what was committed.
        """
        return self._ingest_batch(mapper, list(records), checkpoint=checkpoint)

    def _ingest_batch(
        self,
        mapper: RecordMapper,
        batch: list[RawRecord],
        *,
        checkpoint: tuple[str, str] | None = None,
    ) -> IngestSummary:
        summary = IngestSummary(received=len(batch))
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            head = event_log.lock_chain_head(conn)  # writers take turns from here on
            raw_ids = inbox.keep(conn, batch, received_at=now)
            pending: list[PendingEvent] = []
            masters: list[tuple[MasterRecord, int | None]] = []
            failures: list[tuple[int, RawRecord, str, list[FieldError]]] = []
            for raw_id, raw in zip(raw_ids, batch, strict=True):
                try:
                    mapped = mapper.map(raw)
                except RecordRejected as rejected:
                    failures.append((raw_id, raw, rejected.reason, rejected.errors))
                    summary.rejected[rejected.reason] += 1
                    continue
                except (TraceBridgeError, ValueError) as error:  # a mapping bug must not lose data
                    failures.append(
                        (
                            raw_id,
                            raw,
                            "mapping-error",
                            [FieldError("*", f"{type(error).__name__}: {error}")],
                        )
                    )
                    summary.rejected["mapping-error"] += 1
                    continue
                pending.extend(PendingEvent(e, raw_id) for e in mapped.events)
                masters.extend((m, raw_id) for m in mapped.master)
            recorded = writer.record(
                conn, pending, now=now, head=head, reactions=self.reactions, masters=masters
            )
            summary.events_stored = len(recorded.result.stored)
            summary.duplicates = recorded.result.duplicates
            summary.master_versions = recorded.master_versions
            inbox.dead_letters(conn, failures, created_at=now)
            if checkpoint is not None:
                checkpoints.save(conn, *checkpoint, now=now)
        return summary

    def append_events(self, events: Iterable[CanonicalEvent]) -> event_log.AppendResult:
        """Append events that were not mapped from a raw record (tests, corrections)."""
        with self.engine.begin() as conn:
            pending = [PendingEvent(e) for e in events]
            now = datetime.now(UTC)
            return writer.record(conn, pending, now=now, reactions=self.reactions).result


def expand(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given; folders as their files in name order (hidden files skipped)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
            )
        else:
            yield path
