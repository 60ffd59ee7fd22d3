"""What the stress scripts share: the broker they talk to and the database they run on."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pika  # type: ignore[import-untyped]

from tracebridge.store.scratch import scratch_postgres

AMQP_URL = os.environ.get("TRACEBRIDGE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


@contextmanager
def channel(attempts: int = 60) -> Iterator[Any]:
    """A channel for the harness itself, waiting out a broker restart (ours or anyone's)."""
    for attempt in range(attempts):
        try:
            connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
            break
        except pika.exceptions.AMQPConnectionError:
            if attempt == attempts - 1:
                raise
            time.sleep(1.0)
    try:
        yield connection.channel()
    finally:
        connection.close()


@contextmanager
def database(kind: str, workdir: str, pg_admin_url: str | None, *, name: str) -> Iterator[str]:
    """A fresh SQLite file in ``workdir`` or a scratch PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir}/{name}.db"
        return
    if not pg_admin_url:
        raise SystemExit("--db postgres needs --pg-admin-url or TRACEBRIDGE_TEST_POSTGRES_URL")
    with scratch_postgres(pg_admin_url, prefix=f"tb_{name}") as url:
        yield url
