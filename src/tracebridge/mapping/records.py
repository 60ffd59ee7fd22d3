"""What a mapping consumes and produces — the contract between connectors and mappings.

A connector cuts its input into :class:`RawRecord` s (the bytes exactly as received,
plus the fields parsed from them). A mapping turns one raw record into a
:class:`MappedRecord` — zero or more canonical events and master-data versions — or
raises :class:`RecordRejected` with every field-level problem it found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tracebridge.domain.events import CanonicalEvent
from tracebridge.domain.master import MasterRecord
from tracebridge.errors import MappingError


@dataclass(frozen=True, slots=True)
class RawRecord:
    source_system: str  # "erp", "wms", ...
    record_type: str  # which record of that system, e.g. "goods_movement"
    payload: bytes  # exactly as received (a CSV line, a JSON line, an XML element)
    origin: str  # where it came from: "path/to/file.csv:17"
    fields: dict[str, Any]  # parsed from ``payload``
    record_key: str | None = None  # the source's own id of the record, when known
    problem: str | None = None  # why no fields could be read from ``payload``, if so


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str
    value: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"field": self.field, "message": self.message, "value": self.value}


@dataclass(slots=True)
class MappedRecord:
    events: list[CanonicalEvent] = field(default_factory=list)
    master: list[MasterRecord] = field(default_factory=list)


class RecordRejected(MappingError):
    """A record that cannot be mapped; ``errors`` says which fields and why."""

    code = "record-rejected"

    def __init__(self, reason: str, errors: list[FieldError]) -> None:
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.errors = errors
