"""The sweeper: ends or requeues runs whose worker died, and re-enqueues runs whose job is gone.

RQ notices a dead worker only after its heartbeat TTL and a maintenance pass (minutes, see
reliability.md §1.1). Our workers keep a 15 s heartbeat key instead, so a run stuck in
`running` is decided within one sweep interval after that: requeued when nothing may have
reached the upstream, `in_doubt` when a send may have (DESIGN.md: never resend automatically).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from connector.redis_keys import worker_heartbeat_key
from connector.runtime import Runtime
from connector.store import runs
from connector.store.models import Run
from connector.store.states import RunStatus

log = logging.getLogger(__name__)

@dataclass
class SweepReport:
    requeued: list[str] = field(default_factory=list)
    in_doubt: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    reenqueued: list[str] = field(default_factory=list)


def sweep(rt: Runtime, *, job_exists: Callable[[str], bool],
          enqueue: Callable[[Run], None], now: datetime | None = None) -> SweepReport:
    now = now or datetime.now(UTC)
    report = SweepReport()
    with rt.db.session() as session:
        running = runs.running_runs(session)
        stale_queued = runs.queued_runs_due(
            session, older_than=now - timedelta(seconds=rt.settings.outbox_grace_s))
    for run in running:
        if run.worker_id and rt.redis.exists(worker_heartbeat_key(run.worker_id)):
            continue
        _abandon(rt, run, report, now, enqueue)
    for run in stale_queued:
        if run.job_id and not job_exists(run.job_id):
            enqueue(run)
            report.reenqueued.append(run.id)
    if report.requeued or report.in_doubt or report.dead or report.reenqueued:
        log.info("sweep.done", extra={"requeued": len(report.requeued),
                                      "in_doubt": len(report.in_doubt), "dead": len(report.dead),
                                      "reenqueued": len(report.reenqueued)})
    return report


def _abandon(rt: Runtime, run: Run, report: SweepReport, now: datetime,
             enqueue: Callable[[Run], None]) -> None:
    settled = abandon(rt, run, now, cause="the worker died")
    if settled is None:
        return
    status, moved = settled
    if status is RunStatus.QUEUED:
        enqueue(moved)
        report.requeued.append(run.id)
    else:
        (report.in_doubt if status is RunStatus.IN_DOUBT else report.dead).append(run.id)


def abandon(rt: Runtime, run: Run, now: datetime, *,
            cause: str) -> tuple[RunStatus, Run] | None:
    """End or requeue a `running` run that nobody executes any more (`cause` says why, for its
    attempt record): in_doubt when an at-most-once write may have left, dead when it has no
    attempts left, else queued (the caller gives it a job). None when it moved meanwhile."""
    definition = rt.catalog.actions.get(run.action_key)
    strategy = definition.idempotency if definition is not None else "at_most_once"
    may_have_sent = run.phase == "writing"
    at_most_once = strategy == "at_most_once"
    if may_have_sent and at_most_once:
        status, message = RunStatus.IN_DOUBT, (
            f"{cause} after the request may have reached the upstream; "
            "check the tenant, then replay the run if the message was not sent")
    elif run.attempt_count >= rt.settings.retry_max_attempts:
        status, message = RunStatus.DEAD, f"{cause} and the run has no attempts left"
    elif at_most_once:
        status, message = RunStatus.QUEUED, f"{cause} before anything reached the upstream"
    else:
        status, message = RunStatus.QUEUED, (
            f"{cause}; {run.action_key!r} is safe to repeat ({strategy.replace('_', '-')}), "
            "so it runs again")
    record: dict[str, object] = {"n": run.attempt_count, "worker_id": run.worker_id,
              "started_at": run.started_at.isoformat() if run.started_at else None,
              "finished_at": now.isoformat(),
              "outcome": {"kind": "abandoned", "message": message}, "exchanges": []}
    error = None if status is RunStatus.QUEUED else {"kind": "abandoned", "message": message}
    settled = runs.abandon(rt.db, run.id, run.attempt_count, status, record, error)
    if settled is None:
        return None
    if status is not RunStatus.QUEUED:
        from connector.engine.runner import signal_done

        signal_done(rt, run.id, status)
    return status, settled
