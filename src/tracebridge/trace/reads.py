"""What a trace reads, as a port: the database adapter here, others can stand in.

:class:`~tracebridge.trace.service.TraceService` assembles a trace from these reads and
nothing else, so the same assembly runs over any source of the same rows. The product
reads the database (:class:`DatabaseReads`, one snapshot per trace); the trace
benchmark loads the same rows into dicts and runs the identical assembly over them, so
the two results can be compared for equality and the cost of the store measured apart
from the cost of building the answer.

Row objects are read by attribute (``row.gtin``, ``row.event_time``) with the columns of
the queries in ``trace.queries``; times come as the store hands them back (text on
SQLite), and the assembly reads either.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy import Connection

from tracebridge.trace import queries as q
from tracebridge.trace.queries import Crossing, Edge, Fact, Holding, Limits, LotKey, Step, Window
from tracebridge.trace.sql import master


class TraceReads(Protocol):
    """Every read behind a trace, each over a whole set of lots, now or as of a record time."""

    def genealogy(self, start: LotKey, *, direction: Literal["backward", "forward"],
                  as_of: datetime | None) -> tuple[dict[LotKey, int], list[Edge]]: ...

    def lot_states(self, keys: Collection[LotKey], as_of: datetime | None
                   ) -> dict[LotKey, dict[str, Any]]: ...

    def milestones(self, keys: Collection[LotKey], as_of: datetime | None
                   ) -> dict[LotKey, list[Fact]]: ...

    def inspections(self, keys: Collection[LotKey], as_of: datetime | None) -> list[Fact]: ...

    def operations(self, keys: Collection[LotKey], as_of: datetime | None) -> list[Step]: ...

    def stock(self, keys: Collection[LotKey], as_of: datetime | None, preferred: str
              ) -> list[Holding]: ...

    def crossings(self, keys: Collection[LotKey], as_of: datetime | None, preferred: str
                  ) -> list[Crossing]: ...

    def shipment_rows(self, keys: Collection[LotKey], as_of: datetime | None
                      ) -> list[Fact]: ...

    def containers(self, child: str, as_of: datetime | None) -> list[str]: ...

    def serial_shipment_rows(self, gtin: str, serial: str, ssccs: Sequence[str],
                             as_of: datetime | None) -> list[Fact]: ...

    def serial_last_seen(self, gtin: str, serial: str, as_of: datetime | None
                         ) -> Fact | None: ...

    def serial_hold(self, gtin: str, serial: str, as_of: datetime | None) -> Fact | None: ...

    def environment(self, windows: Sequence[Window], limits: Limits, as_of: datetime | None
                    ) -> dict[Window, list[dict[str, Any]]]: ...

    def master(self, wanted: dict[str, Collection[str]]) -> dict[str, dict[str, Any]]: ...


class DatabaseReads:
    """The reads on one connection, inside the trace's snapshot (``trace.queries``)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def genealogy(self, start: LotKey, *, direction: Literal["backward", "forward"],
                  as_of: datetime | None) -> tuple[dict[LotKey, int], list[Edge]]:
        return q.genealogy(self.conn, start, direction=direction, as_of=as_of)

    def lot_states(self, keys: Collection[LotKey], as_of: datetime | None
                   ) -> dict[LotKey, dict[str, Any]]:
        return q.lot_states(self.conn, keys, as_of)

    def milestones(self, keys: Collection[LotKey], as_of: datetime | None
                   ) -> dict[LotKey, list[Fact]]:
        return q.milestones(self.conn, keys, as_of)

    def inspections(self, keys: Collection[LotKey], as_of: datetime | None) -> list[Fact]:
        return q.inspections(self.conn, keys, as_of)

    def operations(self, keys: Collection[LotKey], as_of: datetime | None) -> list[Step]:
        return q.operations(self.conn, keys, as_of)

    def stock(self, keys: Collection[LotKey], as_of: datetime | None, preferred: str
              ) -> list[Holding]:
        return q.stock(self.conn, keys, as_of, preferred)

    def crossings(self, keys: Collection[LotKey], as_of: datetime | None, preferred: str
                  ) -> list[Crossing]:
        return q.crossings(self.conn, keys, as_of, preferred)

    def shipment_rows(self, keys: Collection[LotKey], as_of: datetime | None) -> list[Fact]:
        return q.shipment_rows(self.conn, keys, as_of)

    def containers(self, child: str, as_of: datetime | None) -> list[str]:
        return q.containers(self.conn, child, as_of)

    def serial_shipment_rows(self, gtin: str, serial: str, ssccs: Sequence[str],
                             as_of: datetime | None) -> list[Fact]:
        return q.serial_shipment_rows(self.conn, gtin, serial, ssccs, as_of)

    def serial_last_seen(self, gtin: str, serial: str, as_of: datetime | None) -> Fact | None:
        return q.serial_last_seen(self.conn, gtin, serial, as_of)

    def serial_hold(self, gtin: str, serial: str, as_of: datetime | None) -> Fact | None:
        return q.serial_hold(self.conn, gtin, serial, as_of)

    def environment(self, windows: Sequence[Window], limits: Limits, as_of: datetime | None
                    ) -> dict[Window, list[dict[str, Any]]]:
        return q.environment(self.conn, windows, limits, as_of)

    def master(self, wanted: dict[str, Collection[str]]) -> dict[str, dict[str, Any]]:
        return master(self.conn, wanted)
