"""Master data as rules read it, cached across ingest batches while it is unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from tracebridge.store.driver import Statement


@dataclass
class MasterSnapshot:
    """Master data as of one state of the (append-only) master table."""

    token: tuple[Any, ...]
    entries: dict[tuple[str, str], dict[str, Any]]
    zones: dict[str, list[str]] | None = None


class MasterCache:
    """Current master data as rules read it, kept across batches.

    Master records are append-only, so the row count and highest id change exactly
    when a version is added: one cheap read per batch tells whether the cached snapshot
    still holds, instead of a read per product, party and location per batch. A
    transaction that sees another state gets a snapshot of its own.
    """

    def __init__(self) -> None:
        self._latest: MasterSnapshot | None = None

    def snapshot(self, conn: Connection) -> MasterSnapshot:
        token = tuple(_MASTER_TOKEN.first(conn) or ())
        latest = self._latest
        if latest is None or latest.token != token:
            latest = self._latest = MasterSnapshot(token, {})
        return latest


_MASTER_TOKEN = Statement("SELECT COUNT(*), MAX(id) FROM master_record")
