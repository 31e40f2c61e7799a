"""In-process measurement shared by the profile benches: drain the queues with a worker, and
time (optionally cProfile) a submit phase and a worker phase in CPU time."""

from __future__ import annotations

import cProfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from rq import SimpleWorker

from connector.queueing import QUEUES_BY_PRIORITY
from connector.rq_worker import RunWorker
from connector.runtime import Runtime


def drain(rt: Runtime, worker_class: type[SimpleWorker] = RunWorker) -> None:
    """Run every queued job in this process, as one `worker.py` process would, then return."""
    worker_class(list(QUEUES_BY_PRIORITY), connection=rt.redis).work(
        burst=True, with_scheduler=False, logging_level="WARNING")


@dataclass
class Phases:
    submit: cProfile.Profile
    work: cProfile.Profile
    submit_cpu_s: float
    work_cpu_s: float


def measure_phases(submit: Callable[[], None], work: Callable[[], None], *,
                   profile: bool) -> Phases:
    """CPU time of `submit()` then `work()`, each under its own cProfile when `profile`."""
    phases = Phases(cProfile.Profile(time.process_time), cProfile.Profile(time.process_time),
                    0.0, 0.0)
    t0 = time.process_time()
    if profile:
        phases.submit.enable()
    submit()
    phases.submit.disable()
    t1 = time.process_time()
    if profile:
        phases.work.enable()
    work()
    phases.work.disable()
    phases.submit_cpu_s, phases.work_cpu_s = t1 - t0, time.process_time() - t1
    return phases
