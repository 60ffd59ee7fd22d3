"""Alembic environment: migrations run on the connection handed over by ``upgrade``."""

from __future__ import annotations

from alembic import context

from tracebridge.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # command-line use: alembic -x url=...
    from sqlalchemy import create_engine

    url = context.get_x_argument(as_dictionary=True)["url"]
    connection = create_engine(url).connect()

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
