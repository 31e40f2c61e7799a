"""Submitting action runs, waiting for them, replaying them, and how a run is shown."""

from __future__ import annotations

import time
from typing import Any

from connector.catalog import validate_input
from connector.errors import Conflict, NotFound
from connector.queueing import QUEUE_ACTIONS
from connector.redis_keys import run_done_key
from connector.runtime import Runtime
from connector.services.accept import Acceptor, PendingRun
from connector.store import runs
from connector.store.group_commit import writer_for
from connector.store.models import Run
from connector.store.states import RunStatus

BLPOP_SLICE_S = 4.0
"""Longest single BLPOP of `wait_for`: under the Redis client's socket read timeout."""


def submit_action(rt: Runtime, workspace_id: str, connection_id: str, action_key: str,
                  data: dict[str, Any], *, queue: str = QUEUE_ACTIONS,
                  replay_of: str | None = None, notify: bool = False) -> Run:
    """Validate, store the run (committed: durable before we answer), then enqueue it; the
    calls of one process at the same moment share the transaction (`services/accept.py`).
    `notify`: the caller will `wait_for` the run, so its worker signals the end."""
    definition = rt.catalog.actions.get(action_key)
    if definition is None:
        raise NotFound(f"no action {action_key!r}; GET /v1/catalog/actions lists them")
    # The pure work first: on SQLite the transaction holds the database's one write lock,
    # which the workers' claims and settles wait for (BENCHMARKS.md §2).
    errors = validate_input(definition, data)
    run = runs.new_run(workspace_id=workspace_id, connection_id=connection_id,
                       action_key=action_key, data=data, queue=queue, replay_of=replay_of)
    return writer_for(rt, Acceptor).accept(PendingRun(run, definition, errors, notify))


def wait_for(rt: Runtime, run_id: str, wait_s: float) -> Run:
    """Block up to `wait_s` for the run to finish (woken by its worker: the run was submitted
    with `notify`), then read it. A run requeued by the sweeper lost that flag: the wait then
    runs its full length and answers the run as it stands."""
    if wait_s > 0:
        key = run_done_key(run_id)
        if not _is_terminal(rt, run_id):
            deadline = time.monotonic() + wait_s
            while (remaining := deadline - time.monotonic()) > 0:
                # In slices: redis-py 8 reads with a 5 s socket timeout by default, so one long
                # BLPOP would fail with TimeoutError instead of waiting.
                popped = rt.redis.blpop([key], timeout=min(remaining, BLPOP_SLICE_S))
                if popped is not None:
                    rt.redis.rpush(key, popped[1])  # leave the signal for any other waiter
                    break
    with rt.db.session() as session:
        run = session.get(Run, run_id)
    assert run is not None
    return run


def _is_terminal(rt: Runtime, run_id: str) -> bool:
    with rt.db.session() as session:
        run = session.get(Run, run_id)
    return run is not None and RunStatus(run.status).is_terminal


def replay(rt: Runtime, workspace_id: str, run_id: str) -> Run:
    """Explicitly run again a run that ended failed, dead or in_doubt (a new run, linked)."""
    with rt.db.session() as session:
        original = runs.get_run(session, workspace_id, run_id)
    if original is None:
        raise NotFound(f"no run {run_id!r} in this workspace")
    if original.status not in (RunStatus.FAILED.value, RunStatus.DEAD.value,
                               RunStatus.IN_DOUBT.value):
        raise Conflict(f"run {run_id!r} is {original.status}; only failed, dead or in_doubt "
                       "runs can be retried")
    return submit_action(rt, workspace_id, original.connection_id, original.action_key,
                         original.input, queue=original.queue, replay_of=original.id)


def run_view(run: Run, base_url: str = "") -> dict[str, Any]:
    return {
        "id": run.id,
        "url": f"{base_url}/v1/runs/{run.id}",
        "status": run.status,
        "action": run.action_key,
        "connection_id": run.connection_id,
        "input": run.input,
        "output": run.output,
        "error": run.error,
        # WhatsApp's later word on a sent message (status by rank, history): see triggers.
        "delivery": run.delivery,
        "attempt_count": len(run.attempts),
        "attempts": run.attempts,
        "replay_of": run.replay_of,
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "next_attempt_at": _iso(run.next_attempt_at),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
