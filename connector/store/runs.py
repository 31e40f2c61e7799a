"""Run rows: creation, the atomic claim, fenced finishes, and listing.

Every state change is conditional on the state (and, while running, on the attempt number) the
caller saw, so two processes that disagree about a run can't both move it (fencing by attempt).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection as SqlConnection
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from connector.ids import new_id
from connector.store.db import Database
from connector.store.models import Connection, Run, utcnow
from connector.store.paging import newest_first
from connector.store.states import RunStatus, check_transition

log = logging.getLogger(__name__)

RUNS: Table = Run.__table__  # type: ignore[assignment]
CONNECTIONS: Table = Connection.__table__  # type: ignore[assignment]

# The statements of the hot path (accepting a run; a worker's claim, "writing" mark and settle),
# built once: Core with bound parameters skips the ORM's unit of work and compiles from cache
# (the claim: ~0.3 ms instead of ~1.1 ms of CPU on this box; BENCHMARKS.md, overhead). They
# still go through the engine, so SQLite's BEGIN IMMEDIATE and the columns' JSON types and
# `onupdate` apply as they do for the ORM.
_CLAIM = (
    update(RUNS)
    .where(RUNS.c.id == bindparam("run_id"), RUNS.c.status == RunStatus.QUEUED.value)
    .values(status=RunStatus.RUNNING.value, worker_id=bindparam("worker_id"), phase="preparing",
            started_at=bindparam("now"), attempt_count=RUNS.c.attempt_count + 1,
            next_attempt_at=None)
    .returning(*RUNS.c, select(CONNECTIONS.c.updated_at)
               .where(CONNECTIONS.c.id == RUNS.c.connection_id)
               .scalar_subquery().label("connection_updated_at"))
)
_CONNECTION = select(CONNECTIONS).where(CONNECTIONS.c.id == bindparam("connection_id"))
_CONNECTION_VERSION = select(CONNECTIONS.c.updated_at).where(
    CONNECTIONS.c.id == bindparam("connection_id"))
_RUN_COLUMNS = tuple(RUNS.c.keys())
CONNECTION_CACHE_SIZE = 512
# Connection rows this process read last, by (database URL, id): a claim reuses one while the
# row's `updated_at` (returned by the claim itself) is unchanged; every write to a connection
# row moves it (`onupdate`). Instances here are detached and never modified.
_connections: dict[tuple[str, str], Connection] = {}
_MARK_WRITING = (
    update(RUNS)
    .where(RUNS.c.id == bindparam("run_id"), RUNS.c.status == RunStatus.RUNNING.value,
           RUNS.c.attempt_count == bindparam("attempt"))
    .values(phase="writing")
)
_RUN_TARGET = select(CONNECTIONS.c.provider, CONNECTIONS.c.abilities).where(
    CONNECTIONS.c.id == bindparam("connection_id"),
    CONNECTIONS.c.workspace_id == bindparam("workspace_id"))
_INSERT_RUN = insert(RUNS)
# Settling is fenced by status and attempt: a sweeper that moved the run first wins.
_SETTLE_WHERE = (RUNS.c.id == bindparam("run_id"), RUNS.c.status == RunStatus.RUNNING.value,
                 RUNS.c.attempt_count == bindparam("attempt"))
_SETTLE_FINAL = (
    update(RUNS).where(*_SETTLE_WHERE)
    .values(attempts=bindparam("new_attempts", type_=RUNS.c.attempts.type),
            status=bindparam("new_status"), phase=None,
            output=bindparam("new_output", type_=RUNS.c.output.type),
            error=bindparam("new_error", type_=RUNS.c.error.type),
            finished_at=bindparam("new_finished_at", type_=RUNS.c.finished_at.type))
    .returning(RUNS.c.job_id, RUNS.c.queue)
)
_SETTLE_REQUEUE = (
    update(RUNS).where(*_SETTLE_WHERE)
    .values(attempts=bindparam("new_attempts", type_=RUNS.c.attempts.type),
            status=bindparam("new_status"), phase=None,
            next_attempt_at=bindparam("new_next_attempt_at", type_=RUNS.c.next_attempt_at.type),
            throttle_count=bindparam("new_throttle_count"),
            attempt_count=bindparam("new_attempt_count"), job_id=bindparam("new_job_id"))
    .returning(RUNS.c.job_id, RUNS.c.queue)
)


def new_run(*, workspace_id: str, connection_id: str, action_key: str, data: dict[str, Any],
            queue: str, replay_of: str | None = None) -> Run:
    """A queued run with every column set (so it can be shown before or without a flush)."""
    run_id, now = new_id("run"), utcnow()
    return Run(id=run_id, workspace_id=workspace_id, connection_id=connection_id,
               action_key=action_key, input=data, status=RunStatus.QUEUED.value, phase=None,
               output=None, error=None, delivery=None, attempts=[], attempt_count=0,
               throttle_count=0, job_id=job_id_for(run_id, 1), worker_id=None,
               replay_of=replay_of, queue=queue, created_at=now, started_at=None,
               finished_at=None, next_attempt_at=None, updated_at=now)


def create_run(session: Session, *, workspace_id: str, connection_id: str, action_key: str,
               data: dict[str, Any], queue: str, replay_of: str | None = None) -> Run:
    run = new_run(workspace_id=workspace_id, connection_id=connection_id, action_key=action_key,
                  data=data, queue=queue, replay_of=replay_of)
    session.add(run)
    return run


class RunTarget(NamedTuple):
    """What accepting a run needs to know about its connection."""

    provider: str
    abilities: list[str]


def run_target(conn: SqlConnection, workspace_id: str, connection_id: str) -> RunTarget | None:
    """The connection's provider and abilities, if it exists in this workspace."""
    row = conn.execute(_RUN_TARGET, {"connection_id": connection_id,
                                     "workspace_id": workspace_id}).first()
    return None if row is None else RunTarget(provider=row.provider, abilities=row.abilities)


def insert_runs(conn: SqlConnection, batch: list[Run]) -> None:
    """Insert `new_run`s with Core: the API's accept path skips the ORM's unit of work."""
    if batch:
        conn.execute(_INSERT_RUN, [{key: getattr(run, key) for key in _RUN_COLUMNS}
                                   for run in batch])


def new_claimed_run(*, workspace_id: str, connection_id: str, action_key: str,
                    data: dict[str, Any], queue: str, worker_id: str) -> Run:
    """A run born claimed by `worker_id` (running, attempt 1): for a caller that executes it
    at once in the same process (a workflow step), so its claim is the insert, not a second
    transaction. Should that worker die first, the sweeper finds a running run without a
    heartbeat, as for any claim."""
    run = new_run(workspace_id=workspace_id, connection_id=connection_id, action_key=action_key,
                  data=data, queue=queue)
    run.status, run.phase, run.worker_id = RunStatus.RUNNING.value, "preparing", worker_id
    run.attempt_count, run.started_at = 1, run.created_at
    return run


def job_id_for(run_id: str, attempt: int) -> str:
    """RQ job id of an attempt: the run id, suffixed so a retry never overwrites a live job."""
    return run_id if attempt <= 1 else f"{run_id}-{attempt}"


def claim_with_connection(db: Database, run_id: str,
                          worker_id: str) -> tuple[Run, Connection] | None:
    """Claim a queued run (queued -> running, attempt + 1) and get its connection.

    One UPDATE ... RETURNING (SQLite >= 3.35, PostgreSQL) that also returns the connection's
    `updated_at`; the connection's row is read in the same transaction only when this process
    holds no copy of that version. The rows come back as detached model instances.
    """
    with db.engine.begin() as conn:
        row = conn.execute(_CLAIM, {"run_id": run_id, "worker_id": worker_id,
                                    "now": utcnow()}).one_or_none()
        if row is None:
            return None
        connection = _cached_connection(conn, db.url, row.connection_id,
                                        row.connection_updated_at)
    values = row._mapping
    return Run(**{name: values[name] for name in _RUN_COLUMNS}), connection


def read_connection(conn: SqlConnection, db_url: str, connection_id: str) -> Connection | None:
    """The connection row (detached), from this process's copy while its `updated_at` holds."""
    updated_at = conn.execute(_CONNECTION_VERSION, {"connection_id": connection_id}).scalar()
    if updated_at is None:
        return None
    return _cached_connection(conn, db_url, connection_id, updated_at)


def _cached_connection(conn: SqlConnection, db_url: str, connection_id: str,
                       updated_at: datetime) -> Connection:
    key = (db_url, connection_id)
    connection = _connections.get(key)
    if connection is None or connection.updated_at != updated_at:
        connection_row = conn.execute(_CONNECTION, {"connection_id": connection_id}).one()
        connection = Connection(**connection_row._mapping)
        if len(_connections) >= CONNECTION_CACHE_SIZE:
            _connections.clear()
        _connections[key] = connection
    return connection


def mark_writing(db: Database, run_id: str, attempt: int) -> None:
    """Record, before the request leaves, that a side-effect write may reach the upstream."""
    with db.engine.begin() as conn:
        conn.execute(_MARK_WRITING, {"run_id": run_id, "attempt": attempt})


@dataclass(frozen=True)
class AttemptResult:
    status: RunStatus
    attempt_record: dict[str, Any]
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    next_attempt_at: datetime | None = None
    throttled: bool = False


def settle(db: Database, run_id: str, attempt: int, result: AttemptResult) -> Run | None:
    """Move a running attempt to its result for a process that doesn't hold the claim (the
    sweeper); None if the attempt lost its claim. The same fenced UPDATE as the worker's
    `settle_claimed`: the fence on status and attempt makes the unlocked read safe."""
    with db.session() as session:
        run = session.get(Run, run_id)
    if run is None or run.status != RunStatus.RUNNING.value or run.attempt_count != attempt:
        return None
    if settle_claimed(db, run, result) is None:
        return None
    with db.session() as session:
        return session.get(Run, run_id)


class Settled(NamedTuple):
    """Where a settled attempt's run goes next: its next RQ job id (if queued) and queue, and
    what `then` returned (`settle_claimed`)."""

    job_id: str | None
    queue: str
    then: Any = None


Then = Callable[[SqlConnection, AttemptResult], Any]
"""Work that must commit with a settle, or not at all (a workflow records its step)."""


def settle_claimed(db: Database, run: Run, result: AttemptResult,
                   then: Then | None = None) -> Settled | None:
    """`settle` for the worker holding the claim on `run` (as `claim_with_connection` gave it).

    One UPDATE fenced by status and attempt (RETURNING the row) instead of a locked read and a
    write. The attempts list read at claim time is current: while the run is running under this
    attempt only its holder settles it, and anyone else's move (the sweeper) fails this fence.
    `then(conn, result)` runs in the same transaction once the fence held.
    """
    attempt = run.attempt_count
    check_transition(run.id, RunStatus.RUNNING.value, result.status)
    values: dict[str, Any] = {"run_id": run.id, "attempt": attempt,
                              "new_attempts": [*run.attempts, result.attempt_record],
                              "new_status": result.status.value}
    if result.status is not RunStatus.QUEUED:
        statement = _SETTLE_FINAL
        values.update(new_output=result.output, new_error=result.error, new_finished_at=utcnow())
    else:
        statement = _SETTLE_REQUEUE
        values.update(new_next_attempt_at=result.next_attempt_at,
                      new_throttle_count=run.throttle_count, new_attempt_count=attempt,
                      new_job_id=job_id_for(run.id, attempt + 1))
        if result.throttled:
            # A throttled attempt isn't the run's fault: it doesn't spend a retry.
            values.update(new_throttle_count=run.throttle_count + 1, new_attempt_count=attempt - 1,
                          new_job_id=f"{run.id}-t{run.throttle_count + 1}")
    try:
        with db.engine.begin() as conn:
            row = conn.execute(statement, values).one_or_none()
            if row is None:
                return None
            after = then(conn, result) if then is not None else None
    except Exception:
        if then is None:
            raise
        # The follow-up must never cost the run its result: settle alone (the caller sees
        # `then` as None and does its follow-up on its own). An error: it is our bug or the
        # database failing, and the caller's own path then costs a transaction more.
        log.error("run.settle_follow_up_failed", extra={"run_id": run.id}, exc_info=True)
        return settle_claimed(db, run, result)
    return Settled(job_id=row.job_id, queue=row.queue, then=after)


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
