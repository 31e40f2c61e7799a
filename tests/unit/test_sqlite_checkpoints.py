"""WAL checkpoints run in a background thread (`store/sqlite_checkpoints.py`), not inside the
commit that grows the log past SQLite's default 1,000 pages."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from connector.store.db import Database
from connector.store.sqlite_checkpoints import SAFETY_NET_PAGES, Checkpointer

PAGE = 4096
WAIT_S = 15.0


def _fill(db: Database, pages: int) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS blobs (b BLOB)"))
    for _ in range(pages // 50):
        with db.engine.begin() as conn:  # one commit per 50 pages of rows
            conn.execute(text("INSERT INTO blobs VALUES (:b)"), [{"b": b"x" * PAGE}] * 50)


def test_commits_leave_the_log_to_the_checkpointer(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    db = Database(f"sqlite:///{path}")
    assert db._checkpointer is not None
    db._checkpointer.stop()  # nobody checkpoints now, but the commits themselves
    with db.engine.connect() as conn:
        limit = conn.execute(text("PRAGMA wal_autocheckpoint")).scalar()
    assert limit == SAFETY_NET_PAGES
    _fill(db, 1500)
    wal = Path(f"{path}-wal")
    assert wal.stat().st_size > 1200 * PAGE, "a commit past 1,000 pages did not checkpoint"
    checkpointer = Checkpointer(str(path), interval_s=0.05).start()
    try:
        deadline = time.monotonic() + WAIT_S
        while checkpointer.last is None or checkpointer.last[1] < checkpointer.last[0] \
                or checkpointer.last[0] < 1200:
            assert time.monotonic() < deadline, f"no full checkpoint: {checkpointer.last}"
            time.sleep(0.05)
    finally:
        checkpointer.stop()
        db.dispose()


def test_the_checkpointer_ends_when_its_database_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "gone.sqlite"
    db = Database(f"sqlite:///{path}")
    _fill(db, 50)
    db.engine.dispose()
    checkpointer = Checkpointer(str(path), interval_s=0.02).start()
    for suffix in ("", "-wal", "-shm", "-writers"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    checkpointer._thread.join(WAIT_S)
    assert not checkpointer._thread.is_alive()
    db.dispose()
