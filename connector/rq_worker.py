"""`RunWorker`: RQ's non-forking `SimpleWorker` without the per-job Redis chatter we don't use.

A `SimpleWorker` makes about 20 Redis round trips per job (~90 µs of CPU each with redis-py
here, BENCHMARKS.md §1); this one makes 4 (dequeue, fetch, start, finish), because most of
them are bookkeeping this app doesn't use:

- a standalone worker heartbeat before each dequeue, after it and after the job, a state write
  (`idle`) that repeats the state already stored, and a suspension check before every dequeue.
  Our liveness signal is the heartbeat key of `workers.start_heartbeat` and the sweeper, not
  RQ's worker key, so the standalone heartbeat is sent at most every `HEARTBEAT_EVERY_S` (the
  worker key's TTL, worker_ttl + 60 s, stays far ahead) and `rq suspend` is seen within
  `SUSPENSION_CHECK_EVERY_S`. Heartbeats RQ sends inside its own transactions are kept.
- two transactions to start a job (the execution record, then the job's `started` state):
  here one, with the same commands.
- the job heartbeat written on its own right after the job returned, and a WATCH + SMEMBERS of
  the job's dependents before its success transaction. The outcome transaction follows at once
  and writes `ended_at`; no job of this app has dependents (`queueing.py` never passes
  `depends_on`) and none repeats, so the success transaction is RQ's without the dependents
  step, and it also stores the worker's `idle` state that RQ would write on its own after it.
- on success, RQ saves the whole job again (its payload re-compressed) and appends the return
  value to a results stream. A run's outcome lives in the database and nobody reads RQ
  results, so the job gets its `finished` status, `ended_at` and its place in the finished
  registry (what `rq info` and `queueing.job_exists` read), nothing more.

What stays as RQ does it: dequeueing, the execution and started registries (RQ's abandoned-job
handling reads them), job timeouts, and everything about a job that raised (its result and the
failed registry).
"""

from __future__ import annotations

import time
from typing import Any

from rq import SimpleWorker
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.rate_limit import release_slot
from rq.registry import StartedJobRegistry
from rq.utils import now, utcformat
from rq.worker.base import WorkerStatus


class RunWorker(SimpleWorker):
    HEARTBEAT_EVERY_S = 10.0
    SUSPENSION_CHECK_EVERY_S = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_beat_at = self._suspension_checked_at = float("-inf")
        self._prepared_job_id: str | None = None

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        now_s = time.monotonic()
        standalone = pipeline is None and timeout is None
        if standalone and now_s - self._last_beat_at < self.HEARTBEAT_EVERY_S:
            return
        self._last_beat_at = now_s
        super().heartbeat(timeout, pipeline)

    def set_state(self, state: str, pipeline: Any = None) -> None:
        if pipeline is None and state == getattr(self, "_state", None):
            return  # already stored: RQ writes `idle` before every dequeue
        super().set_state(state, pipeline)

    def check_for_suspension(self, burst: bool) -> None:
        now_s = time.monotonic()
        if now_s - self._suspension_checked_at < self.SUSPENSION_CHECK_EVERY_S:
            return
        self._suspension_checked_at = now_s
        super().check_for_suspension(burst)

    def prepare_execution(self, job: Job) -> Execution:
        """RQ's `prepare_execution` and `prepare_job_execution` in one transaction."""
        with self.connection.pipeline() as pipeline:
            heartbeat_ttl = self.get_heartbeat_ttl(job)
            execution = Execution.create(job, heartbeat_ttl, pipeline=pipeline,
                                         worker_name=self.name)
            self.executions[execution.id] = execution
            self.set_state(WorkerStatus.BUSY, pipeline=pipeline)
            self.heartbeat(heartbeat_ttl, pipeline=pipeline)
            job.heartbeat(now(), heartbeat_ttl, pipeline=pipeline)
            job.prepare_for_execution(self.name, pipeline=pipeline)
            pipeline.persist(job.key)
            if len(self.queues) == 1:
                pipeline.lrem(Queue(job.origin, connection=self.connection)
                              .intermediate_queue_key, 1, job.id)
            pipeline.execute()
        self._prepared_job_id = job.id
        return execution

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        if self._prepared_job_id == job.id:
            self._prepared_job_id = None  # done by `prepare_execution`, in its transaction
            return
        super().prepare_job_execution(job, remove_from_intermediate_queue)

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:
        job.ended_at = now()  # stored by the outcome's transaction, which follows at once

    def handle_job_success(self, job: Job, queue: Queue, started_job_registry: StartedJobRegistry,
                           execution: Execution) -> None:
        if job.repeats_left:
            super().handle_job_success(job, queue, started_job_registry, execution)
            return
        assert job.started_at is not None and job.ended_at is not None
        with self.connection.pipeline() as pipeline:
            self.increment_successful_job_count(pipeline=pipeline)
            self.increment_total_working_time(job.ended_at - job.started_at, pipeline)
            result_ttl = job.get_result_ttl(self.default_result_ttl)
            job.set_status(JobStatus.FINISHED, pipeline=pipeline)
            pipeline.hset(job.key, "ended_at", utcformat(job.ended_at))
            if result_ttl != 0:
                job.finished_job_registry.add(job, result_ttl, pipeline=pipeline)
            job.cleanup(result_ttl, pipeline=pipeline, remove_from_queue=False)
            job._status = JobStatus.FINISHED
            self.cleanup_execution(job, pipeline=pipeline, execution=execution)
            self.set_state(WorkerStatus.IDLE, pipeline=pipeline)
            pipeline.execute()
        release_slot(job)
