"""The REST connector: a source system posts a batch of records to ``/ingest/{source}``.

For a JSON mapping the body is either a JSON object ``{"records": [{...}, ...]}`` or JSON
Lines (one record a line, with ``Content-Type: application/x-ndjson``); for a CSV mapping
it is the CSV text itself, header line first (``Content-Type: text/csv``), cut into
records exactly as a file of that mapping would be. Every record keeps its exact bytes:
the slice of the body that held the array element, or the line — nothing is re-serialised.
A body that cannot be cut into records at all is kept whole, as one raw record that goes
to the dead letters as ``malformed-record``, so even garbage is never lost.

The whole request is one transaction through :class:`IngestService`: the records that map
are stored, the others become dead letters, and the answer lists each failure by index.

>>> [bytes(p) for p in split_records(b'{"records": [ {"a": 1}, [2] ]}', json_lines=False)]
[b'{"a": 1}', b'[2]']
>>> split_records(b'{"records": 5}', json_lines=False) is None
True
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from tracebridge.errors import (
    MappingError,
    NotFound,
    PayloadTooLarge,
    TraceBridgeError,
    Unauthorized,
    UnsupportedSource,
)
from tracebridge.ingest.service import IngestService, IngestSummary
from tracebridge.mapping import Mapping as SourceMapping
from tracebridge.mapping import load_mapping
from tracebridge.mapping.records import FieldError, MappedRecord, RawRecord, RecordRejected
from tracebridge.settings import Settings

JSON_LINES_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl",
                    "application/x-jsonlines", "application/jsonlines", "application/json-lines")
JSON_FORMATS = ("jsonl", "json")
CSV_TYPES = ("text/csv", "application/csv", "text/plain", "")
_WHITESPACE = " \t\r\n"
_DECODER = json.JSONDecoder()


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def is_json_lines(content_type: str | None) -> bool:
    return media_type(content_type) in JSON_LINES_TYPES


def source_mapping(settings: Settings, source: str) -> SourceMapping:
    """The mapping a source posts and retries with (``ingest_mappings``, else the built-in)."""
    ref = settings.ingest_mappings.get(source, source)
    try:
        return load_mapping(Path(ref) if ref.endswith((".yaml", ".yml")) else ref)
    except MappingError as error:
        if source in settings.ingest_mappings:
            raise
        raise NotFound(f"no source '{source}': {error.message}") from error


def check_api_key(keys: Mapping[str, SecretStr], source: str, given: str | None) -> None:
    """Raise :class:`Unauthorized` unless ``given`` is the key configured for ``source``."""
    expected = keys.get(source)
    # Compare even when nothing is expected, so timing does not tell which sources exist.
    wanted = (expected.get_secret_value() if expected else "").encode()
    offered = (given or "").encode()
    if not (hmac.compare_digest(wanted, offered) and expected and given):
        raise Unauthorized(f"POST /ingest/{source}: the X-API-Key header is missing or wrong; "
                           f"expected the key configured for source '{source}'")


def _skip_ws(text: str, at: int) -> int:
    while at < len(text) and text[at] in _WHITESPACE:
        at += 1
    return at


def _records_array(text: str) -> list[str] | None:
    """The exact text of each element of the top-level ``records`` array, or None."""
    at = _skip_ws(text, 0)
    if not text.startswith("{", at):
        return None
    at = _skip_ws(text, at + 1)
    found: list[str] | None = None
    while not text.startswith("}", at):
        key, at = _DECODER.raw_decode(text, at)
        at = _skip_ws(text, at)
        if not isinstance(key, str) or not text.startswith(":", at):
            return None
        at = _skip_ws(text, at + 1)
        if key == "records" and text.startswith("[", at):
            found, at = [], _skip_ws(text, at + 1)
            while not text.startswith("]", at):
                _, end = _DECODER.raw_decode(text, at)
                found.append(text[at:end])
                at = _skip_ws(text, end)
                if text.startswith(",", at):
                    at = _skip_ws(text, at + 1)
                elif not text.startswith("]", at):
                    return None
            at += 1
        else:
            _, at = _DECODER.raw_decode(text, at)
        at = _skip_ws(text, at)
        if text.startswith(",", at):
            at = _skip_ws(text, at + 1)
        elif not text.startswith("}", at):
            return None
    return found if _skip_ws(text, at + 1) == len(text) else None


def split_records(body: bytes, *, json_lines: bool) -> list[bytes] | None:
    """Cut a body into the bytes of each record; None when it cannot be cut at all."""
    if json_lines:
        lines = (line.removesuffix(b"\r") for line in body.split(b"\n"))
        return [line for line in lines if line.strip()]
    try:
        elements = _records_array(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return None if elements is None else [e.encode("utf-8") for e in elements]


def _parsed(payload: bytes) -> tuple[dict[str, Any], str | None]:
    """The record's fields, or why it has none."""
    try:
        value = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError as e:
        return {}, f"not UTF-8 text ({e.reason} at byte {e.start})"
    except (ValueError, RecursionError) as e:
        return {}, f"not valid JSON: {e}"
    if not isinstance(value, dict):
        return {}, f"expected a JSON object, got {type(value).__name__}"
    return value, None


@dataclass(frozen=True)
class RecordError:
    index: int | None  # position in the batch; None when the body could not be cut at all
    origin: str
    reason: str
    errors: list[FieldError]

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "origin": self.origin, "reason": self.reason,
                "errors": [e.as_dict() for e in self.errors]}


@dataclass
class BatchResult:
    request_id: str
    source_system: str
    record_type: str
    summary: IngestSummary
    errors: list[RecordError] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.summary.received - len(self.errors)

    def as_dict(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "source": self.source_system,
                "record_type": self.record_type, "received": self.summary.received,
                "accepted": self.accepted, "rejected": len(self.errors),
                "events_stored": self.summary.events_stored,
                "duplicates": self.summary.duplicates,
                "master_versions": self.summary.master_versions,
                "errors": [e.as_dict() for e in self.errors]}


class _RecordingMapper:
    """Passes records through to the mapping and remembers why each rejected one failed."""

    def __init__(self, mapping: SourceMapping, origins: dict[str, int | None]) -> None:
        self.mapping = mapping
        self.source_system = mapping.source_system
        self.mapping_id = mapping.mapping_id
        self.version = mapping.version
        self.origins = origins
        self.errors: list[RecordError] = []

    def read(self, path: Path) -> Iterator[RawRecord]:
        return self.mapping.read(path)

    def map(self, raw: RawRecord) -> MappedRecord:
        try:
            return self.mapping.map(raw)
        except RecordRejected as rejected:
            self._note(raw, rejected.reason, rejected.errors)
            raise
        except (TraceBridgeError, ValueError) as error:  # IngestService dead-letters these too
            self._note(raw, "mapping-error", [FieldError("*", f"{type(error).__name__}: {error}")])
            raise

    def _note(self, raw: RawRecord, reason: str, errors: list[FieldError]) -> None:
        self.errors.append(RecordError(self.origins.get(raw.origin), raw.origin, reason, errors))


class HttpIngest:
    """The use case behind ``POST /ingest/{source}``."""

    def __init__(self, service: IngestService, settings: Settings) -> None:
        self.service = service
        self.settings = settings

    def authorize(self, source: str, api_key: str | None) -> None:
        check_api_key(self.settings.api_keys, source, api_key)

    def receive(self, source: str, body: bytes, *, content_type: str | None = None,
                record_type: str | None = None) -> BatchResult:
        """Keep and map one posted batch in one transaction (call :meth:`authorize` first)."""
        if len(body) > self.settings.max_batch_bytes:
            raise PayloadTooLarge(f"the batch is {len(body):,} bytes; at most "
                                  f"{self.settings.max_batch_bytes:,} are accepted per request")
        mapping = source_mapping(self.settings, source)
        if mapping.source_system != source:
            raise UnsupportedSource(
                f"source '{source}' is mapped by '{mapping.mapping_id}', which maps records of "
                f"source '{mapping.source_system}'; posting needs a mapping of the same source")
        kind = record_type or mapping.record_types[0]
        if kind not in mapping.record_types:
            raise NotFound(f"source '{source}' has no record type '{kind}'",
                           suggestions=list(mapping.record_types))
        request_id = uuid.uuid4().hex
        prefix = f"http/{source}/{request_id}"
        if mapping.format_of(kind) == "csv":
            records = self._csv_records(mapping, kind, body, content_type, prefix)
        elif mapping.format_of(kind) in JSON_FORMATS:
            records = self._json_records(kind, body, content_type, prefix, source)
        else:
            raise UnsupportedSource(
                f"source '{source}' maps '{mapping.format_of(kind)}' records (mapping "
                f"'{mapping.mapping_id}'); posting needs a JSON, JSON Lines or CSV mapping")
        origins: dict[str, int | None] = {
            r.origin: None if r.origin.endswith("#body") else i for i, r in enumerate(records)}
        mapper = _RecordingMapper(mapping, origins)
        # One batch for the whole request: a crash keeps all of it or none of it.
        one_transaction = IngestService(self.service.engine, batch_size=max(len(records), 1))
        summary = one_transaction.ingest_records(mapper, records)
        return BatchResult(request_id, source, kind, summary, mapper.errors)

    def _limit(self, count: int) -> None:
        if count > self.settings.max_batch_records:
            raise PayloadTooLarge(f"the batch has {count:,} records; at most "
                                  f"{self.settings.max_batch_records:,} are accepted per request")

    def _csv_records(self, mapping: SourceMapping, kind: str, body: bytes,
                     content_type: str | None, prefix: str) -> list[RawRecord]:
        if media_type(content_type) not in CSV_TYPES:
            raise UnsupportedSource(
                f"record type '{kind}' reads CSV: post the CSV text, header line first, with "
                f"Content-Type: text/csv (got {content_type!r})")
        try:
            records = list(mapping.read_body(body, record_type=kind, origin=prefix))
        except MappingError as error:
            raise UnsupportedSource(error.message) from error
        self._limit(len(records))
        return records

    def _json_records(self, kind: str, body: bytes, content_type: str | None, prefix: str,
                      source: str) -> list[RawRecord]:
        pieces = split_records(body, json_lines=is_json_lines(content_type))
        if pieces is None:  # kept whole: the mapping rejects it as a malformed record
            return [RawRecord(
                source, kind, body, f"{prefix}#body", {},
                problem="the body is not a JSON object with a 'records' array (nor JSON Lines "
                        "with Content-Type application/x-ndjson); it is kept whole")]
        self._limit(len(pieces))
        records = []
        for index, payload in enumerate(pieces):
            fields, problem = _parsed(payload)
            records.append(RawRecord(source, kind, payload, f"{prefix}#{index}", fields,
                                     problem=problem))
        return records
