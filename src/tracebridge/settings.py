"""Runtime configuration: one pydantic-settings class, read once by ``bootstrap``."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything that can be configured, with the ``TRACEBRIDGE_`` prefix.

    The embedded default is a SQLite file in the working directory; PostgreSQL is
    selected by pointing ``database_url`` at it.
    """

    model_config = SettingsConfigDict(env_prefix="TRACEBRIDGE_", extra="ignore")

    database_url: str = "sqlite:///tracebridge.db"
    host: str = "127.0.0.1"
    port: int = 8000
    batch_size: int = 5000
    data_dir: Path = Path("var")
