"""Accepting action runs: checked against their connection, committed, then enqueued, with the
calls that arrive in one process at the same moment sharing one transaction and one Redis
round trip (`store.group_commit`).

Why: every action call writes, and on SQLite every write takes the file's one write lock.
With the API accepting a burst while N workers claim and settle, one transaction per call
held that lock for about half the time, and the workers' claims queued behind it
(BENCHMARKS.md §2). A batch of k calls holds it once.

A call is refused (its own error raised in its own thread) without touching the others of its
batch: the connection is missing, the action is not available for its provider, the input is
invalid, or the token lacks an ability. The run is durable before any caller is answered; a
run whose enqueue failed (Redis down) is enqueued by the outbox sweep.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import redis
from sqlalchemy.exc import IntegrityError

from connector.catalog import ActionDefinition
from connector.errors import AbilityMissing, ApiError, NotFound, UnsupportedAction, ValidationFailed
from connector.queueing import RunJob, enqueue_runs
from connector.runtime import Runtime
from connector.store import runs
from connector.store.group_commit import GroupCommit
from connector.store.models import Run

log = logging.getLogger(__name__)

MAX_BATCH = 128


@dataclass
class PendingRun:
    run: Run
    definition: ActionDefinition
    errors: list[tuple[str, str]]
    notify: bool
    done: bool = False
    result: Run | BaseException | None = field(default=None, repr=False)


class Acceptor:
    """The group-commit writer of one process: `writer_for(rt, Acceptor)`."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._group: GroupCommit[PendingRun] = GroupCommit(self._write, MAX_BATCH)

    def accept(self, item: PendingRun) -> Run:
        """Store the run (committed) and enqueue it; raise the call's refusal instead."""
        run: Run = self._group.submit(item)
        return run

    def _write(self, batch: list[PendingRun]) -> None:
        try:
            accepted = self._commit(batch)
        except IntegrityError:
            if len(batch) == 1:
                raise
            # One row broke the batch (its connection deleted meanwhile, on PostgreSQL):
            # each call alone, so that only that one fails.
            accepted = []
            for item in batch:
                if not item.done:
                    try:
                        accepted += self._commit([item])
                    except IntegrityError as error:
                        item.result, item.done = error, True
        self._enqueue(accepted)

    def _commit(self, batch: list[PendingRun]) -> list[PendingRun]:
        """Refuse what must be refused, insert the rest in one transaction; the accepted."""
        targets: dict[tuple[str, str], runs.RunTarget | None] = {}
        accepted = []
        with self.rt.db.engine.begin() as conn:
            for item in batch:
                key = (item.run.workspace_id, item.run.connection_id)
                if key not in targets:
                    targets[key] = runs.run_target(conn, *key)
                refusal = _refusal(item, targets[key])
                if refusal is not None:
                    item.result, item.done = refusal, True
                else:
                    accepted.append(item)
            runs.insert_runs(conn, [item.run for item in accepted])
        return accepted

    def _enqueue(self, accepted: list[PendingRun]) -> None:
        try:
            enqueue_runs(self.rt, [RunJob(item.run.id, item.run.job_id or item.run.id,
                                          item.run.queue, item.notify) for item in accepted])
        except redis.RedisError:
            # The runs are committed, so nothing is lost: the outbox sweep enqueues them later.
            log.warning("run.enqueue_deferred",
                        extra={"run_ids": [item.run.id for item in accepted]})
        for item in accepted:
            item.result, item.done = item.run, True


def _refusal(item: PendingRun, target: runs.RunTarget | None) -> ApiError | None:
    run, definition = item.run, item.definition
    if target is None:
        return NotFound(f"no connection {run.connection_id!r} in this workspace")
    entry = definition.provider(target.provider)
    if entry is None:
        return UnsupportedAction(
            f"action {run.action_key!r} is not available for provider {target.provider!r}: "
            + definition.unsupported_reason(target.provider))
    if item.errors:
        return ValidationFailed(f"the input of {run.action_key!r} is not valid",
                                errors=[{"pointer": p, "message": m} for p, m in item.errors])
    missing = sorted(set(entry.abilities) - set(target.abilities))
    if missing:
        return AbilityMissing(
            f"the connection's token lacks the ability {missing[0]!r} that {run.action_key!r} "
            "needs; enable it for the token in the tenant's API settings, then POST "
            f"/v1/connections/{run.connection_id}/test",
            extra={"missing_abilities": missing})
    return None
