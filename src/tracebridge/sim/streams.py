"""Export streams: each record is serialised once, passed through fault injection, and
appended to a file that rotates by period (a month for the ERP, a day for the WMS).

Records held back by a fault (late, out of order, duplicate, corrected re-send) wait in
a small heap and go into whichever file is open when they fall due, the way a late
message lands in the next day's export. Memory stays bounded by the longest delay.

>>> csv_line(["4900000001", "IV set, 20 drops", 'a "B" braun'])
'4900000001,"IV set, 20 drops","a ""B"" braun"\\n'
"""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tracebridge.sim.faults import FaultLog, FaultRates


def csv_line(values: list[str]) -> str:
    """One CSV line (RFC 4180 quoting, ``,`` separator, ``\\n`` terminator)."""
    out = []
    for value in values:
        if any(c in value for c in ',"\n\r'):
            value = '"' + value.replace('"', '""') + '"'
        out.append(value)
    return ",".join(out) + "\n"


def json_line(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"


@dataclass(slots=True)
class OutRecord:
    """A record about to be exported, with what fault injection may do to it."""

    record_id: str
    values: dict[str, Any]
    required: tuple[str, ...] = ()  # fields the mapping requires: may go missing
    codes: dict[str, str] = field(default_factory=dict)  # field -> a code nobody knows
    protected: bool = False  # part of a reversal pair: delivered as is, in order


class RotatingFile:
    """Appends lines to ``<dir>/<stem>_<period><suffix>``, opening a new file per period."""

    def __init__(self, directory: Path, stem: str, suffix: str, header: str | None) -> None:
        self._directory = directory
        self._stem = stem
        self._suffix = suffix
        self._header = header
        self._period: str | None = None
        self._handle: IO[str] | None = None
        self.files: list[Path] = []
        self.lines = 0

    def set_period(self, period: str) -> None:
        if period == self._period:
            return
        self.close()
        self._period = period
        path = self._directory / f"{self._stem}_{period}{self._suffix}"
        self._handle = path.open("a" if path in self.files else "w", encoding="utf-8", newline="")
        if path not in self.files:
            self.files.append(path)
            if self._header is not None:
                self._handle.write(self._header)

    def write(self, line: str) -> None:
        if self._handle is None:
            raise RuntimeError("set_period() must be called before writing")
        self._handle.write(line)
        self.lines += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class FaultyStream:
    """Writes records to a file, injecting at most one fault per record."""

    def __init__(
        self,
        *,
        system: str,
        sink: RotatingFile,
        serialise: Callable[[dict[str, Any]], str],
        rates: FaultRates,
        log: FaultLog,
        rng: random.Random,
    ) -> None:
        self.system = system
        self._sink = sink
        self._serialise = serialise
        self._rates = rates
        self._log = log
        self._rng = rng
        self._position = 0
        self._sequence = 0
        self._pending: list[tuple[int, int, str, str]] = []  # due, order, line, record id
        self._awaited: set[str] = set()  # records whose only valid copy is held back
        self.records = 0
        rate_list = [
            ("missing_field", rates.missing_field),
            ("unknown_code", rates.unknown_code),
            ("duplicate", rates.duplicate),
            ("late", rates.late),
            ("out_of_order", rates.out_of_order),
        ]
        self._thresholds: list[tuple[float, str]] = []
        total = 0.0
        for kind, rate in rate_list:
            total += rate
            self._thresholds.append((total, kind))
        self._any = total > 0

    def set_period(self, period: str) -> None:
        self._sink.set_period(period)

    def emit(self, record: OutRecord) -> None:
        self._position += 1
        self.records += 1
        line = self._serialise(record.values)
        fault = self._draw() if self._any and not record.protected else None
        if fault == "missing_field" and record.required:
            name = self._rng.choice(record.required)
            self._inject_bad(record, {**record.values, name: ""}, line, fault)
        elif fault == "unknown_code" and record.codes:
            name = self._rng.choice(sorted(record.codes))
            self._inject_bad(record, {**record.values, name: record.codes[name]}, line, fault)
        elif fault == "duplicate":
            self._log.note(fault, self.system, record.record_id)
            self._write(line)
            self._hold(line, self._rng.randint(1, self._rates.out_of_order_window), "")
            self.records += 1
        elif fault == "late":
            self._log.note(fault, self.system, record.record_id)
            self._hold(line, self._rng.randint(*self._rates.late_delay), record.record_id)
        elif fault == "out_of_order":
            self._log.note(fault, self.system, record.record_id)
            self._hold(line, self._rng.randint(1, self._rates.out_of_order_window),
                       record.record_id)
        else:
            self._write(line)
        self._release_due()

    def _inject_bad(
        self, record: OutRecord, bad_values: dict[str, Any], good_line: str, fault: str
    ) -> None:
        self._log.note(fault, self.system, record.record_id)
        self._write(self._serialise(bad_values))
        self._hold(good_line, self._rng.randint(*self._rates.resend_delay), record.record_id)
        self.records += 1

    def _draw(self) -> str | None:
        roll = self._rng.random()
        for threshold, kind in self._thresholds:
            if roll < threshold:
                return kind
        return None

    def delivered(self, record_id: str) -> bool:
        """Whether a valid copy of the emitted record ``record_id`` is in the file yet — a
        late, out-of-order or corrected re-send waits until its delay is up."""
        return record_id not in self._awaited

    def _hold(self, line: str, delay: int, record_id: str) -> None:
        """Deliver ``line`` ``delay`` records later; ``record_id``: the only valid copy of
        that record ("": a second copy of one already written)."""
        self._sequence += 1
        if record_id:
            self._awaited.add(record_id)
        heapq.heappush(self._pending, (self._position + delay, self._sequence, line, record_id))

    def _release_due(self) -> None:
        while self._pending and self._pending[0][0] <= self._position:
            self._release(heapq.heappop(self._pending))

    def _release(self, entry: tuple[int, int, str, str]) -> None:
        self._awaited.discard(entry[3])
        self._write(entry[2])

    def _write(self, line: str) -> None:
        self._sink.write(line)

    def close(self) -> None:
        while self._pending:
            self._release(heapq.heappop(self._pending))
        self._sink.close()

    @property
    def files(self) -> list[Path]:
        return self._sink.files
