"""Shared fixtures: a fresh database per test, on SQLite and (when available) PostgreSQL.

PostgreSQL tests need ``TRACEBRIDGE_TEST_POSTGRES_URL`` (an admin URL of a running
server; ``.ci/run`` and ``make test`` start one). Without it they are skipped on a
developer machine, but under CI (``CI=true``) a missing server is an error, so a
green CI always means the PostgreSQL tests ran.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tracebridge.bootstrap import Container, bootstrap
from tracebridge.settings import Settings
from tracebridge.store.scratch import scratch_postgres

POSTGRES_ENV = "TRACEBRIDGE_TEST_POSTGRES_URL"
AMQP_ENV = "TRACEBRIDGE_TEST_AMQP_URL"
REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


def postgres_admin_url() -> str | None:
    url = os.environ.get(POSTGRES_ENV)
    if not url and os.environ.get("CI") == "true":
        pytest.fail(f"{POSTGRES_ENV} is not set under CI: the PostgreSQL tests must run")
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    admin = postgres_admin_url()
    if not admin:
        pytest.skip(f"PostgreSQL not configured ({POSTGRES_ENV})")
    with scratch_postgres(admin, prefix="tb_test") as url:
        yield url


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """A reachable RabbitMQ (``TRACEBRIDGE_TEST_AMQP_URL``); required under CI, like PostgreSQL."""
    import pika  # type: ignore[import-untyped]

    url = os.environ.get(AMQP_ENV, "amqp://guest:guest@127.0.0.1:5672/")
    try:
        pika.BlockingConnection(pika.URLParameters(url)).close()
    except pika.exceptions.AMQPError as error:
        message = f"RabbitMQ is not reachable at {url}: {error!r}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tracebridge.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """The same test, once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


# Each capability is tested on its own: the rule pack is off in these fixtures (its own
# tests switch it on), so a rule's hold never changes another feature's expected outcome.
@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    app = bootstrap(Settings(database_url=database_url, batch_size=500, rules_enabled=False))
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def sqlite_container(sqlite_url: str) -> Iterator[Container]:
    app = bootstrap(Settings(database_url=sqlite_url, batch_size=500, rules_enabled=False))
    try:
        yield app
    finally:
        app.close()


# CI runs every property test with a fixed seed (reproducible), developers get fresh examples.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")
