"""The scheduler: APScheduler fires entries, and each fire only *enqueues* an RQ job.

Several scheduler processes may run (one per machine, or by mistake one per gunicorn worker);
each tick of an entry is claimed with `SET NX` on a key named by the entry and the tick, so
exactly one process enqueues it (reliability.md goal 14). Entries are data with ids hashed from
their definition (STYLE rule 16).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler
from rq import Queue

from connector.queueing import QUEUE_MAINTENANCE
from connector.redis_keys import PREFIX
from connector.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    func: str  # dotted path of the RQ job function
    interval_s: float
    queue: str = QUEUE_MAINTENANCE
    args: tuple[Any, ...] = field(default_factory=tuple)

    @property
    def id(self) -> str:
        spec = json.dumps([self.func, self.interval_s, self.queue, list(self.args)])
        return hashlib.sha256(spec.encode()).hexdigest()[:16]


def tick_key(entry_id: str, tick: int) -> str:
    return f"{PREFIX}tick:{entry_id}:{tick}"


def fire(rt: Runtime, entry: Entry, *, now: float | None = None) -> bool:
    """Enqueue the entry's job once for the current tick; False if another process did."""
    now = time.time() if now is None else now
    tick = math.floor(now / entry.interval_s)
    claimed = rt.redis.set(tick_key(entry.id, tick), "1", nx=True,
                           ex=max(int(entry.interval_s * 3), 10))
    if not claimed:
        return False
    Queue(entry.queue, connection=rt.redis).enqueue(
        entry.func, *entry.args, job_id=f"tick-{entry.id}-{tick}", result_ttl=60,
        failure_ttl=86400, description=f"scheduled {entry.func}")
    return True


def maintenance_entries(rt: Runtime) -> list[Entry]:
    return [Entry("connector.jobs.sweep_outbox", rt.settings.sweep_interval_s)]


# Each feature that schedules work adds one function here: (runtime) -> entries. The scheduler
# re-reads them every `RELOAD_INTERVAL_S`, so new subscriptions and syncs are picked up.
def _trigger_entries(rt: Runtime) -> list[Entry]:
    from connector.trigger_schedule import trigger_entries

    return trigger_entries(rt)


def _workflow_entries(rt: Runtime) -> list[Entry]:
    from connector.services.workflow_sweep import workflow_entries

    return workflow_entries(rt)


def _crm_sync_entries(rt: Runtime) -> list[Entry]:
    from connector.services.syncs import sync_entries

    return sync_entries(rt)


ENTRY_SOURCES: tuple[Callable[[Runtime], list[Entry]], ...] = (maintenance_entries,
                                                                _trigger_entries,
                                                                _workflow_entries,
                                                                _crm_sync_entries)
RELOAD_INTERVAL_S = 15.0


def default_entries(rt: Runtime) -> list[Entry]:
    return [entry for source in ENTRY_SOURCES for entry in source(rt)]


def sync_jobs(scheduler: Any, rt: Runtime,
              entries: Callable[[Runtime], list[Entry]] = default_entries) -> None:
    """Add entries that are new and remove those that are gone; ids are content hashes."""
    wanted = {entry.id: entry for entry in entries(rt)}
    for job in scheduler.get_jobs():
        if job.id != "reload" and job.id not in wanted:
            job.remove()
    for entry_id, entry in wanted.items():
        if scheduler.get_job(entry_id) is None:
            scheduler.add_job(fire, "interval", seconds=entry.interval_s, args=(rt, entry),
                              id=entry_id, coalesce=True, max_instances=1,
                              misfire_grace_time=None)


def run_scheduler(rt: Runtime, entries: Callable[[Runtime], list[Entry]] = default_entries) -> None:
    scheduler = BlockingScheduler(timezone="UTC")
    sync_jobs(scheduler, rt, entries)
    scheduler.add_job(sync_jobs, "interval", seconds=RELOAD_INTERVAL_S,
                      args=(scheduler, rt, entries), id="reload", coalesce=True, max_instances=1)
    log.info("scheduler.start", extra={"entries": len(scheduler.get_jobs())})
    scheduler.start()
