"""Master data: products, suppliers, parties, locations, equipment, operators.

Master data is versioned like events: a changed record becomes a new version and
the old one stays retrievable.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tracebridge.domain.events import Source, canonical_json, sha256_hex

# ``device_tracking`` (key ``<gtin>/<serial>``) holds what a hospital reports about a tracked
# device and its patient (21 CFR 821): versioned the same way, so an explant or death
# report is a new version and the implant report stays on record.
MASTER_ENTITIES = frozenset(
    {"product", "material", "supplier", "party", "location", "equipment", "operator",
     "device_tracking"}
)


class MasterRecord(BaseModel):
    """One version of one master-data entity, keyed by its business key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entity: str
    key: str = Field(min_length=1, max_length=200)
    attributes: dict[str, Any]
    source: Source

    @property
    def content_hash(self) -> str:
        return sha256_hex(
            canonical_json({"entity": self.entity, "key": self.key, **self.attributes})
        )
