"""Connector checkpoints: where each connector got to, committed with the batch it covers.

A connector (AMQP consumer, database poller …) hands its new position to
``IngestService.ingest_batch(..., checkpoint=(name, position))``; the service writes it
in the same transaction as the raw records and events of that batch. After a crash the
stored position is therefore never ahead of the data (nothing skipped) nor behind it by
more than the batch that was rolled back (nothing doubled: that batch never happened).

The position is opaque text to this module; connectors store JSON in it.

>>> from sqlalchemy import create_engine
>>> from tracebridge.store.tables import metadata
>>> engine = create_engine("sqlite://")
>>> metadata.create_all(engine, tables=[connector_checkpoint])  # migrations do this for real
>>> from datetime import UTC, datetime
>>> with engine.begin() as conn:
...     save(conn, "poll:erp", '{"hwm": 7}', now=datetime(2024, 1, 1, tzinfo=UTC))
...     save(conn, "poll:erp", '{"hwm": 9}', now=datetime(2024, 1, 2, tzinfo=UTC))
>>> load(engine, "poll:erp")
'{"hwm": 9}'
>>> load(engine, "amqp:never-ran") is None
True
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select, update

from tracebridge.store.tables import connector_checkpoint


def save(conn: Connection, name: str, position: str, *, now: datetime) -> None:
    """Record ``position`` for connector ``name`` inside the caller's transaction.

    Called with the chain head locked (writers take turns), so update-then-insert
    cannot race with another writer of the same name.
    """
    table = connector_checkpoint
    changed = conn.execute(
        update(table).where(table.c.name == name).values(position=position, updated_at=now)
    ).rowcount
    if not changed:
        conn.execute(insert(table).values(name=name, position=position, updated_at=now))


def load(bind: Engine | Connection, name: str) -> str | None:
    """The last committed position of connector ``name``, or None if it never committed."""
    query = select(connector_checkpoint.c.position).where(connector_checkpoint.c.name == name)
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return conn.execute(query).scalar_one_or_none()
    return bind.execute(query).scalar_one_or_none()


def all_positions(engine: Engine) -> dict[str, tuple[str, datetime]]:
    """Every connector's position and when it was written (for status and health)."""
    table = connector_checkpoint
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.name, table.c.position, table.c.updated_at))
        return {row.name: (row.position, row.updated_at) for row in rows}
