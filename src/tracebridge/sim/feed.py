"""The simulated plant delivered the way live interfaces would deliver it.

The simulator writes its exports one file per record type and period, as a batch export
from an ERP or WMS looks. Live feeds deliver records as they happen instead: every export
stream (one record type of one system) keeps its own order, and the streams interleave
by event time. A record the simulator held back (late, out of order, a re-send after a
dead letter, a duplicate) arrives with the record it was delivered behind, so the delay
it suffered is kept. Rule precision tests and the rule-overhead benchmark ingest this
order; taking over history file by file is the other workload (rules off).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tracebridge.mapping.engine import Mapping, load_mapping
from tracebridge.mapping.records import MappedRecord, RawRecord, RecordRejected
from tracebridge.sim.truth import Truth


class PlantFeeds:
    """The ERP and WMS mappings behind one mapper, so both feeds share ingest batches."""

    source_system = "plant"
    mapping_id = "plant"
    version = "1"

    def __init__(self) -> None:
        self.mappings: dict[str, Mapping] = {s: load_mapping(s) for s in ("erp", "wms")}

    def read(self, path: Path) -> Iterator[RawRecord]:
        return self.mappings[path.parent.name].read(path)

    def map(self, raw: RawRecord) -> MappedRecord:
        return self.mappings[raw.source_system].map(raw)


@dataclass(frozen=True)
class Delivery:
    master: list[RawRecord]
    records: list[RawRecord]  # in arrival order


def live_order(plant: Path, feeds: PlantFeeds, truth: Truth) -> Delivery:
    """Merge the export streams by event time; a held-back record keeps its delay."""
    held = {r for kind in ("late", "out_of_order") for r in truth.faults[kind]["records"]}
    master: list[RawRecord] = []
    streams: dict[tuple[str, str], list[tuple[datetime, RawRecord]]] = {}
    for system in ("erp", "wms"):
        for path in sorted((plant / system).iterdir()):
            for raw in feeds.read(path):
                try:
                    mapped = feeds.map(raw)
                except RecordRejected:
                    mapped = MappedRecord()
                if mapped.master and not mapped.events:
                    master.append(raw)
                    continue
                events = mapped.events
                stream = streams.setdefault((system, raw.record_type), [])
                stream.append((events[0].event_time if events else _previous(stream), raw))
    timed: list[tuple[datetime, int, int, RawRecord]] = []
    for number, stream in enumerate(streams.values()):
        seen: set[str] = set()
        arrival: datetime | None = None
        for position, (event_time, raw) in enumerate(stream):
            key = f"{raw.source_system}:{raw.record_key}"
            delayed = key in held or key in seen  # held back, re-sent or delivered twice
            seen.add(key)
            if arrival is None or not delayed:
                arrival = event_time
            timed.append((arrival, number, position, raw))
    return Delivery(master, [raw for *_, raw in heapq.nsmallest(len(timed), timed)])


def _previous(stream: list[tuple[datetime, RawRecord]]) -> datetime:
    return stream[-1][0] if stream else datetime.min.replace(tzinfo=UTC)
