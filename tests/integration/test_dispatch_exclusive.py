"""One dispatcher per target: a second one waits, takes over when the first stops or dies.

Runs on SQLite (a file lock beside the database) and PostgreSQL (a session advisory lock).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from multiprocessing.synchronize import Event as EventType

import pytest
from test_outbox import GTIN, Clock, ScriptedOutbound, receive

from tracebridge.bootstrap import Container, bootstrap
from tracebridge.dispatch.dispatcher import Dispatcher
from tracebridge.dispatch.exclusive import advisory_key, target_lock
from tracebridge.settings import Settings


def _hold_lock_until_killed(database_url: str, target: str, ready: EventType) -> None:
    app = bootstrap(Settings(database_url=database_url, rules_enabled=False))
    lock = target_lock(app.engine, target)
    assert lock.try_acquire()
    ready.set()
    time.sleep(600)  # SIGKILLed long before this


def _wait_for(condition: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_a_second_dispatcher_waits_and_takes_over_when_the_first_stops(
        container: Container) -> None:
    receive(container, "L1", "L2")
    container.quality.hold(GTIN, "L1", reason="NC-1", actor="qa")
    first_wms, second_wms = ScriptedOutbound(), ScriptedOutbound()
    first = Dispatcher(container.engine, {"wms": first_wms}, clock=Clock())
    second = Dispatcher(container.engine, {"wms": second_wms}, clock=Clock())

    assert first.run_once().sent == 1
    container.quality.hold(GTIN, "L2", reason="NC-2", actor="qa")
    waiting = second.run_once()
    assert (waiting.sent, waiting.waiting) == (0, ["wms"])
    assert waiting.as_dict()["waiting_for_other_dispatcher"] == ["wms"]
    assert second_wms.sent == []

    first.close()
    taken_over = second.run_once()
    assert (taken_over.sent, taken_over.waiting) == (1, [])
    assert [m.lot for m in first_wms.sent] == ["L1"] and [m.lot for m in second_wms.sent] == ["L2"]
    second.close()


def test_targets_are_locked_one_by_one(container: Container) -> None:
    receive(container, "L1")
    container.quality.hold(GTIN, "L1", reason="NC-1", actor="qa")
    wms_only = Dispatcher(container.engine, {"wms": ScriptedOutbound()}, clock=Clock())
    erp_only = Dispatcher(container.engine, {"erp": ScriptedOutbound()}, clock=Clock())
    assert (wms_only.run_once().sent, erp_only.run_once().sent) == (1, 1)
    wms_only.close()
    erp_only.close()


def test_a_killed_dispatcher_leaves_its_target_free(database_url: str) -> None:
    """SIGKILL gives no chance to clean up: the kernel (file lock) or the server (advisory
    lock of the dead session) must release the target, with no expiry to wait out."""
    app = bootstrap(Settings(database_url=database_url, rules_enabled=False))
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    child = context.Process(target=_hold_lock_until_killed,
                            args=(database_url, "wms", ready), daemon=True)
    child.start()
    try:
        assert ready.wait(60), "the child never took the lock"
        mine = target_lock(app.engine, "wms")
        assert not mine.try_acquire()
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        assert _wait_for(mine.try_acquire), "the dead holder's lock was never released"
        mine.release()
    finally:
        if child.is_alive():
            child.kill()
        app.close()


def test_advisory_keys_are_stable_and_distinct_per_target() -> None:
    assert advisory_key("wms") == advisory_key("wms")
    assert advisory_key("wms") != advisory_key("erp")
    assert -(2**63) <= advisory_key("wms") < 2**63


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_store_is_locked_within_its_process(url: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    one, two = target_lock(engine, "wms"), target_lock(engine, "wms")
    assert one.try_acquire() and not two.try_acquire()
    one.release()
    assert two.try_acquire()
    two.release()
