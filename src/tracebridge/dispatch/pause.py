"""Crash-injection hook of the dispatcher: freeze at a named point so a test can SIGKILL it.

The points bracket the two steps that are not one transaction — the target's
acknowledgement and the outbox's ``done`` mark:

* ``before-publish`` — the decision and its message are committed, nothing sent yet;
* ``after-publish`` — the target acknowledged, the row is still ``pending``;
* ``before-done-commit`` — ``done`` written inside the open transaction, not committed;
* ``after-done`` — the ``done`` mark is committed.

``TRACEBRIDGE_PAUSE_AT=after-publish:3`` freezes at the third acknowledged message, after
printing a marker line on stderr that the harness waits for. The variable is shared with
the RabbitMQ consumer, whose points have other names, so a point that is not one of these
leaves the dispatcher alone.

>>> DispatchPause.from_env({"TRACEBRIDGE_PAUSE_AT": "after-commit:2"}) is None
True
>>> DispatchPause.from_env({"TRACEBRIDGE_PAUSE_AT": "after-publish:2"}).occurrence
2
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import TextIO

PAUSE_ENV = "TRACEBRIDGE_PAUSE_AT"
PAUSE_POINTS = ("before-publish", "after-publish", "before-done-commit", "after-done")
PAUSE_MARKER = "tracebridge-paused-at"


class DispatchPause:
    def __init__(self, point: str, occurrence: int = 1, stream: TextIO | None = None) -> None:
        if point not in PAUSE_POINTS:
            raise ValueError(f"dispatcher pause point '{point}' is not one of "
                             f"{', '.join(PAUSE_POINTS)}")
        if occurrence < 1:
            raise ValueError(f"pause occurrence {occurrence} of '{point}': expected 1 or more")
        self.point = point
        self.occurrence = occurrence
        self.seen = 0
        self.stream = stream

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DispatchPause | None:
        spec = (os.environ if environ is None else environ).get(PAUSE_ENV, "").strip()
        point, _, nth = spec.partition(":")
        if point not in PAUSE_POINTS:
            return None
        try:
            occurrence = int(nth) if nth else 1
        except ValueError:
            raise ValueError(f"{PAUSE_ENV}={spec!r}: expected <point>:<n>, n a whole number, "
                             f"e.g. 'after-publish:2'") from None
        return cls(point, occurrence)

    def __call__(self, point: str) -> None:
        if point != self.point:
            return
        self.seen += 1
        if self.seen == self.occurrence:
            print(f"{PAUSE_MARKER} {point}", file=self.stream or sys.stderr, flush=True)
            while True:  # held here until the harness kills the process
                time.sleep(3600)


def no_pause(point: str) -> None:
    """The hook in production: every point passes straight through."""
