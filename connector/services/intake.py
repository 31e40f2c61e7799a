"""Group commit of workflow events: each event (and its run) is committed and its run pushed
to the workflow inbox in Redis before the caller returns, and the events that arrive in one
process while a write is in progress share the next transaction and the next Redis round trip.
A forwarder job (`forward`) gives the inbox's runs their RQ jobs, many per pipeline: creating
an RQ job costs the hook more than the rest of its Redis work (reliability.md §7.6,
accept-then-batch). Runs lost with Redis are advanced by the workflow sweep (DB outbox).

The batching itself is `store.group_commit.GroupCommit`.

The transaction re-reads each event's workflow: an event whose workflow was edited, or whose
hook was rotated, since the caller read it is refused with `WorkflowChanged` (the caller looks
the workflow up again). So a cached hook lookup is only a hint; the transaction decides.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from rq import Queue
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from connector.queueing import QUEUE_ACTIONS, queue
from connector.redis_keys import (
    WORKFLOW_FORWARDER_TTL_S,
    workflow_forwarder_key,
    workflow_inbox_key,
)
from connector.runtime import Runtime
from connector.store.group_commit import GroupCommit, writer_for
from connector.store.workflow_models import Workflow, WorkflowEvent, WorkflowRun

log = logging.getLogger(__name__)

ADVANCE_JOB = "connector.jobs.advance_workflow"
FORWARD_JOB = "connector.jobs.forward_workflow_runs"
FORWARD_BATCH = 500
JOB_TIMEOUT_S = 600
JOB_RESULT_TTL_S = 60
JOB_FAILURE_TTL_S = 7 * 86400
MAX_BATCH = 256
"""Events written in one transaction at most; the rest wait for the next."""


class WorkflowChanged(Exception):
    """The workflow was edited, or its hook rotated, after the caller read it."""


@dataclass(frozen=True)
class Stored:
    event_id: str
    # The new run; for a duplicate, the run of the event stored first (None: none started).
    run_id: str | None
    duplicate: bool


@dataclass
class Pending:
    """One event to store: its row, its run's row (None: the workflow is paused), and what the
    caller believed about the workflow (None: nothing to check)."""

    workflow_id: str
    event: dict[str, Any]
    run: dict[str, Any] | None
    version: int | None = None
    token_hash: str | None = None
    done: bool = False
    result: Stored | BaseException | None = field(default=None, repr=False)


def advance_job_data(wf_run_id: str, job_id: str | None = None) -> Any:
    """RQ's enqueue data for `jobs.advance_workflow(wf_run_id)`; the job id is the run id."""
    return Queue.prepare_data(ADVANCE_JOB, args=(wf_run_id,), timeout=JOB_TIMEOUT_S,
                              result_ttl=JOB_RESULT_TTL_S, failure_ttl=JOB_FAILURE_TTL_S,
                              description=f"advance_workflow {wf_run_id}",
                              job_id=job_id or wf_run_id)


class Intake:
    """The group-commit writer of one process (one per runtime: `intake_for`)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._group: GroupCommit[Pending] = GroupCommit(self._write, MAX_BATCH)

    def store(self, item: Pending) -> Stored:
        """Commit `item` (with whatever else is waiting) and push its run to the inbox.

        Raises:
            WorkflowChanged: the workflow changed since the caller read it; nothing stored.
        """
        stored: Stored = self._group.submit(item)
        return stored

    def _write(self, batch: list[Pending]) -> None:
        try:
            with self.rt.db.engine.begin() as conn:
                fresh = self._check(conn, batch)
                _insert(conn, fresh)
        except IntegrityError:
            # A duplicate (same dedupe key) in the batch: store one by one to find it.
            fresh = [item for item in batch if not item.done]
            for item in fresh:
                self._write_one(item)
        self._enqueue([item for item in fresh if not item.done and item.run is not None])
        for item in fresh:
            if not item.done:
                run_id = item.run["id"] if item.run is not None else None
                item.result, item.done = Stored(item.event["id"], run_id, False), True

    def _check(self, conn: Connection, batch: list[Pending]) -> list[Pending]:
        """The items whose workflow is as their caller saw it; the others get WorkflowChanged."""
        checked = [item for item in batch if item.version is not None]
        if not checked:
            return batch
        rows = {row.id: row for row in conn.execute(
            _CHECK, {"ids": sorted({item.workflow_id for item in checked})})}
        fresh = []
        for item in batch:
            row = rows.get(item.workflow_id)
            if item.version is not None and (row is None or row.version != item.version or (
                    item.token_hash is not None and row.hook_token_hash != item.token_hash)):
                item.result, item.done = WorkflowChanged(item.workflow_id), True
            else:
                fresh.append(item)
        return fresh

    def _write_one(self, item: Pending) -> None:
        try:
            with self.rt.db.engine.begin() as conn:
                if self._check(conn, [item]):
                    _insert(conn, [item])
        except IntegrityError:
            with self.rt.db.engine.begin() as conn:
                where = (WorkflowEvent.workflow_id == item.workflow_id,
                         WorkflowEvent.dedupe_key == item.event["dedupe_key"])
                conn.execute(update(WorkflowEvent).where(*where)
                             .values(duplicates=WorkflowEvent.duplicates + 1))
                existing = conn.execute(select(WorkflowEvent.id, WorkflowEvent.last_run_id)
                                        .where(*where)).one()
            item.result, item.done = Stored(existing.id, existing.last_run_id, True), True

    def _enqueue(self, items: list[Pending]) -> None:
        """One Redis round trip: the runs go to the inbox, and a forwarder job is enqueued when
        none is on its way (`forward`)."""
        run_ids = [item.run["id"] for item in items if item.run is not None]
        if not run_ids:
            return
        try:
            with self.rt.redis.pipeline(transaction=False) as pipe:
                pipe.rpush(workflow_inbox_key(), *run_ids)
                pipe.set(workflow_forwarder_key(), 1, nx=True, ex=WORKFLOW_FORWARDER_TTL_S)
                _, no_forwarder = pipe.execute()
            if no_forwarder:
                queue(self.rt, QUEUE_ACTIONS).enqueue(
                    FORWARD_JOB, at_front=True, job_timeout=JOB_TIMEOUT_S,
                    result_ttl=JOB_RESULT_TTL_S, failure_ttl=JOB_FAILURE_TTL_S,
                    description="forward_workflow_runs")
        except Exception:  # noqa: BLE001 - Redis down: the rows are durable, the sweep runs them
            log.warning("workflow_run.enqueue_deferred", extra={"workflow_run_ids": run_ids},
                        exc_info=True)


def forward(rt: Runtime) -> int:
    """The forwarder job: give every run in the inbox its `advance_workflow` job, in batches
    of `FORWARD_BATCH` (one pipeline each); returns how many.

    Ending is a handshake with `_enqueue`: drop the mark, then look once more; a run pushed
    meanwhile is either seen here or its pusher finds no mark and enqueues a new forwarder.
    """
    forwarded = 0
    inbox, mark = workflow_inbox_key(), workflow_forwarder_key()
    q = queue(rt, QUEUE_ACTIONS)
    while True:
        raw = rt.redis.lpop(inbox, FORWARD_BATCH)
        if raw:
            run_ids = [r.decode() if isinstance(r, bytes) else str(r) for r in raw]
            with rt.redis.pipeline() as pipe:
                q.enqueue_many([advance_job_data(run_id) for run_id in run_ids], pipeline=pipe)
                pipe.expire(mark, WORKFLOW_FORWARDER_TTL_S)
                pipe.execute()
            forwarded += len(run_ids)
            continue
        rt.redis.delete(mark)
        if not rt.redis.llen(inbox) or not rt.redis.set(mark, 1, nx=True,
                                                         ex=WORKFLOW_FORWARDER_TTL_S):
            return forwarded


# Built once: constructing and hashing a statement costs more than running it on SQLite.
_CHECK = select(Workflow.id, Workflow.version, Workflow.hook_token_hash).where(
    Workflow.id.in_(bindparam("ids", expanding=True)))
_INSERT_EVENTS = insert(WorkflowEvent.__table__)
_INSERT_RUNS = insert(WorkflowRun.__table__)


def _insert(conn: Connection, items: list[Pending]) -> None:
    if not items:
        return
    conn.execute(_INSERT_EVENTS, [item.event for item in items])
    runs = [item.run for item in items if item.run is not None]
    if runs:
        conn.execute(_INSERT_RUNS, runs)


def intake_for(rt: Runtime) -> Intake:
    return writer_for(rt, Intake)
