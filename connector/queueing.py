"""RQ queues, named by latency (STYLE rule 14), and the enqueue helpers the API and jobs share."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

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


def queue(rt: Runtime, name: str) -> Queue:
    return Queue(name, connection=rt.redis)


def enqueue_run(rt: Runtime, run_id: str, job_id: str, queue_name: str = QUEUE_ACTIONS,
                delay_s: float = 0.0, *, notify: bool = False) -> None:
    """Enqueue `jobs.execute_run(run_id)`; the job id is the run id (plus an attempt suffix).
    `notify`: a `Prefer: wait` request waits for this run, so its end is signalled in Redis."""
    q = queue(rt, queue_name)
    options = {"job_id": job_id, "job_timeout": JOB_TIMEOUT_S, "result_ttl": RESULT_TTL_S,
               "failure_ttl": FAILURE_TTL_S, "description": f"execute_run {run_id}"}
    args = (run_id, True) if notify else (run_id,)
    if delay_s > 0:
        q.enqueue_in(timedelta(seconds=delay_s), "connector.jobs.execute_run", *args, **options)
    else:
        _enqueue_now(rt, q, "connector.jobs.execute_run", *args, **options)


def _enqueue_now(rt: Runtime, q: Queue, func: str, *args: Any, **options: Any) -> None:
    """`q.enqueue` in one Redis round trip: on its own RQ sends two transactions (the queue's
    name into the set of queues, then the job and its id on the queue); given a pipeline it
    adds both to it. Our jobs have no dependencies, so nothing in it needs a WATCH."""
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
