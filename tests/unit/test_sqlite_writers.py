"""SQLite write transactions queue on a side lock (`store/sqlite_writers.py`): a second writer
waits for the first to commit or roll back, then goes in; nothing polls SQLite's busy handler."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from connector.store.sqlite_writers import QueuedWriterConnection

WAIT_S = 10.0


def _connect(path: Path) -> QueuedWriterConnection:
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None,
                           check_same_thread=False, factory=QueuedWriterConnection)
    assert isinstance(conn, QueuedWriterConnection)
    return conn


def _second_writer_waits_for(end: str, tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    first, second = _connect(path), _connect(path)
    first.execute("PRAGMA journal_mode=WAL")
    first.execute("CREATE TABLE t (n INTEGER)")
    first.begin_immediate()
    first.execute("INSERT INTO t VALUES (1)")
    order: list[str] = []
    entered = threading.Event()

    def write() -> None:
        order.append("second waits")
        second.begin_immediate()
        order.append("second in")
        second.execute("INSERT INTO t VALUES (2)")
        second.commit()
        entered.set()

    thread = threading.Thread(target=write)
    thread.start()
    assert not entered.wait(0.2)  # still queued behind the first writer
    order.append(f"first {end}")
    getattr(first, end)()
    assert entered.wait(WAIT_S)
    thread.join(WAIT_S)
    assert order == ["second waits", f"first {end}", "second in"]
    rows = sorted(n for (n,) in first.execute("SELECT n FROM t"))
    assert rows == ([1, 2] if end == "commit" else [2])
    assert (tmp_path / "db.sqlite-writers").exists()
    first.close()
    second.close()


def test_a_second_writer_goes_in_when_the_first_commits(tmp_path: Path) -> None:
    _second_writer_waits_for("commit", tmp_path)


def test_a_rollback_hands_the_lock_on_too(tmp_path: Path) -> None:
    _second_writer_waits_for("rollback", tmp_path)


def test_a_connection_inherited_by_another_process_opens_its_own_lock(tmp_path: Path) -> None:
    conn = _connect(tmp_path / "db.sqlite")
    conn.begin_immediate()
    conn.commit()
    inherited_fd = conn._lock_fd
    conn._lock_pid = -1  # as if this process were a fork of the one that opened it
    conn.begin_immediate()
    try:
        assert conn._lock_pid == os.getpid() and conn._lock_fd != inherited_fd
    finally:
        conn.commit()
        os.close(inherited_fd)
        conn.close()


def test_an_in_memory_database_has_no_side_lock(tmp_path: Path) -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None, factory=QueuedWriterConnection)
    assert isinstance(conn, QueuedWriterConnection)
    conn.begin_immediate()
    conn.execute("CREATE TABLE t (n INTEGER)")
    conn.commit()
    assert conn._lock_fd == -1
    conn.close()
