"""Versioned master data: a changed record is appended as a new version."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from tracebridge.domain.master import MasterRecord
from tracebridge.store.tables import master_record


def append_versions(
    conn: Connection, records: Sequence[tuple[MasterRecord, int | None]], *, record_time: datetime
) -> int:
    """Store each record that differs from its latest version; return how many were new."""
    latest: dict[tuple[str, str], tuple[int, str]] = {}
    keys = {(r.entity, r.key) for r, _ in records}
    c = master_record.c
    for entity in {k[0] for k in keys}:
        wanted = sorted(k[1] for k in keys if k[0] == entity)
        for start in range(0, len(wanted), 900):
            newest = (
                select(c.key, func.max(c.version).label("version"))
                .where(c.entity == entity, c.key.in_(wanted[start : start + 900]))
                .group_by(c.key)
                .subquery()
            )
            query = (
                select(c.key, c.version, c.content_hash)
                .join(newest, (c.key == newest.c.key) & (c.version == newest.c.version))
                .where(c.entity == entity)
            )
            for key, version, digest in conn.execute(query):
                latest[(entity, key)] = (int(version), str(digest))
    rows: list[dict[str, Any]] = []
    for record, raw_id in records:
        key = (record.entity, record.key)
        digest = record.content_hash
        previous = latest.get(key)
        if previous and previous[1] == digest:
            continue
        version = previous[0] + 1 if previous else 1
        latest[key] = (version, digest)
        rows.append(
            {
                "entity": record.entity,
                "key": record.key,
                "version": version,
                "attributes": record.attributes,
                "content_hash": digest,
                "source_system": record.source.system,
                "raw_record_id": raw_id,
                "recorded_at": record_time,
            }
        )
    if rows:
        conn.execute(master_record.insert(), rows)
    return len(rows)


def current(conn: Connection, entity: str, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Latest attributes of each named key of one entity."""
    c = master_record.c
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    for start in range(0, len(keys), 900):
        query = select(c.key, c.version, c.attributes).where(
            c.entity == entity, c.key.in_(list(keys[start : start + 900]))
        )
        for key, version, attributes in conn.execute(query):
            if key not in out or version > out[key][0]:
                out[key] = (int(version), dict(attributes))
    return {key: attrs for key, (_, attrs) in out.items()}
