"""WAL checkpoints for a SQLite file, from a background thread instead of inside a commit.

By default SQLite checkpoints (copies the write-ahead log back into the database file and
syncs it) inside the COMMIT that takes the log past 1,000 pages, so one request in a
thousand pays for the copy, 10-60 ms here, and with the write lock handed on only when
COMMIT returns, every other writer waits with it: at 500 form submissions a second that was
the p99 (BENCHMARKS.md, form intake). Here commits leave the log alone until it is far larger
(`SAFETY_NET_PAGES`, in case this thread falls behind or is not running), and a thread of each
process runs a PASSIVE checkpoint every `interval_s`: it copies what no reader still needs,
blocks no reader or writer, and sleeps without the GIL while it syncs.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_S = 0.5
SAFETY_NET_PAGES = 20_000
"""`wal_autocheckpoint` of ordinary connections: a commit checkpoints only past ~80 MB."""
JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
"""After a checkpoint that restarted the log, the file is truncated back to this size."""


class Checkpointer:
    def __init__(self, path: str, interval_s: float = CHECKPOINT_INTERVAL_S) -> None:
        self.path, self.interval_s = path, interval_s
        self._stop = threading.Event()
        self.last: tuple[int, int] | None = None
        """(frames in the log, frames checkpointed) as of the last checkpoint."""
        self._thread = threading.Thread(target=self._run, name=f"wal-checkpoint:{path}",
                                        daemon=True)

    def start(self) -> Checkpointer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        busy, frames, checkpointed = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if not busy:
            self.last = (frames, checkpointed)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(self.interval_s):
                if not Path(self.path).exists():
                    return  # the database is gone (a test's temporary file)
                try:
                    if conn is None:
                        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None,
                                               check_same_thread=False)
                    self.checkpoint(conn)
                except sqlite3.Error as error:  # busy with another process's checkpoint
                    log.debug("sqlite.checkpoint_skipped", extra={"reason": str(error)})
        finally:
            if conn is not None:
                conn.close()
