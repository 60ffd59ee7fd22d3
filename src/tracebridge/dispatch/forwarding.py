"""The forwarding policy: which stored events become outbox messages for which targets.

It is a *reaction* — called inside the transaction that stored the events, right after the
projections were updated — so an event and the messages announcing it commit together.
Each target's outbound mapping says which event kinds it is told about; an event is never
sent back to the system it came from (a hold the ERP reported goes to the WMS, not back to
the ERP), while TraceBridge's own decisions go to every target.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection

from tracebridge.dispatch import outbox
from tracebridge.dispatch.outbound_mapping import OutboundMapping, message_fields
from tracebridge.domain.events import EventKind
from tracebridge.store.event_log import StoredEvent


class ForwardToTargets:
    """A reaction writing one outbox message per (target, lot) of each forwarded event."""

    def __init__(
        self,
        mappings: Iterable[OutboundMapping],
        *,
        clock: Callable[[], datetime] = outbox.now_utc,
    ) -> None:
        self.mappings = list(mappings)
        self.clock = clock
        for mapping in self.mappings:
            _probe(mapping)

    @property
    def targets(self) -> list[str]:
        return [mapping.target for mapping in self.mappings]

    def messages(self, stored: Sequence[StoredEvent]) -> list[outbox.NewMessage]:
        """The messages ``stored`` yields, in log order (pure: no database access)."""
        out: list[outbox.NewMessage] = []
        for item in stored:
            event = item.event
            for mapping in self.mappings:
                if not mapping.forwards(event.kind.value):
                    continue
                if mapping.target == event.source.system:
                    continue  # never echo a system's own record back to it
                for ref in event.lots:
                    out.append(
                        outbox.NewMessage(
                            target=mapping.target,
                            kind=event.kind.value,
                            gtin=ref.gtin,
                            lot=ref.lot,
                            event_id=event.event_id,
                            event_seq=item.seq,
                            payload=mapping.render(message_fields(event, ref)),
                        )
                    )
        return out

    def __call__(self, conn: Connection, stored: Sequence[StoredEvent]) -> None:
        outbox.enqueue(conn, self.messages(stored), now=self.clock())


def _probe(mapping: OutboundMapping) -> None:
    """Render every forwarded kind once at start-up, so a code list missing a kind fails
    here — not later inside an ingest transaction, where it would stop the whole batch."""
    for kind in EventKind:
        if mapping.forwards(kind.value):
            mapping.render({"kind": kind.value, "gtin": "00000000000000", "lot": "PROBE",
                            "event_time": datetime(2000, 1, 1, tzinfo=UTC),
                            "source_system": "tracebridge"})
