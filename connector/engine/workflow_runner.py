"""Executes a workflow run step after step; each step is an ordinary action run (`runs` row)
executed by the same `Runner` as a direct action call (preflight, governor, classification,
in_doubt, attempt records). Pure of Flask and RQ: a retry comes back as a `Decision`.

Re-entrant: the step's child run id is saved before the child executes, so a second advance
(a sweep, a duplicate job) finds it and never creates or sends a second one; the child's own
atomic claim decides who executes it. An in_doubt step ends the workflow run as in_doubt.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from connector.engine.mapping import MappingError
from connector.engine.runner import Runner
from connector.engine.workflow import CONTINUE, context_for, mapping_error, resolve_step
from connector.runtime import Runtime
from connector.store import runs
from connector.store.models import Run, utcnow
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

    def read(self, session: Session) -> bool:
        """Lock the row and load its state; False when it is gone."""
        row = session.execute(select(*_STATE).where(_RUNS.c.id == self.id)
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

    def write(self, session: Session) -> None:
        if self.changes:
            session.execute(update(_RUNS).where(_RUNS.c.id == self.id).values(**self.changes))
            self.changes = {}


class WorkflowRunner:
    def __init__(self, runtime: Runtime, worker_id: str) -> None:
        self.rt, self.worker_id = runtime, worker_id

    def advance(self, wf_run_id: str) -> Decision | None:
        # One transaction per step boundary: it reads the finished child, records it, and
        # creates the next step's child run (or ends the run). The workflow run's row is read
        # locked, so two advances of one run take turns and the second sees the first's moves.
        # Core statements on the row's few changing columns: the definition and the trigger
        # are read once per advance.
        with self.rt.db.session() as session:
            row = session.execute(
                select(_RUNS.c.workspace_id, _RUNS.c.definition, _RUNS.c.trigger_encrypted,
                       *_STATE).where(_RUNS.c.id == wf_run_id).with_for_update()).one_or_none()
            if row is None or row.status not in ACTIVE:
                return None
            run = _Run(wf_run_id, row.workspace_id, row.definition,
                       load_trigger(self.rt, row.trigger_encrypted), row.status,
                       row.step_index, list(row.steps))
            if run.status == "queued":
                run.set(status="running", started_at=utcnow())
            current = self._prepare(session, run)
            run.write(session)
        while current is not None:
            index, run_id = current
            decision = self._execute_child(wf_run_id, run_id)
            if decision is not None:
                return decision
            with self.rt.db.session() as session:
                child = session.execute(select(*_CHILD).where(_CHILDREN.c.id == run_id)
                                        ).one_or_none()
                if child is None or child.status in ACTIVE:
                    return None  # someone else holds it; the workflow sweep advances us later
                if not run.read(session) or run.status not in ACTIVE:
                    return None
                if run.step_index == index and run.step(index).get("run_id") == run_id:
                    self._settle_step(run, index, child)
                current = self._prepare(session, run)
                run.write(session)
        return None

    # -- steps (all inside the caller's transaction) -----------------------------------------

    def _prepare(self, session: Session, run: _Run) -> tuple[int, str] | None:
        """The current step's (index, child run id), after starting it if it has no child yet
        (steps skipped or failed before any call move on); None when the run has ended."""
        steps = run.definition["steps"]
        while run.status in ACTIVE:
            index = run.step_index
            if index >= len(steps):
                self._finish(run, "succeeded", None)
                return None
            run_id = run.step(index).get("run_id")
            if run_id:
                return index, str(run_id)
            self._start_step(session, run, index)
        return None

    def _start_step(self, session: Session, run: _Run, index: int) -> None:
        """Resolve the step; create its child run, or record a skip / mapping failure."""
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
            return
        if resolved.skip:
            run.record(index, {**base, "status": "skipped", "output": None},
                       next_index=index + 1)
            return
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
            return
        child = runs.create_run(session, workspace_id=run.workspace_id,
                                connection_id=definition["connection_id"],
                                action_key=step["action"], data=resolved.input, queue="actions")
        run.record(index, {**base, "run_id": child.id, "status": "running",
                           "input": resolved.input}, next_index=None)

    def _fail_early(self, run: _Run, index: int, step: dict[str, Any],
                    record: dict[str, Any]) -> None:
        """A step that failed before any call: the run goes on only under `on_error: continue`."""
        run.record(index, record, next_index=index + 1)
        if step.get("on_error") != CONTINUE:
            self._finish(run, "failed", record.get("error"))

    def _execute_child(self, wf_run_id: str, run_id: str) -> Decision | None:
        decision = Runner(self.rt, self.worker_id).execute(run_id)
        if decision is not None and decision.status.value == "queued" and decision.job_id:
            return Decision(wf_run_id, decision.job_id, decision.delay_s)
        return None

    def _settle_step(self, run: _Run, index: int, child: Any) -> None:
        """Copy the child's result into the step record; end the run when the step says so."""
        step = run.definition["steps"][index]
        run.record(index, {**run.step(index), "status": child.status, "output": child.output,
                           "error": child.error}, next_index=index + 1)
        if child.status == "succeeded":
            return
        if child.status == "in_doubt":
            self._finish(run, "in_doubt", {
                "kind": "in_doubt", "step": step["name"], "run_id": child.id,
                "message": f"step {step['name']!r} may have reached the upstream; it is never "
                           "resent automatically: check the chat, then replay if needed"})
            return
        if step.get("on_error") == CONTINUE:
            return
        message = (child.error or {}).get("message") or child.status
        self._finish(run, "failed", {"kind": (child.error or {}).get("kind", "failed"),
                                     "step": step["name"], "run_id": child.id,
                                     "message": f"step {step['name']!r} failed: {message}"})

    def _finish(self, run: _Run, status: str, error: dict[str, Any] | None) -> None:
        run.set(status=status, error=error, finished_at=utcnow())
        log.info("workflow_run.status", extra={"workflow_run_id": run.id, "status": status})


_CHILDREN = cast(Table, Run.__table__)
_CHILD = (_CHILDREN.c.id, _CHILDREN.c.status, _CHILDREN.c.output, _CHILDREN.c.error)


def _set(records: list[Any], index: int, record: dict[str, Any]) -> list[Any]:
    out = list(records)
    while len(out) <= index:
        out.append({})
    out[index] = record
    return out
