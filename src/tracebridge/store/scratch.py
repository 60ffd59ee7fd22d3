"""Throwaway databases: one fresh PostgreSQL database per test, stress run or shadow run.

>>> url = "postgresql+psycopg://postgres@127.0.0.1:5433/postgres"
>>> scratch_url(url, "tb_test_1")
'postgresql+psycopg://postgres@127.0.0.1:5433/tb_test_1'
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def scratch_url(admin_url: str, name: str) -> str:
    """The admin server's URL pointing at database ``name`` instead."""
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@contextmanager
def scratch_postgres(admin_url: str, *, prefix: str) -> Iterator[str]:
    """Create an empty database on the server of ``admin_url``; drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield scratch_url(admin_url, name)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
