"""`RunWorker`: RQ's non-forking `SimpleWorker` without the per-job Redis chatter we don't use.

A `SimpleWorker` sends about 50 Redis commands per job; a third of them are worker
bookkeeping that only feeds `rq info` and `rq suspend`: a standalone heartbeat (3 commands)
before each dequeue, after it and after the job, a state write (`idle`) that repeats the state
already stored, and a suspension check before every dequeue. Our liveness signal is the
heartbeat key of `workers.start_heartbeat` and the sweeper, not RQ's worker key, so the
standalone heartbeat is sent at most every `HEARTBEAT_EVERY_S` (the worker key's TTL, worker_ttl
+ 60 s, stays far ahead) and `rq suspend` is seen within `SUSPENSION_CHECK_EVERY_S`. Heartbeats
that RQ sends inside its own transactions (with a job's timeout) are kept as they are.
"""

from __future__ import annotations

import time
from typing import Any

from rq import SimpleWorker


class RunWorker(SimpleWorker):
    HEARTBEAT_EVERY_S = 10.0
    SUSPENSION_CHECK_EVERY_S = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_beat_at = self._suspension_checked_at = float("-inf")

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        now = time.monotonic()
        standalone = pipeline is None and timeout is None
        if standalone and now - self._last_beat_at < self.HEARTBEAT_EVERY_S:
            return
        self._last_beat_at = now
        super().heartbeat(timeout, pipeline)

    def set_state(self, state: str, pipeline: Any = None) -> None:
        if pipeline is None and state == getattr(self, "_state", None):
            return  # already stored: RQ writes `idle` before every dequeue
        super().set_state(state, pipeline)

    def check_for_suspension(self, burst: bool) -> None:
        now = time.monotonic()
        if now - self._suspension_checked_at < self.SUSPENSION_CHECK_EVERY_S:
            return
        self._suspension_checked_at = now
        super().check_for_suspension(burst)
