"""The dispatcher: sends outbox messages through each target's connector, in order per lot.

Each pass asks the outbox for the messages that are due and are their lot's oldest
unacknowledged one, hands each to its target's :class:`~tracebridge.dispatch.outbound.Outbound`
and records the outcome in its own short transaction — never holding a database
transaction open while a network call runs. A failed attempt is retried after an
exponential backoff with jitter (attempt n waits ``base·2ⁿ⁻¹`` capped, times a random
factor in [½, 1], so many failed messages do not all come back at the same instant);
after ``max_attempts`` or a refusal by the target, the message is dead and its lot's
later messages for that target wait.

Delivery is at least once: a crash between the target's acknowledgement and the
``done`` commit sends that message again, with the same idempotency key — and only that
message, before anything later of its lot, so a receiver that drops keys it has seen gets
every message exactly once and in order. ``stress/dispatch_stress.py`` proves it by
SIGKILLing the dispatcher at the :mod:`~tracebridge.dispatch.pause` points.

A dispatcher sends to a target only while it holds the target's lock
(:mod:`~tracebridge.dispatch.exclusive`): a second one waits, and takes over when the first
stops or dies.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from tracebridge.dispatch import outbox
from tracebridge.dispatch.exclusive import TargetLock, target_lock
from tracebridge.dispatch.outbound import Delivery, Outbound, OutboundMessage
from tracebridge.dispatch.pause import DispatchPause, no_pause

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 2.0
    cap_seconds: float = 600.0
    max_attempts: int = 12

    def delay(self, attempt: int, rng: random.Random) -> timedelta:
        """Wait before attempt ``attempt + 1``, ``attempt`` counting from 1."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))
        return timedelta(seconds=ceiling * rng.uniform(0.5, 1.0))


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    by_target: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # targets another dispatcher holds

    def as_dict(self) -> dict[str, object]:
        return {"sent": self.sent, "retried": self.retried, "dead": self.dead,
                "by_target": dict(self.by_target), "errors": list(self.errors),
                "waiting_for_other_dispatcher": list(self.waiting)}


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        outbounds: Mapping[str, Outbound],
        *,
        retry: RetryPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        batch: int = 100,
        idle_seconds: float = 1.0,
        pause: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.outbounds = dict(outbounds)
        self.locks: dict[str, TargetLock] = {t: target_lock(engine, t) for t in self.outbounds}
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.rng = rng or random.Random()
        self.batch = batch
        self.idle_seconds = idle_seconds
        # Read here rather than wired through bootstrap: `tracebridge dispatch` under test is
        # the production command, unchanged, with only the variable set.
        self.pause = pause or DispatchPause.from_env() or no_pause

    def run_once(self) -> DispatchReport:
        """Send everything due now; a lot's next message goes as soon as the one before is done."""
        report = DispatchReport()
        targets = [t for t in sorted(self.outbounds) if self.locks[t].try_acquire()]
        report.waiting = sorted(set(self.outbounds) - set(targets))
        while targets:
            with self.engine.connect() as conn:
                due = outbox.ready(conn, now=self.clock(), limit=self.batch, targets=targets)
            if not due:
                return report
            progressed = False
            for message in due:
                self.pause("before-publish")
                delivery = self._deliver(message)
                if delivery.outcome == "done":
                    self.pause("after-publish")
                self._record(message, delivery, report)
                progressed = progressed or delivery.outcome == "done"
            if not progressed:
                return report
        return report

    def _deliver(self, message: OutboundMessage) -> Delivery:
        try:
            return self.outbounds[message.target].send(message)
        except Exception as error:  # a connector bug must not stop the other targets
            return Delivery.retry(f"{type(error).__name__}: {error}")

    def _record(self, message: OutboundMessage, delivery: Delivery, report: DispatchReport) -> None:
        now = self.clock()
        attempt = message.attempts + 1
        if delivery.outcome == "done":
            with self.engine.begin() as conn:
                outbox.mark_done(conn, message.id, now=now)
                self.pause("before-done-commit")
            self.pause("after-done")
            report.sent += 1
            report.by_target[message.target] += 1
            return
        give_up = delivery.outcome == "dead" or attempt >= self.retry.max_attempts
        retry_at = None if give_up else now + self.retry.delay(attempt, self.rng)
        with self.engine.begin() as conn:
            outbox.mark_failed(conn, message.id, error=delivery.detail, retry_at=retry_at)
        if give_up:
            report.dead += 1
        else:
            report.retried += 1
        report.errors.append(
            f"{message.target} {message.gtin}/{message.lot} #{message.sequence} "
            f"attempt {attempt}: {delivery.detail}"
        )

    def run_forever(
        self, *, idle_seconds: float | None = None, stop: threading.Event | None = None
    ) -> None:
        """Dispatch until ``stop`` is set, sleeping ``idle_seconds`` (default: the one given
        at construction) when nothing was sent."""
        stop = stop or threading.Event()
        idle = self.idle_seconds if idle_seconds is None else idle_seconds
        waiting: list[str] = []
        try:
            while not stop.is_set():
                report = self.run_once()
                if report.waiting != waiting:
                    waiting = report.waiting
                    if waiting:
                        log.warning("another dispatcher holds %s; waiting to take over",
                                    ", ".join(waiting))
                    else:
                        log.info("dispatching to %s", ", ".join(sorted(self.outbounds)))
                if report.sent == 0:
                    stop.wait(idle)
        finally:
            self.close()

    def close(self) -> None:
        for connector in self.outbounds.values():
            connector.close()
        for lock in self.locks.values():
            lock.release()
