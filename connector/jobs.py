"""RQ job functions: thin, named verb_noun, ids only (STYLE rule 13).

Each loads what it needs through the process runtime, calls the engine and turns the engine's
decision into the next RQ job. RQ imports them by dotted path.
"""

from __future__ import annotations

import os
import socket

from connector.config import Settings
from connector.engine.runner import Runner
from connector.engine.sweeper import SweepReport, sweep
from connector.queueing import enqueue_run, job_exists
from connector.runtime import Runtime
from connector.store.models import Run
from connector.store.states import RunStatus

_runtime: Runtime | None = None


def bind_runtime(runtime: Runtime) -> None:
    """Workers and tests give the jobs their runtime; otherwise one is built from the env."""
    global _runtime
    _runtime = runtime


def current_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime(Settings.from_env())
    return _runtime


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def execute_run(run_id: str, notify: bool = False) -> str | None:
    rt = current_runtime()
    decision = Runner(rt, worker_id()).execute(run_id, notify=notify)
    if decision is None:
        return None
    if decision.status is RunStatus.QUEUED and decision.job_id:
        enqueue_run(rt, run_id, decision.job_id, decision.queue, decision.delay_s, notify=notify)
    return decision.status.value


def sweep_outbox() -> dict[str, int]:
    rt = current_runtime()
    report: SweepReport = sweep(
        rt, job_exists=lambda job_id: job_exists(rt, job_id),
        enqueue=lambda run: _requeue(rt, run))
    return {"requeued": len(report.requeued), "in_doubt": len(report.in_doubt),
            "dead": len(report.dead), "reenqueued": len(report.reenqueued)}


def _requeue(rt: Runtime, run: Run) -> None:
    if run.job_id:
        enqueue_run(rt, run.id, run.job_id, run.queue)


def poll_trigger(connection_id: str, trigger_key: str) -> dict[str, object]:
    """Poll one (connection, poll trigger); REST-hook deliveries are enqueued for new items."""
    from connector.services.trigger_work import poll_once

    result = poll_once(current_runtime(), connection_id, trigger_key)
    return {"status": result.status, "new_items": result.new_items, "requests": result.requests}


def deliver_hook(delivery_id: str) -> int:
    """Deliver the hook of `delivery_id` (its due deliveries, in item order); returns retries."""
    from connector.services.trigger_work import deliver

    return deliver(current_runtime(), delivery_id, worker_id())


def sweep_hook_deliveries() -> dict[str, int]:
    from connector.services.trigger_work import sweep as sweep_triggers

    return sweep_triggers(current_runtime())


def advance_workflow(workflow_run_id: str) -> str | None:
    """Run a workflow run's steps in order; a retried step comes back here after its wait."""
    from connector.engine.workflow_runner import WorkflowRunner
    from connector.services.workflows import enqueue_advance

    rt = current_runtime()
    decision = WorkflowRunner(rt, worker_id()).advance(workflow_run_id)
    if decision is not None:
        enqueue_advance(rt, workflow_run_id, decision.job_id, decision.delay_s)
        return "queued"
    return None


def forward_workflow_runs() -> int:
    """Give the runs stored by form hooks (the workflow inbox) their advance jobs."""
    from connector.services.intake import forward

    return forward(current_runtime())


def start_scheduled_workflow(workflow_id: str, interval_s: float) -> str | None:
    import time

    from connector.services.workflows import start_scheduled

    return start_scheduled(current_runtime(), workflow_id, tick=int(time.time() // interval_s))


def sweep_workflows() -> dict[str, int]:
    """Outbox for workflow runs (a lost job, a step finished by a plain run job) and retention."""
    from connector.services.workflow_sweep import sweep

    return sweep(current_runtime())


def run_sync(sync_run_id: str) -> str | None:
    """Run one sync run page by page (connector/sync/runner.py); resumable from saved state."""
    from connector.sync.runner import SyncRunner

    return SyncRunner(current_runtime(), worker_id()).execute(sync_run_id)


def schedule_sync(sync_id: str) -> str | None:
    """A scheduler tick for one sync: start a run unless one is active (ticks coalesce)."""
    from connector.services.syncs import scheduled_tick

    return scheduled_tick(current_runtime(), sync_id)
