"""SQLite write transactions that queue for the file's write lock instead of polling for it.

SQLite lets one writer in at a time; a `BEGIN IMMEDIATE` that finds the lock taken sleeps in
its busy handler (1, 2, 5, 10, 15, 20, 25 … ms between tries) however soon the lock comes
free. With the API, N workers and the scheduler writing one file, those sleeps were the
largest wait in an action's cycle (BENCHMARKS.md §2: most waits were the handler's 1–3 and
8–11 ms steps while the lock itself was held ~0.5 ms). Here every write transaction first
takes an exclusive `flock` on a side file (`<db>-writers`): the kernel queues the waiters and
wakes one the moment the holder commits, so SQLite's own lock is then free at once. Anyone
who writes without the side lock (the `sqlite3` shell, another program) still meets SQLite's
busy timeout, as before: the side lock only orders our own writers.

A lock is held by its open file, so each connection opens the side file itself; a process
that inherited a connection across `fork` opens its own before it locks.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from typing import Any


class QueuedWriterConnection(sqlite3.Connection):
    """`sqlite3.connect(..., factory=QueuedWriterConnection)`; `begin_immediate()` starts a
    write transaction, `commit()` / `rollback()` end it and hand the lock on."""

    def __init__(self, database: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        path = os.fspath(database)
        self._lock_path = None if path in ("", ":memory:") or path.startswith("file:") \
            else path + "-writers"
        self._lock_fd = -1
        self._lock_pid = -1
        self._held = False

    def begin_immediate(self) -> None:
        self._acquire()
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()
            if self._lock_fd >= 0 and self._lock_pid == os.getpid():
                os.close(self._lock_fd)
            self._lock_fd = -1

    def _acquire(self) -> None:
        if self._lock_path is None or self._held:
            return
        if self._lock_pid != os.getpid():
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._lock_pid = os.getpid()
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)  # blocks without the GIL
        self._held = True

    def _release(self) -> None:
        if self._held:
            self._held = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
