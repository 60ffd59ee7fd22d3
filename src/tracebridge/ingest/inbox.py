"""The raw inbox: every record is kept, byte for byte, before anything maps it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from tracebridge.domain.events import sha256_hex
from tracebridge.mapping.records import FieldError, RawRecord
from tracebridge.store.bulk import insert_rows
from tracebridge.store.tables import dead_letter, raw_record


def keep(conn: Connection, records: Sequence[RawRecord], *, received_at: datetime) -> list[int]:
    """Insert the raw records and return their ids, in the same order.

    Call it with the chain head locked (``event_log.lock_chain_head``): ids are handed
    out as max + 1 …, which is safe only while writers take turns.
    """
    if not records:
        return []
    last = conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM raw_record").scalar_one()
    ids = list(range(int(last) + 1, int(last) + 1 + len(records)))
    rows = [
        {
            "id": raw_id,
            "source_system": r.source_system,
            "record_type": r.record_type,
            "record_key": r.record_key,
            "origin": r.origin,
            "received_at": received_at,
            "payload": r.payload,
            "payload_hash": sha256_hex(r.payload),
        }
        for raw_id, r in zip(ids, records, strict=True)
    ]
    insert_rows(conn, raw_record, rows)
    return ids


def dead_letters(
    conn: Connection,
    failures: Sequence[tuple[int, RawRecord, str, list[FieldError]]],
    *,
    created_at: datetime,
) -> None:
    rows: list[dict[str, Any]] = [
        {
            "raw_record_id": raw_id,
            "source_system": raw.source_system,
            "reason": reason,
            "errors": [e.as_dict() for e in errors],
            "attempts": 1,
            "status": "open",
            "created_at": created_at,
        }
        for raw_id, raw, reason, errors in failures
    ]
    if rows:
        insert_rows(conn, dead_letter, rows)
