"""Database polling: read new rows from a source system's database by a high-water mark.

The poller runs the configured query wrapped as
``SELECT * FROM (query) src WHERE (hwm, key) > (:last_hwm, :last_key) ORDER BY hwm, key
LIMIT n``. The mark is the pair (high-water-mark column, key column) of the last row
taken, so several rows sharing one ``updated_at`` are neither skipped nor read twice
when a batch boundary falls between them. Each row becomes a raw record whose payload
is the canonical JSON of the row; the batch is ingested with the new mark as the
connector's checkpoint in the SAME transaction, so a crash resumes exactly after the
last committed row.

What the mark cannot see: a row whose mark value is lower than one already taken (a
source transaction that commits late with an older ``updated_at``), and rows whose
mark is NULL. Point ``hwm_column`` at a value the source assigns at commit time or
monotonically (a sequence, a row version) when that matters.

>>> from datetime import datetime
>>> mark = Mark(datetime(2024, 5, 1, 8, 30), 17)
>>> mark.to_json()
'{"hwm": {"datetime": "2024-05-01T08:30:00"}, "key": 17}'
>>> Mark.from_json(mark.to_json()) == mark
True
>>> canonical_row({"id": 3, "qty": Decimal("2.50"), "名称": "导管"})
b'{"id":3,"qty":2.5,"\\xe5\\x90\\x8d\\xe7\\xa7\\xb0":"\\xe5\\xaf\\xbc\\xe7\\xae\\xa1"}'
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from tracebridge.errors import ConnectorError
from tracebridge.ingest import checkpoints
from tracebridge.ingest.service import IngestService, IngestSummary, RecordMapper
from tracebridge.mapping.records import RawRecord
from tracebridge.store.database import normalise_url

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PollConfig(BaseModel):
    """One poller, as written in its YAML file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    source_url: str = Field(min_length=1)
    query: str = Field(min_length=1)
    hwm_column: str
    key_column: str
    mapping: str = Field(min_length=1)
    record_type: str | None = None
    batch_size: int = Field(default=500, ge=1, le=100_000)
    interval_seconds: float = Field(default=5.0, gt=0)

    @field_validator("hwm_column", "key_column")
    @classmethod
    def _plain_identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError(f"'{value}' is not a plain column name (letters, digits, _)")
        return value

    @property
    def connector_name(self) -> str:
        return f"poll:{self.name}"


def load_poll_config(path: Path) -> PollConfig:
    """Read and validate a poller's YAML file; errors name the file and the field."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConnectorError(f"{path}: cannot read the poll configuration: {error}") from error
    if not isinstance(document, dict):
        raise ConnectorError(f"{path}: expected a mapping of settings (name, source_url, "
                             f"query, hwm_column, key_column, mapping), got {document!r:.80}")
    try:
        config = PollConfig.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<file>'}: {e['msg']}"
            for e in error.errors()
        )
        raise ConnectorError(f"{path}: invalid poll configuration: {problems}") from error
    mapping = Path(config.mapping)
    if mapping.suffix in (".yaml", ".yml") and not mapping.is_absolute():
        config = config.model_copy(update={"mapping": str(path.parent / mapping)})
    return config


def create_source_engine(url: str) -> Engine:
    """An engine on the SOURCE database: read-only use, none of our own session settings."""
    try:
        return create_engine(normalise_url(url), pool_pre_ping=True)
    except (SQLAlchemyError, ValueError) as error:
        raise ConnectorError(f"source_url {url!r:.200} is not a usable database URL: "
                             f"{error}") from error


# ---------------------------------------------------------------- values


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date | time_of_day):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, MappingABC):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def canonical_row(row: MappingABC[str, Any]) -> bytes:
    """The row as canonical JSON: sorted keys, no spaces, UTF-8 — equal rows, equal bytes."""
    return json.dumps(_jsonable(dict(row)), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def _tagged(value: Any) -> Any:
    """A mark value in JSON, keeping its type so it binds back as the same type."""
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConnectorError(f"a mark value must be a date, time stamp, number or text; "
                             f"got {value!r:.60} ({type(value).__name__})")
    return value


def _untagged(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    (kind, text_value), = value.items()
    if kind == "datetime":
        return datetime.fromisoformat(text_value)
    if kind == "date":
        return date.fromisoformat(text_value)
    if kind == "decimal":
        return Decimal(text_value)
    raise ValueError(f"unknown mark type '{kind}'")


@dataclass(frozen=True)
class Mark:
    """Where the poller got to: (high-water-mark value, key value) of the last row taken."""

    hwm: Any
    key: Any

    def to_json(self) -> str:
        return json.dumps({"hwm": _tagged(self.hwm), "key": _tagged(self.key)},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, position: str) -> Mark:
        try:
            data = json.loads(position)
            return cls(_untagged(data["hwm"]), _untagged(data["key"]))
        except (ValueError, KeyError, TypeError) as error:
            raise ConnectorError(f"stored poll checkpoint {position!r:.100} is not a mark "
                                 '({"hwm": ..., "key": ...})') from error


# ---------------------------------------------------------------- poller


@dataclass
class PollResult:
    rows: int
    mark: Mark | None
    summary: IngestSummary


class DbPoller:
    """Polls one source query into the event store; see the module docstring."""

    def __init__(
        self,
        service: IngestService,
        mapper: RecordMapper,
        config: PollConfig,
        *,
        source: Engine,
        record_type: str,
    ) -> None:
        self.service = service
        self.mapper = mapper
        self.config = config
        self.source = source
        self.record_type = record_type
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True

    def mark(self) -> Mark | None:
        position = checkpoints.load(self.service.engine, self.config.connector_name)
        return None if position is None else Mark.from_json(position)

    def _sql(self, after: Mark | None) -> str:
        quote = self.source.dialect.identifier_preparer.quote
        hwm, key = quote(self.config.hwm_column), quote(self.config.key_column)
        inner = self.config.query.strip().rstrip(";")
        where = (f" WHERE src.{hwm} > :last_hwm OR (src.{hwm} = :last_hwm AND src.{key} > "
                 ":last_key)") if after is not None else ""
        return (f"SELECT * FROM ({inner}) src{where} "
                f"ORDER BY src.{hwm}, src.{key} LIMIT :limit")

    def poll_once(self) -> PollResult:
        """Take the next batch of rows after the mark and ingest it (one transaction)."""
        c = self.config
        after = self.mark()
        params: dict[str, Any] = {"limit": c.batch_size}
        if after is not None:
            params.update(last_hwm=after.hwm, last_key=after.key)
        try:
            with self.source.connect() as conn:
                rows = [dict(r) for r in conn.execute(text(self._sql(after)), params).mappings()]
        except SQLAlchemyError as error:
            raise ConnectorError(f"poller '{c.name}': the source query failed: "
                                 f"{type(error).__name__}: {error}") from error
        if not rows:
            return PollResult(0, after, IngestSummary())
        for column in (c.hwm_column, c.key_column):
            if column not in rows[0]:
                raise ConnectorError(f"poller '{c.name}': the query returns no column "
                                     f"'{column}'; it returns {', '.join(rows[0])}")
        records = [self._raw_record(row) for row in rows]
        last = Mark(rows[-1][c.hwm_column], rows[-1][c.key_column])
        summary = self.service.ingest_batch(
            self.mapper, records, checkpoint=(c.connector_name, last.to_json())
        )
        return PollResult(len(rows), last, summary)

    def _raw_record(self, row: dict[str, Any]) -> RawRecord:
        payload = canonical_row(row)
        key = str(row[self.config.key_column])
        return RawRecord(self.mapper.source_system, self.record_type, payload,
                         f"db:{self.config.name}#{key}"[:500], json.loads(payload), key[:200])

    def run(self, *, until_caught_up: bool = False) -> IngestSummary:
        """Poll every ``interval_seconds`` (at once while full batches keep coming)."""
        total = IngestSummary()
        while not self._stopping:
            result = self.poll_once()
            total.add(result.summary)
            if result.rows:
                log.info("poller %s: %d rows, mark %s", self.config.name, result.rows,
                         result.mark)
            if result.rows < self.config.batch_size:
                if until_caught_up:
                    break
                end = time.monotonic() + self.config.interval_seconds
                while not self._stopping and time.monotonic() < end:
                    time.sleep(min(0.2, end - time.monotonic()))
        return total
