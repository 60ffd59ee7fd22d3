"""One dispatcher per target at a time, however many are started.

A lot's messages go out in order only if one process sends them: two dispatchers over the
same outbox could both send a lot's oldest pending message, and a stale repeat could reach
the WMS after the lot's next one. So a dispatcher sends to a target only while it holds that
target's lock; another one started by mistake, or as a hot standby, waits and takes over
when the holder stops.

The locks are the kind the operating system or the database drops when their holder dies —
a SIGKILLed or crashed dispatcher never leaves a target locked, and nothing has to expire:

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection kept
  for the purpose; the server releases it when that session ends. A dispatcher checks its
  session before every pass and stops sending to the target if it was lost.
- SQLite: ``flock`` on a file beside the database (``<db>.dispatch-<target>.lock``, which
  also names the holder); the kernel releases it when the process exits. Only processes
  on the same machine share a SQLite file, so a file lock covers them all.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import threading
import weakref
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

_NAMESPACE = "tracebridge.dispatch:"


class TargetLock(Protocol):
    def try_acquire(self) -> bool:
        """Hold the lock (already held and still valid counts); False if another holder has it."""
        ...

    def release(self) -> None: ...


def target_lock(engine: Engine, target: str) -> TargetLock:
    """The lock that makes this process the only dispatcher of ``target`` on ``engine``'s store."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine, target)
    database = engine.url.database
    if not database or database == ":memory:":
        return _ProcessLock((id(engine), target))
    return FileLock(Path(f"{database}.dispatch-{_safe(target)}.lock"))


def _safe(target: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in target)


def advisory_key(target: str) -> int:
    """A stable signed 64-bit key per target (PostgreSQL advisory locks take a bigint)."""
    digest = hashlib.sha256((_NAMESPACE + target).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def holder() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(holder() + "\n")
        handle.flush()
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class AdvisoryLock:
    def __init__(self, engine: Engine, target: str) -> None:
        self.engine = engine
        self.key = advisory_key(target)
        self._conn: Connection | None = None
        self._finalizer: Any = None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            if self._alive(self._conn):
                return True
            self.release()
        conn = self.engine.connect()
        try:
            got = bool(conn.exec_driver_sql("SELECT pg_try_advisory_lock(%s)",
                                            (self.key,)).scalar())
            conn.commit()  # the lock is the session's: it outlives this transaction
        except DBAPIError:
            conn.close()
            return False
        if not got:
            conn.close()
            return False
        self._conn = conn
        # A dispatcher dropped without close() still ends its session, freeing the target.
        self._finalizer = weakref.finalize(self, _close_quietly, conn)
        return True

    @staticmethod
    def _alive(conn: Connection) -> bool:
        try:
            conn.exec_driver_sql("SELECT 1")
            conn.commit()
        except DBAPIError:
            return False
        return True

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            with contextlib.suppress(DBAPIError):  # a session gone took its lock with it
                conn.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (self.key,))
                conn.commit()
        finally:
            if self._finalizer is not None:
                self._finalizer.detach()
            _close_quietly(conn)


def _close_quietly(conn: Connection) -> None:
    with contextlib.suppress(DBAPIError):
        conn.close()


_PROCESS_LOCKS: dict[tuple[int, str], threading.Lock] = {}
_REGISTRY = threading.Lock()


class _ProcessLock:
    """An in-memory SQLite store lives in one process: a lock in that process suffices."""

    def __init__(self, key: tuple[int, str]) -> None:
        with _REGISTRY:
            self._lock = _PROCESS_LOCKS.setdefault(key, threading.Lock())
        self._finalizer: Any = None

    def try_acquire(self) -> bool:
        if self._finalizer is None and self._lock.acquire(blocking=False):
            self._finalizer = weakref.finalize(self, self._lock.release)
        return self._finalizer is not None

    def release(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # releases once, however often it is called
            self._finalizer = None
