"""The append-only, hash-chained event log.

Appending a batch happens inside the caller's transaction:

1. take the chain head with a write lock (``chain_head`` row: ``FOR UPDATE`` on
   PostgreSQL, the first write of the transaction on SQLite), so concurrent writers
   produce one well-defined chain, one after the other;
2. drop events whose identity (source system, source record id, content hash) is
   already stored — re-delivery is a no-op;
3. number the rest, give each the version after its record's latest (a changed record
   is a new version that supersedes, never overwrites), and chain them:
   ``row_hash = sha256(prev_hash | seq | event_id | record_time | version | body)``.

``verify_chain`` recomputes the chain from the table and reports the first row that
does not match, so a direct edit of the database is detected.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Table, select, update

from tracebridge.domain.events import CanonicalEvent, sha256_hex
from tracebridge.store.bulk import in_list, insert_rows, placeholder
from tracebridge.store.tables import chain_head, event

GENESIS_HASH = "0" * 64
CHUNK = 900  # bound parameter lists well below every backend's limit


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    event: CanonicalEvent
    record_time: datetime
    version: int
    supersedes_seq: int | None


@dataclass(frozen=True, slots=True)
class PendingEvent:
    event: CanonicalEvent
    raw_record_id: int | None = None


@dataclass(frozen=True, slots=True)
class AppendResult:
    stored: list[StoredEvent]
    duplicates: int


@dataclass(frozen=True, slots=True)
class ChainBreak:
    seq: int
    problem: str


def utc(value: datetime) -> datetime:
    """SQLite hands datetimes back naive; everything we store is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime) -> str:
    return utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_hash(
    *, prev_hash: str, seq: int, event_id: str, record_time: datetime, version: int, body: str
) -> str:
    return sha256_hex(f"{prev_hash}|{seq}|{event_id}|{iso(record_time)}|{version}|{body}")


def chunked(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


ChainHead = tuple[int, str, datetime | None]


def lock_chain_head(conn: Connection) -> ChainHead:
    """Take the writer lock and return (last seq, last row hash, last record time)."""
    if conn.dialect.name == "postgresql":
        row = conn.execute(select(chain_head).where(chain_head.c.id == 1).with_for_update()).one()
    else:
        # The first write of a SQLite transaction takes the database write lock.
        conn.execute(update(chain_head).where(chain_head.c.id == 1).values(seq=chain_head.c.seq))
        row = conn.execute(select(chain_head).where(chain_head.c.id == 1)).one()
    last_time = utc(row.record_time) if row.record_time is not None else None
    return int(row.seq), str(row.row_hash), last_time


def append(
    conn: Connection,
    pending: Sequence[PendingEvent],
    *,
    now: datetime | None = None,
    head: ChainHead | None = None,
) -> AppendResult:
    """Append new events (duplicates skipped) and return them with their positions.

    ``head`` is the chain head the caller already locked in this transaction, if any.
    """
    last_seq, prev_hash, last_time = head or lock_chain_head(conn)
    record_time = utc(now or datetime.now(UTC))
    if last_time is not None and record_time < last_time:
        record_time = last_time  # record time never runs backwards along the chain

    fresh: dict[str, PendingEvent] = {}
    for item in pending:
        fresh.setdefault(item.event.event_id, item)
    known = _existing_ids(conn, list(fresh))
    candidates = [p for eid, p in fresh.items() if eid not in known]
    duplicates = len(pending) - len(candidates)

    latest = _latest_versions(conn, candidates)
    rows, stored = [], []
    for item in candidates:
        ev = item.event
        key = (ev.source.system, ev.source.record_id)
        previous = latest.get(key)
        version = previous[0] + 1 if previous else 1
        supersedes = previous[1] if previous else None
        last_seq += 1
        body = ev.body()
        digest = row_hash(
            prev_hash=prev_hash,
            seq=last_seq,
            event_id=ev.event_id,
            record_time=record_time,
            version=version,
            body=body,
        )
        rows.append(
            {
                "seq": last_seq,
                "event_id": ev.event_id,
                "kind": ev.kind.value,
                "event_time": ev.event_time,
                "event_time_zone_offset": ev.event_time_zone_offset,
                "record_time": record_time,
                "source_system": ev.source.system,
                "source_record_id": ev.source.record_id,
                "content_hash": ev.content_hash,
                "version": version,
                "supersedes_seq": supersedes,
                "raw_record_id": item.raw_record_id,
                "mapping_id": ev.source.mapping_id,
                "mapping_version": ev.source.mapping_version,
                "body": body,
                "prev_hash": prev_hash,
                "row_hash": digest,
            }
        )
        stored.append(StoredEvent(last_seq, ev, record_time, version, supersedes))
        latest[key] = (version, last_seq)
        prev_hash = digest
    if rows:
        insert_rows(conn, event, rows)
        conn.execute(
            update(chain_head)
            .where(chain_head.c.id == 1)
            .values(seq=last_seq, row_hash=prev_hash, record_time=record_time)
        )
    return AppendResult(stored=stored, duplicates=duplicates)


def _existing_ids(conn: Connection, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for part in chunked(ids):
        sql = f"SELECT event_id FROM event WHERE event_id IN ({in_list(conn, len(part))})"
        found.update(row[0] for row in conn.exec_driver_sql(sql, tuple(part)))
    return found


def _latest_versions(
    conn: Connection, items: Iterable[PendingEvent]
) -> dict[tuple[str, str], tuple[int, int]]:
    by_system: dict[str, set[str]] = {}
    for item in items:
        by_system.setdefault(item.event.source.system, set()).add(item.event.source.record_id)
    latest: dict[tuple[str, str], tuple[int, int]] = {}
    for system, record_ids in by_system.items():
        for part in chunked(sorted(record_ids)):
            mark = placeholder(conn)
            sql = (
                "SELECT source_record_id, version, seq FROM event WHERE source_system = "
                f"{mark} AND source_record_id IN ({in_list(conn, len(part))})"
            )
            for record_id, version, seq in conn.exec_driver_sql(sql, (system, *part)):
                key = (system, record_id)
                if key not in latest or version > latest[key][0]:
                    latest[key] = (int(version), int(seq))
    return latest


def verify_chain(
    conn: Connection, *, table: Table = event, batch: int = 10_000
) -> list[ChainBreak]:
    """Recompute every row hash; an empty list means the log is intact (REQ 8)."""
    breaks: list[ChainBreak] = []
    prev_hash, expected_seq = GENESIS_HASH, 1
    query = select(
        table.c.seq,
        table.c.event_id,
        table.c.record_time,
        table.c.version,
        table.c.body,
        table.c.prev_hash,
        table.c.row_hash,
    ).order_by(table.c.seq)
    for row in conn.execution_options(yield_per=batch).execute(query):
        if row.seq != expected_seq:
            breaks.append(ChainBreak(row.seq, f"sequence gap: expected {expected_seq}"))
        if row.prev_hash != prev_hash:
            breaks.append(ChainBreak(row.seq, "prev_hash does not match the previous row"))
        digest = row_hash(
            prev_hash=row.prev_hash,
            seq=row.seq,
            event_id=row.event_id,
            record_time=row.record_time,
            version=row.version,
            body=row.body,
        )
        if digest != row.row_hash:
            breaks.append(ChainBreak(row.seq, "row content does not match its hash"))
        try:
            if CanonicalEvent.model_validate_json(row.body).event_id != row.event_id:
                breaks.append(ChainBreak(row.seq, "body does not match its event id"))
        except ValueError:
            breaks.append(ChainBreak(row.seq, "body is not a valid canonical event"))
        prev_hash, expected_seq = row.row_hash, row.seq + 1
    head = conn.execute(select(chain_head.c.seq, chain_head.c.row_hash)).one_or_none()
    if head is not None and (head.seq != expected_seq - 1 or head.row_hash != prev_hash):
        breaks.append(ChainBreak(int(head.seq), "chain head does not match the last row"))
    return breaks
