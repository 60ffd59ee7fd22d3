"""Watermarks: the latest event time seen per export stream and subject, for late data.

``checks.lateness_hours`` of a record is measured against the newest record of the same
stream (raw record type) and subject (its lot, or the location of a reading) that had
arrived before it. The marks live in ``rule_watermark``, written in the ingest transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection

from tracebridge.domain.events import CanonicalEvent
from tracebridge.store import tables as t
from tracebridge.store.bulk import datetime_param, insert_rows, placeholder
from tracebridge.store.driver import Statement, as_utc


class Watermarks:
    """The latest event time seen per (source system, stream, subject); lateness is
    measured to it.

    A batch import's record time is hours or months after every event in it, so record
    time alone would call everything late. A record is late when records about the same
    subject (its lot, or the location of a reading) from the same stream had already
    arrived with times well after it — or, for a live feed, when it is recorded long
    after it happened. Streams are not time-ordered as a whole (an ERP exports inspection
    results by inspection lot), which is why the subject is part of the key.
    """

    def __init__(self, conn: Connection | None = None) -> None:
        self.conn = conn  # None: in memory only (a dry run)
        self.marks: dict[tuple[str, str, str], datetime | None] = {}
        self.stored: set[tuple[str, str, str]] = set()  # keys that have a row already
        self.changed: set[tuple[str, str, str]] = set()

    def _get(self, key: tuple[str, str, str]) -> datetime | None:
        if key not in self.marks:
            found = None
            if self.conn is not None:
                found = _WATERMARK.scalar(self.conn, **dict(zip(_KEY, key, strict=True)))
            self.marks[key] = as_utc(found)
            if found is not None:
                self.stored.add(key)
        return self.marks[key]

    def prefetch(self, keys: set[tuple[str, str, str]]) -> None:
        """Read the marks of a batch's keys in a few queries instead of one per key."""
        if self.conn is None:
            return
        streams: dict[tuple[str, str], list[str]] = {}
        for key in sorted(k for k in keys if k not in self.marks):
            self.marks[key] = None
            streams.setdefault(key[:2], []).append(key[2])
        for (system, stream), subjects in streams.items():
            for start in range(0, len(subjects), 900):
                rows = _WATERMARKS.rows(self.conn, system=system, stream=stream,
                                        subjects=subjects[start : start + 900])
                for subject, high in rows:
                    self.marks[(system, stream, subject)] = as_utc(high)
                    self.stored.add((system, stream, subject))

    def lateness_hours(self, key: tuple[str, str, str], event_time: datetime,
                       record_time: datetime) -> float:
        mark = self._get(key)
        reference = record_time if mark is None else min(record_time, mark)
        if mark is None and record_time - event_time > timedelta(days=_LIVE_HORIZON_DAYS):
            reference = event_time  # a first record of history taken over in bulk
        return max(0.0, (reference - event_time).total_seconds() / 3600)

    def advance(self, key: tuple[str, str, str], event_time: datetime) -> None:
        mark = self._get(key)
        if mark is None or event_time > mark:
            self.marks[key] = event_time
            self.changed.add(key)

    def save(self, conn: Connection) -> None:
        new = [key for key in sorted(self.changed) if key not in self.stored]
        moved = [key for key in sorted(self.changed) if key in self.stored]
        if new:
            insert_rows(conn, t.rule_watermark, [
                {**dict(zip(_KEY, key, strict=True)), "high_water": self.marks[key]}
                for key in new])
            self.stored.update(new)
        if moved:
            m = placeholder(conn)
            conn.exec_driver_sql(
                f"UPDATE rule_watermark SET high_water = {m} WHERE source_system = {m}"
                f" AND stream = {m} AND subject = {m}",
                [(datetime_param(conn, mark), *k) for k in moved
                 if (mark := self.marks[k]) is not None])
        self.changed.clear()


def watermark_key(event: CanonicalEvent, stream: str) -> tuple[str, str, str]:
    refs = event.lots or event.inputs
    subject = f"{refs[0].gtin}/{refs[0].lot}" if refs else f"@{event.biz_location or ''}"
    return (event.source.system, stream, subject)


def streams_of(conn: Connection, seqs: Sequence[int]) -> dict[int, str]:
    """The raw record type (export stream) each event came from; events of our own: mapping."""
    out: dict[int, str] = {}
    for start in range(0, len(seqs), 900):
        rows = _STREAMS.rows(conn, seqs=list(seqs[start : start + 900]))
        out.update({int(seq): str(stream) for seq, stream in rows})
    return out


_KEY = ("source_system", "stream", "subject")
_LIVE_HORIZON_DAYS = 2  # older than this at first sight: history, not a live record
_STREAMS = Statement(
    "SELECT e.seq, COALESCE(r.record_type, e.mapping_id) FROM event e"
    " LEFT OUTER JOIN raw_record r ON r.id = e.raw_record_id WHERE e.seq IN :seqs",
    lists=("seqs",),
)
_WATERMARKS = Statement(
    "SELECT subject, high_water FROM rule_watermark WHERE source_system = :system"
    " AND stream = :stream AND subject IN :subjects",
    lists=("subjects",),
)
_WATERMARK = Statement(
    "SELECT high_water FROM rule_watermark WHERE source_system = :source_system"
    " AND stream = :stream AND subject = :subject"
)
