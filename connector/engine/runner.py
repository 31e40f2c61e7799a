"""Runs one attempt of an action run: preflight -> governor -> provider -> classify -> persist.

Pure of Flask and RQ: it returns a `Decision` and `jobs.py` turns a requeue into an RQ job.
The order matters: the claim is committed before any upstream call, the "writing" mark is
committed before a side-effect request leaves, and the outcome is settled with the attempt
number as a fence, so a sweeper that declared this worker dead can't be overwritten.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.engine.backoff import backoff
from connector.engine.context import call_context
from connector.engine.governor import GovernorWait
from connector.engine.outcome import Outcome, OutcomeKind
from connector.providers.base import CallContext, LockBusy
from connector.redis_keys import RUN_DONE_TTL_S, run_done_key
from connector.runtime import Runtime
from connector.store import runs
from connector.store.connections import drop_ability, mark_needs_token
from connector.store.models import Connection, Run
from connector.store.states import RunStatus

log = logging.getLogger(__name__)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The engine maps every outcome kind to a run status; retryable kinds are requeued instead.
FINAL_STATUS = {
    OutcomeKind.SUCCESS: RunStatus.SUCCEEDED,
    OutcomeKind.IN_DOUBT: RunStatus.IN_DOUBT,
    OutcomeKind.UPSTREAM_ERROR: RunStatus.FAILED,
    OutcomeKind.AUTH_INVALID: RunStatus.FAILED,
    OutcomeKind.SCOPE_MISSING: RunStatus.FAILED,
    OutcomeKind.HALTED: RunStatus.FAILED,
    OutcomeKind.INVALID: RunStatus.FAILED,
}


@dataclass(frozen=True)
class Decision:
    run_id: str
    status: RunStatus
    job_id: str | None = None
    delay_s: float = 0.0
    queue: str = "actions"
    then: Any = None  # what the caller's `then` returned (it ran only for a final status)


class Runner:
    def __init__(self, runtime: Runtime, worker_id: str, *, rng: random.Random | None = None):
        self.rt, self.worker_id = runtime, worker_id
        self.rng = rng or random.Random()

    def execute(self, run_id: str, *, notify: bool = False,
                then: runs.Then | None = None) -> Decision | None:
        """One attempt of `run_id`; `notify`: a `Prefer: wait` request waits for its end;
        `then`: runs in the transaction that settles the run with a final status."""
        claimed = runs.claim_with_connection(self.rt.db, run_id, self.worker_id)
        if claimed is None:
            log.info("run.skip", extra={"run_id": run_id, "reason": "not queued"})
            return None
        return self.execute_claimed(*claimed, notify=notify, then=then)

    def execute_claimed(self, run: Run, connection: Connection, *, notify: bool = False,
                        then: runs.Then | None = None) -> Decision | None:
        """`execute` for a run this worker already holds (`runs.new_claimed_run`).

        An attempt that raises is settled all the same (`crash_outcome`): a run never stays
        `running` behind a live worker. A busy lock is an ordinary wait; any other exception
        is raised again once the run is settled, so RQ records the failed job (and its own
        job timeout stays one), and `then` is skipped: the caller's follow-up is not to go on.
        A retry decided that way gets its job from the outbox sweep, not from the caller.
        """
        started = datetime.now(UTC)
        definition = self.rt.catalog.actions[run.action_key]
        writes = _Writes()
        token, exchanges = "", []
        crash: Exception | None = None
        try:
            token = self.rt.cipher.decrypt(connection.token_encrypted)
            ctx = self._context(run, connection, token, writes)
            exchanges = ctx.exchanges
            outcome = self._attempt(run, connection, ctx)
        except Exception as error:  # noqa: BLE001 - settled below, then raised again
            outcome = crash_outcome(error, write_started=writes.started)
            if not isinstance(error, LockBusy):
                crash = error
                log.error("run.crashed", extra={"run_id": run.id, "error": type(error).__name__},
                          exc_info=True)
        if outcome.kind is OutcomeKind.IN_DOUBT and definition.idempotency != "at_most_once":
            # The definition's strategy (natural key, read-before-write) makes a repeat harmless.
            outcome = Outcome(OutcomeKind.TRANSIENT, outcome.message,
                              http_status=outcome.http_status)
        record = {
            "n": run.attempt_count,
            "worker_id": self.worker_id,
            "started_at": started.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "outcome": outcome.to_dict(),
            "exchanges": [e.record(secrets=(token,)) for e in exchanges],
        }
        decision = self._settle(run, connection, outcome, record, notify=notify,
                                then=None if crash is not None else then)
        if crash is not None:
            raise crash
        return decision

    def _context(self, run: Run, connection: Connection, token: str,
                 writes: _Writes) -> CallContext:
        definition = self.rt.catalog.actions[run.action_key]
        # Only an at-most-once write needs the mark: it is what turns a dead worker's run into
        # in_doubt. Every other strategy (a natural key, read-before-write) makes a repeat
        # harmless, so such a run is retried whether or not its write left (`sweeper`).
        marks = definition.side_effect and definition.idempotency == "at_most_once"

        def before_request(method: str) -> None:
            if method.upper() in READ_METHODS or writes.started:
                return
            writes.started = True  # from here on, an exception may follow a write that left
            if marks:
                runs.mark_writing(self.rt.db, run.id, run.attempt_count)

        return call_context(self.rt, connection, token, on_request=before_request)

    def _attempt(self, run: Run, connection: Connection, ctx: CallContext) -> Outcome:
        definition = self.rt.catalog.actions[run.action_key]
        entry = definition.provider(connection.provider)
        if entry is None:
            return Outcome(OutcomeKind.INVALID,
                           f"action {run.action_key!r} is not available on {connection.provider}")
        missing = sorted(set(entry.abilities) - set(connection.abilities))
        if missing:
            return Outcome(OutcomeKind.SCOPE_MISSING,
                           f"the connection's token lacks the ability {missing[0]!r}",
                           missing_ability=missing[0])
        params = {"resource": entry.resource} if entry.resource else {}
        try:
            outcome: Outcome = self.rt.provider(connection.provider).execute(
                entry.operation, params, run.input, ctx)
        except GovernorWait as wait:
            return Outcome(OutcomeKind.THROTTLED, "waiting for the connection's rate limit",
                           retry_after_s=wait.wait_s)
        return outcome

    def _settle(self, run: Run, connection: Connection, outcome: Outcome,
                record: dict[str, Any], *, notify: bool,
                then: runs.Then | None) -> Decision | None:
        settings = self.rt.settings
        kind = outcome.kind
        throttled = kind is OutcomeKind.THROTTLED
        if throttled:
            delay = max(outcome.retry_after_s or 1.0, 0.05)
            if outcome.http_status == 429:
                self.rt.governor.penalize(connection.id, delay)
            status = RunStatus.QUEUED
        elif kind is OutcomeKind.TRANSIENT and run.attempt_count < settings.retry_max_attempts:
            delay = backoff(run.attempt_count, base_s=settings.retry_base_s,
                            cap_s=settings.retry_cap_s, rng=self.rng)
            status = RunStatus.QUEUED
        elif kind is OutcomeKind.TRANSIENT:
            delay, status = 0.0, RunStatus.DEAD
        else:
            delay, status = 0.0, FINAL_STATUS[kind]
        if kind is OutcomeKind.SCOPE_MISSING and outcome.missing_ability and outcome.http_status:
            with self.rt.db.session() as session:
                drop_ability(session, connection.id, outcome.missing_ability)
        if kind is OutcomeKind.AUTH_INVALID:
            with self.rt.db.session() as session:
                mark_needs_token(session, connection.id, outcome.message)
        error = None if kind is OutcomeKind.SUCCESS else outcome.to_dict()
        result = runs.AttemptResult(
            status=status, attempt_record=record,
            output=outcome.output if kind is OutcomeKind.SUCCESS else None, error=error,
            next_attempt_at=datetime.now(UTC) + timedelta(seconds=delay), throttled=throttled)
        settled = runs.settle_claimed(self.rt.db, run, result,
                                      then=then if status.is_terminal else None)
        if settled is None:
            log.warning("run.fenced", extra={"run_id": run.id, "attempt": run.attempt_count})
            return None
        log.info("run.status", extra={"run_id": run.id, "status": status.value,
                                      "outcome": kind.value, "attempt": run.attempt_count})
        if status.is_terminal and notify:
            signal_done(self.rt, run.id, status)
        return Decision(run.id, status, job_id=settled.job_id, delay_s=delay, queue=settled.queue,
                        then=settled.then)


@dataclass
class _Writes:
    """Whether this attempt let a write request start (set before it leaves)."""

    started: bool = False


def crash_outcome(error: Exception, *, write_started: bool) -> Outcome:
    """The outcome of an attempt that raised instead of returning one.

    `LockBusy` before any write: another run holds the record, so wait for it (a throttle: it
    spends no attempt). Anything else is our failure, not the upstream's: in_doubt once a write
    request has started (it may have left, even if no answer was recorded; the runner turns
    that into a retry for actions safe to repeat), else a transient failure, retried and in the
    end dead. The message names the exception's type only: its text may carry upstream data.
    """
    if isinstance(error, LockBusy) and not write_started:
        return error.outcome()
    if write_started:
        return Outcome(OutcomeKind.IN_DOUBT, f"the connector failed ({type(error).__name__}) "
                       "after a write request started; it may have reached the upstream")
    return Outcome(OutcomeKind.TRANSIENT, f"the connector failed ({type(error).__name__}) "
                   "before anything was written upstream")


def signal_done(rt: Runtime, run_id: str, status: RunStatus) -> None:
    """Wake the `Prefer: wait` request blocked on this run (its job says one waits).

    This runs after the status was committed and the signal stays for `RUN_DONE_TTL_S`, so
    the waiter either reads the final status or finds the signal, whenever it starts waiting.
    """
    key = run_done_key(run_id)
    pipe = rt.redis.pipeline()
    pipe.rpush(key, status.value)
    pipe.expire(key, RUN_DONE_TTL_S)
    pipe.execute()
