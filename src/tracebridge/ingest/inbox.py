"""The raw inbox: every record is kept, byte for byte, before anything maps it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from tracebridge.domain.events import sha256_hex
from tracebridge.mapping.records import FieldError, RawRecord
from tracebridge.store.tables import dead_letter, raw_record


def keep(conn: Connection, records: Sequence[RawRecord], *, received_at: datetime) -> list[int]:
    """Insert the raw records and return their ids, in the same order."""
    rows = [
        {
            "source_system": r.source_system,
            "record_type": r.record_type,
            "record_key": r.record_key,
            "origin": r.origin,
            "received_at": received_at,
            "payload": r.payload,
            "payload_hash": sha256_hex(r.payload),
        }
        for r in records
    ]
    if not rows:
        return []
    result = conn.execute(
        insert(raw_record).returning(raw_record.c.id, sort_by_parameter_order=True), rows
    )
    return [int(row_id) for row_id in result.scalars()]


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
        conn.execute(insert(dead_letter), rows)
