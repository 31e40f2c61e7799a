"""RQ queues, named by latency (STYLE rule 14), and the enqueue helpers the API and jobs share."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NamedTuple

from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

from connector.runtime import Runtime

QUEUE_ACTIONS = "actions"  # interactive calls, `Prefer: wait`
QUEUE_HOOKS = "hooks"  # REST-hook deliveries
QUEUE_SYNC = "sync"  # CRM syncs: below actions so they never starve interactive sends
QUEUE_MAINTENANCE = "maintenance"  # sweeps
QUEUES_BY_PRIORITY = (QUEUE_ACTIONS, QUEUE_HOOKS, QUEUE_SYNC, QUEUE_MAINTENANCE)

JOB_TIMEOUT_S = 300
RESULT_TTL_S = 60
FAILURE_TTL_S = 7 * 86400
EXECUTE_RUN = "connector.jobs.execute_run"


def queue(rt: Runtime, name: str) -> Queue:
    return Queue(name, connection=rt.redis)


class RunJob(NamedTuple):
    """An `execute_run` job to enqueue now (`enqueue_runs`)."""

    run_id: str
    job_id: str
    queue_name: str = QUEUE_ACTIONS
    notify: bool = False


def enqueue_run(rt: Runtime, run_id: str, job_id: str, queue_name: str = QUEUE_ACTIONS,
                delay_s: float = 0.0, *, notify: bool = False) -> None:
    """Enqueue `jobs.execute_run(run_id)`; the job id is the run id (plus an attempt suffix).
    `notify`: a `Prefer: wait` request waits for this run, so its end is signalled in Redis."""
    if delay_s > 0:
        q = queue(rt, queue_name)
        args = (run_id, True) if notify else (run_id,)
        q.enqueue_in(timedelta(seconds=delay_s), EXECUTE_RUN, *args, **_run_options(run_id, job_id))
    else:
        enqueue_runs(rt, [RunJob(run_id, job_id, queue_name, notify)])


def enqueue_runs(rt: Runtime, jobs: list[RunJob]) -> None:
    """`execute_run` jobs in one Redis round trip: on its own `q.enqueue` sends two
    transactions (the queue's name into the set of queues, then the job and its id on the
    queue); given a pipeline it adds both to it. Our jobs have no dependencies, so nothing in
    it needs a WATCH."""
    if not jobs:
        return
    queues = {name: queue(rt, name) for name in {job.queue_name for job in jobs}}
    with rt.redis.pipeline() as pipe:
        for job in jobs:
            args = (job.run_id, True) if job.notify else (job.run_id,)
            queues[job.queue_name].enqueue(EXECUTE_RUN, *args, pipeline=pipe,
                                           **_run_options(job.run_id, job.job_id))
        pipe.execute()


def _run_options(run_id: str, job_id: str) -> dict[str, Any]:
    return {"job_id": job_id, "job_timeout": JOB_TIMEOUT_S, "result_ttl": RESULT_TTL_S,
            "failure_ttl": FAILURE_TTL_S, "description": f"execute_run {run_id}"}


def _enqueue_now(rt: Runtime, q: Queue, func: str, *args: Any, **options: Any) -> None:
    """`q.enqueue` in one Redis round trip (see `enqueue_runs`)."""
    with rt.redis.pipeline() as pipe:
        q.enqueue(func, *args, pipeline=pipe, **options)
        pipe.execute()


def job_exists(rt: Runtime, job_id: str) -> bool:
    try:
        job = Job.fetch(job_id, connection=rt.redis)
    except NoSuchJobError:
        return False
    return job.get_status(refresh=False) not in ("finished", "failed", "canceled", "stopped")


def enqueue_delivery(rt: Runtime, delivery_id: str, job_id: str, delay_s: float = 0.0) -> None:
    """Enqueue `jobs.deliver_hook(delivery_id)` on the hooks queue; the job id is the delivery
    id (suffixed per retry), so the outbox sweep can tell whether its job still exists."""
    q = queue(rt, QUEUE_HOOKS)
    options = {"job_id": job_id, "job_timeout": JOB_TIMEOUT_S, "result_ttl": RESULT_TTL_S,
               "failure_ttl": FAILURE_TTL_S, "description": f"deliver_hook {delivery_id}"}
    if delay_s > 0:
        q.enqueue_in(timedelta(seconds=delay_s), "connector.jobs.deliver_hook", delivery_id,
                     **options)
    else:
        _enqueue_now(rt, q, "connector.jobs.deliver_hook", delivery_id, **options)


def enqueue_sync_run(rt: Runtime, run_id: str) -> None:
    """Enqueue `jobs.run_sync(run_id)` on the sync queue (below actions); job id = run id."""
    queue(rt, QUEUE_SYNC).enqueue(
        "connector.jobs.run_sync", run_id, job_id=run_id,
        job_timeout=rt.settings.sync_job_timeout_s, result_ttl=RESULT_TTL_S,
        failure_ttl=FAILURE_TTL_S, description=f"run_sync {run_id}")
