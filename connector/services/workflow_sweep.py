"""Workflow upkeep: the scheduler entries (sweep, schedules) and the sweep itself.

The sweep is the outbox of workflow runs: a run whose job was lost (Redis down at ingest) or
whose current step was finished by a plain `execute_run` job (the runs outbox re-enqueued it)
is advanced again; advancing is re-entrant, so an extra advance is harmless. It also deletes
raw submissions and run trigger data past retention.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from connector.runtime import Runtime
from connector.services.workflows import enqueue_advance
from connector.store.models import Run
from connector.store.workflow_models import Workflow, WorkflowEvent, WorkflowRun

if TYPE_CHECKING:
    from connector.scheduler import Entry

log = logging.getLogger(__name__)
SWEEP_BATCH = 500


def workflow_entries(rt: Runtime) -> list[Entry]:
    from connector.queueing import QUEUE_ACTIONS
    from connector.scheduler import Entry

    entries = [Entry("connector.jobs.sweep_workflows", rt.settings.sweep_interval_s)]
    with rt.db.session() as session:
        scheduled = session.scalars(select(Workflow).where(
            Workflow.trigger_kind == "schedule", Workflow.active.is_(True))).all()
    for workflow in scheduled:
        interval = float(workflow.definition["trigger"]["interval_s"])
        entries.append(Entry("connector.jobs.start_scheduled_workflow", interval,
                             queue=QUEUE_ACTIONS, args=(workflow.id, interval)))
    return entries


def sweep(rt: Runtime, *, now: datetime | None = None) -> dict[str, int]:
    now = now or datetime.now(UTC)
    stale = now - timedelta(seconds=rt.settings.workflow_sweep_stale_s)
    advanced = 0
    with rt.db.session() as session:
        candidates = list(session.scalars(select(WorkflowRun).where(
            WorkflowRun.status.in_(("queued", "running")), WorkflowRun.updated_at < stale)
            .limit(SWEEP_BATCH)))
        child_ids = [_current_child(r) for r in candidates]
        children = {r.id: r.status for r in session.scalars(
            select(Run).where(Run.id.in_([c for c in child_ids if c])))}
    for wf_run, child_id in zip(candidates, child_ids, strict=True):
        # A step in progress belongs to its run's own job (or the runs outbox); wait for it.
        if child_id and children.get(child_id) in ("queued", "running"):
            continue
        enqueue_advance(rt, wf_run.id, f"{wf_run.id}-sweep-{int(now.timestamp())}")
        advanced += 1
    with rt.db.session() as session:
        purged = session.execute(update(WorkflowEvent).where(
            WorkflowEvent.expires_at < now, WorkflowEvent.body_encrypted.is_not(None))
            .values(body_encrypted=None)).rowcount  # type: ignore[attr-defined]
        session.execute(update(WorkflowRun).where(
            WorkflowRun.finished_at < now - timedelta(seconds=rt.settings.workflow_retention_s),
            WorkflowRun.trigger_encrypted.is_not(None)).values(trigger_encrypted=None))
    if advanced or purged:
        log.info("workflow.sweep", extra={"advanced": advanced, "purged": purged})
    return {"advanced": advanced, "purged": purged}


def _current_child(wf_run: WorkflowRun) -> str | None:
    if wf_run.step_index < len(wf_run.steps):
        run_id = (wf_run.steps[wf_run.step_index] or {}).get("run_id")
        return str(run_id) if run_id else None
    return None
