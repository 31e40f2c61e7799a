"""Executes a workflow run step after step; each step is an ordinary action run (`runs` row)
executed by the same `Runner` as a direct action call (preflight, governor, classification,
in_doubt, attempt records). Pure of Flask and RQ: a retry comes back as a `Decision`.

Re-entrant: the step's child run id is saved before the child executes, so a second advance
(a sweep, a duplicate job) finds it and never creates or sends a second one; the child's own
atomic claim decides who executes it. An in_doubt step ends the workflow run as in_doubt.

Transactions: a step's child run is inserted already claimed by this worker, in the
transaction that records the step (no separate claim), and the child's final settle commits
together with the step boundary: the step's result, the next step's claimed child (or the
run's end). A three-step run commits four times, plus the "writing" mark of an at-most-once
send and whatever a step reads (the 24 h window). A child finished elsewhere (a retry's own
job, the sweeper) is picked up by a boundary transaction of its own.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection as SqlConnection
from sqlalchemy import Table, select, update

from connector.engine.mapping import MappingError
from connector.engine.runner import Decision as ChildDecision
from connector.engine.runner import Runner
from connector.engine.sweeper import abandon
from connector.engine.workflow import CONTINUE, context_for, mapping_error, resolve_step
from connector.runtime import Runtime
from connector.store import runs
from connector.store.models import Connection, Run, utcnow
from connector.store.states import RunStatus
from connector.store.workflow_models import WorkflowRun

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class Decision:
    """Advance again after `delay_s` under RQ job id `job_id` (a child run is being retried)."""

    workflow_run_id: str
    job_id: str
    delay_s: float


def load_trigger(rt: Runtime, encrypted: str | None) -> Any:
    if not encrypted:
        return None
    return json.loads(rt.cipher.decrypt(encrypted))


_RUNS = cast(Table, WorkflowRun.__table__)
_STATE = (_RUNS.c.status, _RUNS.c.step_index, _RUNS.c.steps)
_STATE_FIELDS = frozenset({"status", "step_index", "steps"})


@dataclass
class _Run:
    """One workflow run as an advance sees it: what never changes (read once), its state as
    of the last locked read, and the columns to write back in the same transaction."""

    id: str
    workspace_id: str
    definition: dict[str, Any]
    trigger: Any
    status: str = "queued"
    step_index: int = 0
    steps: list[Any] = field(default_factory=list)
    changes: dict[str, Any] = field(default_factory=dict)

    def read(self, conn: SqlConnection) -> bool:
        """Lock the row and load its state; False when it is gone."""
        row = conn.execute(select(*_STATE).where(_RUNS.c.id == self.id)
                              .with_for_update()).one_or_none()
        if row is None:
            return False
        self.status, self.step_index, self.steps = row.status, row.step_index, list(row.steps)
        self.changes = {}
        return True

    def set(self, **values: Any) -> None:
        """Columns to write (`write`); the state fields above follow them."""
        for name in _STATE_FIELDS & values.keys():
            setattr(self, name, values[name])
        self.changes.update(values)

    def record(self, index: int, record: dict[str, Any], *, next_index: int | None) -> None:
        self.set(steps=_set(self.steps, index, record))
        if next_index is not None:
            self.set(step_index=next_index)

    def step(self, index: int) -> dict[str, Any]:
        return dict(self.steps[index]) if index < len(self.steps) else {}

    def write(self, conn: SqlConnection) -> None:
        if self.changes:
            conn.execute(update(_RUNS).where(_RUNS.c.id == self.id).values(**self.changes))
            self.changes = {}


@dataclass(frozen=True)
class _Step:
    """The step to execute: its index and child run; `claimed` when this advance inserted the
    child already claimed (the run and its connection, ready for `Runner.execute_claimed`)."""

    index: int
    run_id: str
    claimed: tuple[Run, Connection] | None = None


@dataclass(frozen=True)
class _Boundary:
    """A step boundary committed with its child's settle; `next` as `_prepare` returns it."""

    next: _Step | None


class WorkflowRunner:
    def __init__(self, runtime: Runtime, worker_id: str) -> None:
        self.rt, self.worker_id = runtime, worker_id

    def advance(self, wf_run_id: str) -> Decision | None:
        # The workflow run's row is read locked in every transaction that moves it, so two
        # advances of one run take turns and the second sees the first's moves. Core
        # statements on the row's few changing columns: the definition and the trigger are
        # read once per advance.
        with self.rt.db.engine.begin() as conn:
            row = conn.execute(
                select(_RUNS.c.workspace_id, _RUNS.c.definition, _RUNS.c.trigger_encrypted,
                       *_STATE).where(_RUNS.c.id == wf_run_id).with_for_update()).one_or_none()
            if row is None or row.status not in ACTIVE:
                return None
            run = _Run(wf_run_id, row.workspace_id, row.definition,
                       load_trigger(self.rt, row.trigger_encrypted), row.status,
                       row.step_index, list(row.steps))
            if run.status == "queued":
                run.set(status="running", started_at=utcnow())
            current = self._prepare(conn, run)
            run.write(conn)
        while current is not None:
            child = self._execute_child(run, current)
            if child is not None and child.status is RunStatus.QUEUED and child.job_id:
                return Decision(wf_run_id, child.job_id, child.delay_s)
            if child is not None and isinstance(child.then, _Boundary):
                current = child.then.next
                continue
            current = self._boundary(run, current)
        return None

    def _execute_child(self, run: _Run, step: _Step) -> ChildDecision | None:
        def boundary(conn: SqlConnection, result: runs.AttemptResult) -> _Boundary:
            return _Boundary(self._step_boundary(conn, run, step.index, step.run_id,
                                                 result.status.value, result.output,
                                                 result.error))

        runner = Runner(self.rt, self.worker_id)
        if step.claimed is not None:
            return runner.execute_claimed(*step.claimed, then=boundary)
        return runner.execute(step.run_id, then=boundary)

    def _boundary(self, run: _Run, step: _Step) -> _Step | None:
        """The step boundary for a child this advance did not settle itself."""
        with self.rt.db.engine.begin() as conn:
            child = conn.execute(select(*_CHILD).where(_CHILDREN.c.id == step.run_id)
                                 ).one_or_none()
            if child is None:
                return None
            if child.status not in ACTIVE:
                return self._step_boundary(conn, run, step.index, step.run_id, child.status,
                                           child.output, child.error)
        if child.status == "running" and child.worker_id == self.worker_id:
            return self._orphaned(run, step)
        return None  # someone else holds it; the workflow sweep advances us later

    def _orphaned(self, run: _Run, step: _Step) -> _Step | None:
        """A child claimed by this very worker that nobody executes: a worker runs one job at
        a time, and this one is here, so an earlier advance in this process stopped between
        claiming the child and settling it (an exception, an ambiguous commit). The sweeper
        would decide it only once this process is dead; decide it now, as it would."""
        with self.rt.db.session() as session:
            child = session.get(Run, step.run_id)
        if child is None or child.status != "running" or child.worker_id != self.worker_id:
            return None
        settled = abandon(self.rt, child, datetime.now(UTC),
                          cause="the worker stopped before the attempt ended")
        if settled is None:
            return None
        if settled[0] is RunStatus.QUEUED:
            return _Step(step.index, step.run_id)  # the loop claims and executes it
        return self._boundary(run, step)

    # -- steps (all inside the caller's transaction) -----------------------------------------

    def _step_boundary(self, conn: SqlConnection, run: _Run, index: int, child_id: str,
                       status: str, output: Any, error: Any) -> _Step | None:
        """Record the finished child of step `index` (if the run still waits for it) and
        start what comes next."""
        if not run.read(conn) or run.status not in ACTIVE:
            return None
        if run.step_index == index and run.step(index).get("run_id") == child_id:
            self._settle_step(run, index, child_id, status, output, error)
        current = self._prepare(conn, run)
        run.write(conn)
        return current

    def _prepare(self, conn: SqlConnection, run: _Run) -> _Step | None:
        """The current step, after starting it if it has no child yet (steps skipped or
        failed before any call move on); None when the run has ended."""
        steps = run.definition["steps"]
        while run.status in ACTIVE:
            index = run.step_index
            if index >= len(steps):
                self._finish(run, "succeeded", None)
                return None
            run_id = run.step(index).get("run_id")
            if run_id:
                return _Step(index, str(run_id))
            started = self._start_step(conn, run, index)
            if started is not None:
                return started
        return None

    def _start_step(self, conn: SqlConnection, run: _Run, index: int) -> _Step | None:
        """Resolve the step and create its child run, claimed by this worker; or record a
        skip / mapping failure (None)."""
        definition = run.definition
        step = definition["steps"][index]
        base = {"name": step["name"], "action": step["action"], "run_id": None}
        outputs = {r["name"]: r.get("output") for r in run.steps if r.get("name")}
        try:
            resolved = resolve_step(step, index,
                                    context_for(definition["trigger"]["kind"], run.trigger,
                                                outputs),
                                    self.rt.catalog, definition.get("default_region"))
        except MappingError as error:
            self._fail_early(run, index, step, {**base, "status": "failed",
                                                "error": mapping_error(step, error)})
            return None
        if resolved.skip:
            run.record(index, {**base, "status": "skipped", "output": None},
                       next_index=index + 1)
            return None
        if resolved.errors:
            errors = [{"pointer": p, "message": m} for p, m in resolved.errors]
            message = f"step {step['name']!r}: the input of {step['action']!r} is not valid: " \
                + "; ".join(f"{e['pointer']} {e['message']}" for e in errors)
            self._fail_early(run, index, step, {**base, "status": "failed",
                                                "input": resolved.input,
                                                "error": {"kind": "invalid",
                                                          "step": step["name"],
                                                          "message": message,
                                                          "errors": errors}})
            return None
        connection = runs.read_connection(conn, self.rt.db.url, definition["connection_id"])
        if connection is None:
            message = f"the workflow's connection {definition['connection_id']!r} is gone"
            self._fail_early(run, index, step, {**base, "status": "failed", "error": {
                "kind": "invalid", "step": step["name"], "message": message}})
            return None
        child = runs.new_claimed_run(workspace_id=run.workspace_id,
                                     connection_id=definition["connection_id"],
                                     action_key=step["action"], data=resolved.input,
                                     queue="actions", worker_id=self.worker_id)
        runs.insert_runs(conn, [child])
        run.record(index, {**base, "run_id": child.id, "status": "running",
                           "input": resolved.input}, next_index=None)
        return _Step(index, child.id, (child, connection))

    def _fail_early(self, run: _Run, index: int, step: dict[str, Any],
                    record: dict[str, Any]) -> None:
        """A step that failed before any call: the run goes on only under `on_error: continue`."""
        run.record(index, record, next_index=index + 1)
        if step.get("on_error") != CONTINUE:
            self._finish(run, "failed", record.get("error"))

    def _settle_step(self, run: _Run, index: int, child_id: str, status: str, output: Any,
                     error: Any) -> None:
        """Copy the child's result into the step record; end the run when the step says so."""
        step = run.definition["steps"][index]
        run.record(index, {**run.step(index), "status": status, "output": output,
                           "error": error}, next_index=index + 1)
        if status == "succeeded":
            return
        if status == "in_doubt":
            self._finish(run, "in_doubt", {
                "kind": "in_doubt", "step": step["name"], "run_id": child_id,
                "message": f"step {step['name']!r} may have reached the upstream; it is never "
                           "resent automatically: check the chat, then replay if needed"})
            return
        if step.get("on_error") == CONTINUE:
            return
        message = (error or {}).get("message") or status
        self._finish(run, "failed", {"kind": (error or {}).get("kind", "failed"),
                                     "step": step["name"], "run_id": child_id,
                                     "message": f"step {step['name']!r} failed: {message}"})

    def _finish(self, run: _Run, status: str, error: dict[str, Any] | None) -> None:
        run.set(status=status, error=error, finished_at=utcnow())
        log.info("workflow_run.status", extra={"workflow_run_id": run.id, "status": status})


_CHILDREN = cast(Table, Run.__table__)
_CHILD = (_CHILDREN.c.id, _CHILDREN.c.status, _CHILDREN.c.output, _CHILDREN.c.error,
          _CHILDREN.c.worker_id)


def _set(records: list[Any], index: int, record: dict[str, Any]) -> list[Any]:
    out = list(records)
    while len(out) <= index:
        out.append({})
    out[index] = record
    return out
