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


def execute_run(run_id: str) -> str | None:
    rt = current_runtime()
    decision = Runner(rt, worker_id()).execute(run_id)
    if decision is None:
        return None
    if decision.status is RunStatus.QUEUED and decision.job_id:
        enqueue_run(rt, run_id, decision.job_id, decision.queue, decision.delay_s)
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
