"""Runtime configuration: one pydantic-settings class, read once by ``bootstrap``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
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

    # ---- connectors in (REST, drop folder)
    # Per-source API keys for ``POST /ingest/{source}``, as JSON: {"wms": "secret"}. A source
    # without a key accepts nothing.
    api_keys: dict[str, SecretStr] = Field(default_factory=dict)
    max_batch_bytes: int = 5 * 1024 * 1024
    max_batch_records: int = 10_000
    # Which mapping each source posts with, as JSON {"acme": "path/to/acme.yaml"}; a source not
    # listed uses the built-in mapping of the same name.
    ingest_mappings: dict[str, str] = Field(default_factory=dict)
    # A dropped file is taken once its size and mtime are unchanged for this long.
    watch_settle_seconds: float = 1.0

    # ---- reconciliation
    # Tolerances and the ERP ↔ WMS location map (YAML); None = the built-in file.
    reconcile_tolerances: Path | None = None

    # ---- quality rules
    # Evaluate the rule pack in the ingest transaction. Off for taking over history in bulk
    # (per-type export files arrive out of time order); check such history with `rules test`.
    rules_enabled: bool = True
