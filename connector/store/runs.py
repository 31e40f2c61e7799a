"""Run rows: creation, the atomic claim, fenced finishes, and listing.

Every state change is conditional on the state (and, while running, on the attempt number) the
caller saw, so two processes that disagree about a run can't both move it (fencing by attempt).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connector.ids import new_id
from connector.store.db import Database
from connector.store.models import Connection, Run, utcnow
from connector.store.paging import newest_first
from connector.store.states import RunStatus, check_transition


def create_run(session: Session, *, workspace_id: str, connection_id: str, action_key: str,
               data: dict[str, Any], queue: str, replay_of: str | None = None) -> Run:
    run = Run(id=new_id("run"), workspace_id=workspace_id, connection_id=connection_id,
              action_key=action_key, input=data, status=RunStatus.QUEUED.value, queue=queue,
              replay_of=replay_of, attempts=[])
    run.job_id = job_id_for(run.id, 1)
    session.add(run)
    return run


def job_id_for(run_id: str, attempt: int) -> str:
    """RQ job id of an attempt: the run id, suffixed so a retry never overwrites a live job."""
    return run_id if attempt <= 1 else f"{run_id}-{attempt}"


def claim(db: Database, run_id: str, worker_id: str) -> Run | None:
    """queued -> running, atomically; None when someone else has it or it is not queued."""
    claimed = claim_with_connection(db, run_id, worker_id)
    return None if claimed is None else claimed[0]


def claim_with_connection(db: Database, run_id: str,
                          worker_id: str) -> tuple[Run, Connection] | None:
    """`claim`, plus the run's connection read in the same transaction.

    One UPDATE ... RETURNING (SQLite >= 3.35, PostgreSQL) instead of an UPDATE and a SELECT, and
    one transaction instead of two: the worker's per-action CPU (BENCHMARKS.md, overhead).
    """
    with db.session() as session:
        run = session.execute(
            update(Run)
            .where(Run.id == run_id, Run.status == RunStatus.QUEUED.value)
            .values(status=RunStatus.RUNNING.value, worker_id=worker_id, phase="preparing",
                    started_at=utcnow(), attempt_count=Run.attempt_count + 1,
                    next_attempt_at=None)
            .returning(Run)
        ).scalar_one_or_none()
        if run is None:
            return None
        connection = session.get(Connection, run.connection_id)
        assert connection is not None  # a foreign key guarantees it
        return run, connection


def mark_writing(db: Database, run_id: str, attempt: int) -> None:
    """Record, before the request leaves, that a side-effect write may reach the upstream."""
    with db.session() as session:
        session.execute(
            update(Run)
            .where(Run.id == run_id, Run.status == RunStatus.RUNNING.value,
                   Run.attempt_count == attempt)
            .values(phase="writing")
        )


@dataclass(frozen=True)
class AttemptResult:
    status: RunStatus
    attempt_record: dict[str, Any]
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    next_attempt_at: datetime | None = None
    throttled: bool = False


def settle(db: Database, run_id: str, attempt: int, result: AttemptResult) -> Run | None:
    """Move a running attempt to its result; None if the attempt lost its claim (fenced)."""
    with db.session() as session:
        run = session.execute(
            select(Run).where(Run.id == run_id).with_for_update()
        ).scalar_one_or_none()
        if run is None or run.status != RunStatus.RUNNING.value or run.attempt_count != attempt:
            return None
        check_transition(run.id, run.status, result.status)
        run.attempts = [*run.attempts, result.attempt_record]
        run.status = result.status.value
        run.phase = None
        if result.status is RunStatus.QUEUED:
            run.next_attempt_at = result.next_attempt_at
            run.job_id = job_id_for(run.id, attempt + 1)
            if result.throttled:
                # A throttled attempt isn't the run's fault: it doesn't spend a retry.
                run.throttle_count += 1
                run.attempt_count -= 1
                run.job_id = f"{run.id}-t{run.throttle_count}"
        else:
            run.output = result.output
            run.error = result.error
            run.finished_at = utcnow()
        return run


def settle_claimed(db: Database, run: Run, result: AttemptResult) -> Run | None:
    """`settle` for the worker holding the claim on `run` (as `claim_with_connection` gave it).

    One UPDATE fenced by status and attempt (RETURNING the row) instead of a locked read and a
    write. The attempts list read at claim time is current: while the run is running under this
    attempt only its holder settles it, and anyone else's move (the sweeper) fails this fence.
    """
    attempt = run.attempt_count
    check_transition(run.id, RunStatus.RUNNING.value, result.status)
    values: dict[str, Any] = {"attempts": [*run.attempts, result.attempt_record],
                              "status": result.status.value, "phase": None}
    if result.status is RunStatus.QUEUED:
        values.update(next_attempt_at=result.next_attempt_at,
                      job_id=job_id_for(run.id, attempt + 1))
        if result.throttled:
            # A throttled attempt isn't the run's fault: it doesn't spend a retry.
            values.update(throttle_count=run.throttle_count + 1, attempt_count=attempt - 1,
                          job_id=f"{run.id}-t{run.throttle_count + 1}")
    else:
        values.update(output=result.output, error=result.error, finished_at=utcnow())
    with db.session() as session:
        settled: Run | None = session.execute(
            update(Run)
            .where(Run.id == run.id, Run.status == RunStatus.RUNNING.value,
                   Run.attempt_count == attempt)
            .values(**values)
            .returning(Run)
        ).scalar_one_or_none()
        return settled


def abandon(db: Database, run_id: str, attempt: int, status: RunStatus,
            attempt_record: dict[str, Any], error: dict[str, Any] | None) -> Run | None:
    """The sweeper's move for a run whose worker died: requeue it or end it."""
    return settle(db, run_id, attempt, AttemptResult(
        status=status, attempt_record=attempt_record, error=error,
        next_attempt_at=utcnow() if status is RunStatus.QUEUED else None))


def get_run(session: Session, workspace_id: str, run_id: str) -> Run | None:
    run = session.get(Run, run_id)
    return run if run is not None and run.workspace_id == workspace_id else None


def list_runs(session: Session, workspace_id: str, *, limit: int, cursor: str | None,
              status: str | None = None, connection_id: str | None = None) -> list[Run]:
    query = select(Run).where(Run.workspace_id == workspace_id)
    if status:
        query = query.where(Run.status == status)
    if connection_id:
        query = query.where(Run.connection_id == connection_id)
    return newest_first(session, query, Run.id, cursor=cursor,
                        limit=limit)


def running_runs(session: Session) -> list[Run]:
    return list(session.scalars(select(Run).where(Run.status == RunStatus.RUNNING.value)))


def queued_runs_due(session: Session, *, older_than: datetime) -> list[Run]:
    """Queued runs that should have a job by now (outbox sweep candidates)."""
    query = select(Run).where(Run.status == RunStatus.QUEUED.value, Run.updated_at < older_than)
    return list(session.scalars(query.limit(500)))
