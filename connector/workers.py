"""Worker processes: N non-forking RQ workers sharing Redis, each with a liveness heartbeat.

Why `SimpleWorker` (our lean `rq_worker.RunWorker`) × N processes rather than RQ's forking
`Worker`: a fork per job costs about 12 ms of CPU on this machine size (reliability.md §7.3),
more than the whole budget of an action, and a fresh horse can't reuse keep-alive connections
to the tenant. Crash isolation is kept by processes, and a crashed run is decided by our sweeper
(engine/sweeper.py) from the heartbeat key below within ~25 s instead of RQ's minutes.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence

from rq.scheduler import RQScheduler

from connector import jobs
from connector.config import Settings
from connector.heap import freeze_startup_heap
from connector.queueing import QUEUES_BY_PRIORITY
from connector.redis_keys import worker_heartbeat_key
from connector.rq_worker import RunWorker
from connector.runtime import Runtime

log = logging.getLogger(__name__)


def start_heartbeat(rt: Runtime, worker_id: str) -> threading.Event:
    """Refresh this process's heartbeat key until the returned event is set."""
    stop = threading.Event()
    key = worker_heartbeat_key(worker_id)
    ttl_s = rt.settings.worker_heartbeat_ttl_s
    rt.redis.set(key, "1", ex=ttl_s)

    def beat() -> None:
        while not stop.wait(ttl_s / 3):
            rt.redis.set(key, "1", ex=ttl_s)
        rt.redis.delete(key)

    threading.Thread(target=beat, name="heartbeat", daemon=True).start()
    return stop


def watch_parent(interval_s: float = 1.0) -> None:
    """Warm-stop this worker (SIGTERM to itself) once the pool that started it is gone."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def run_worker(settings: Settings, queues: Sequence[str] = QUEUES_BY_PRIORITY,
               *, burst: bool = False, with_scheduler: bool = True,
               pool_child: bool = False) -> None:
    """One worker process: bind the runtime, warm the catalog, beat, and work."""
    if pool_child:
        watch_parent()
    rt = Runtime(settings)
    jobs.bind_runtime(rt)
    rt.catalog  # noqa: B018 - load and validate definitions before taking jobs
    freeze_startup_heap()
    stop = start_heartbeat(rt, jobs.worker_id())
    try:
        worker = RunWorker(list(queues), connection=rt.redis, name=jobs.worker_id())
        worker.work(burst=burst, with_scheduler=with_scheduler, logging_level="WARNING")
    finally:
        stop.set()
        rt.close()


def run_rq_scheduler(settings: Settings, queues: Sequence[str] = QUEUES_BY_PRIORITY) -> None:
    """The pool's one RQ scheduler process (moves due retries and throttled runs to their queue).

    RQ would fork one from every worker instead; a SIGKILLed worker then leaves that fork
    orphaned and running forever. Owned by the pool, it is supervised and exits with it.
    """
    watch_parent()
    rt = Runtime(settings)
    try:
        RQScheduler(list(queues), connection=rt.redis).work()
    finally:
        rt.close()


def run_pool(settings: Settings, processes: int,
             queues: Sequence[str] = QUEUES_BY_PRIORITY, *, exit_with_parent: bool = False) -> None:
    """Start `processes` workers and restart any that dies, until SIGTERM/SIGINT.

    With `exit_with_parent`, the pool also stops when the process that started it is gone
    (tests and `make run` use it, so a killed parent leaves no workers behind).
    """
    parent = os.getppid()
    context = multiprocessing.get_context("spawn")
    children: list[multiprocessing.process.BaseProcess] = []
    stopping = threading.Event()

    def spawn(index: int) -> multiprocessing.process.BaseProcess:
        if index == 0:
            child = context.Process(target=run_rq_scheduler, args=(settings, tuple(queues)))
        else:
            child = context.Process(target=run_worker, args=(settings, tuple(queues)),
                                    kwargs={"pool_child": True, "with_scheduler": False})
        child.start()
        return child

    def shutdown(signum: int, _frame: object) -> None:
        stopping.set()
        for child in children:
            if child.is_alive():
                child.terminate()  # SIGTERM: RQ's warm shutdown finishes the current job

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    children.extend(spawn(index) for index in range(processes + 1))
    while not stopping.wait(1.0):
        if exit_with_parent and os.getppid() != parent:
            shutdown(signal.SIGTERM, None)
            break
        for index, child in enumerate(children):
            if not child.is_alive():
                log.warning("worker.restart", extra={"pid": child.pid, "code": child.exitcode})
                children[index] = spawn(index)
    for child in children:
        child.join(timeout=30)
