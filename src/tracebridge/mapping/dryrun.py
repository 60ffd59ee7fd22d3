"""Dry runs: map a sample file with a mapping and report everything, writing nothing.

``tracebridge mapping try`` uses this to show an integration engineer the canonical
output of each record and every field-level error, before anything is ingested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracebridge.mapping.engine import Mapping
from tracebridge.mapping.records import FieldError, RecordRejected


@dataclass
class RecordOutcome:
    origin: str
    record_type: str
    record_key: str | None
    events: list[dict[str, Any]] = field(default_factory=list)
    master: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None  # why the record was rejected, if it was
    errors: list[FieldError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.reason is None

    def as_dict(self) -> dict[str, Any]:
        return {"origin": self.origin, "record_type": self.record_type,
                "record_key": self.record_key, "ok": self.ok, "reason": self.reason,
                "errors": [e.as_dict() for e in self.errors],
                "events": self.events, "master": self.master}


def dry_run(mapping: Mapping, sample: Path, *, record_type: str | None = None
            ) -> list[RecordOutcome]:
    """Map every record of ``sample``; rejected records carry their reason and errors."""
    outcomes = []
    for raw in mapping.read(sample, record_type=record_type):
        outcome = RecordOutcome(raw.origin, raw.record_type, raw.record_key)
        try:
            mapped = mapping.map(raw)
        except RecordRejected as rejected:
            outcome.reason, outcome.errors = rejected.reason, rejected.errors
        else:
            outcome.events = [{**e.model_dump(mode="json", exclude_defaults=True),
                               "source": e.source.model_dump(mode="json")}
                              for e in mapped.events]
            outcome.master = [m.model_dump(mode="json") for m in mapped.master]
        outcomes.append(outcome)
    return outcomes
