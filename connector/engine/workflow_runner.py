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
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

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


def load_trigger(rt: Runtime, wf_run: WorkflowRun) -> Any:
    if not wf_run.trigger_encrypted:
        return None
    return json.loads(rt.cipher.decrypt(wf_run.trigger_encrypted))


class WorkflowRunner:
    def __init__(self, runtime: Runtime, worker_id: str) -> None:
        self.rt, self.worker_id = runtime, worker_id

    def advance(self, wf_run_id: str) -> Decision | None:
        with self.rt.db.session() as session:
            wf_run = session.get(WorkflowRun, wf_run_id)
            if wf_run is None or wf_run.status not in ACTIVE:
                return None
            if wf_run.status == "queued":
                wf_run.status, wf_run.started_at = "running", utcnow()
        trigger = load_trigger(self.rt, wf_run)
        definition = wf_run.definition
        steps = definition["steps"]
        while True:
            with self.rt.db.session() as session:
                wf_run = session.get(WorkflowRun, wf_run_id)
            if wf_run is None or wf_run.status not in ACTIVE:
                return None
            index = wf_run.step_index
            if index >= len(steps):
                self._finish(wf_run_id, "succeeded", None)
                return None
            record = dict(wf_run.steps[index]) if index < len(wf_run.steps) else {}
            if not record.get("run_id"):
                started = self._start_step(wf_run, index, trigger)
                if started is None:
                    continue  # skipped or failed before any call: the record moved on
                record = started
            decision = self._execute_child(wf_run_id, record["run_id"])
            if decision is not None:
                return decision
            with self.rt.db.session() as session:
                child = session.get(Run, record["run_id"])
            assert child is not None
            if child.status in ("queued", "running"):
                return None  # someone else holds it; the workflow sweep advances us later
            if not self._settle_step(wf_run_id, index, child):
                return None

    # -- steps -------------------------------------------------------------------------------

    def _outputs(self, wf_run: WorkflowRun) -> dict[str, Any]:
        return {r["name"]: r.get("output") for r in wf_run.steps if r.get("name")}

    def _start_step(self, wf_run: WorkflowRun, index: int, trigger: Any) -> dict[str, Any] | None:
        """Resolve the step; create its child run, or record a skip / mapping failure."""
        definition = wf_run.definition
        step = definition["steps"][index]
        base = {"name": step["name"], "action": step["action"], "run_id": None}
        kind = definition["trigger"]["kind"]
        try:
            resolved = resolve_step(step, index, context_for(kind, trigger, self._outputs(wf_run)),
                                    self.rt.catalog, definition.get("default_region"))
        except MappingError as error:
            self._record(wf_run.id, index, {**base, "status": "failed",
                                            "error": mapping_error(step, error)},
                         failed=step.get("on_error") != CONTINUE)
            return None
        if resolved.skip:
            self._record(wf_run.id, index, {**base, "status": "skipped", "output": None})
            return None
        if resolved.errors:
            errors = [{"pointer": p, "message": m} for p, m in resolved.errors]
            message = f"step {step['name']!r}: the input of {step['action']!r} is not valid: " \
                + "; ".join(f"{e['pointer']} {e['message']}" for e in errors)
            self._record(wf_run.id, index, {**base, "status": "failed", "input": resolved.input,
                                            "error": {"kind": "invalid", "step": step["name"],
                                                      "message": message, "errors": errors}},
                         failed=step.get("on_error") != CONTINUE)
            return None
        with self.rt.db.session() as session:
            current = session.execute(select(WorkflowRun).where(WorkflowRun.id == wf_run.id)
                                      .with_for_update()).scalar_one()
            existing = current.steps[index] if index < len(current.steps) else {}
            if existing.get("run_id"):
                return dict(existing)  # another advance created it first
            child = runs.create_run(session, workspace_id=current.workspace_id,
                                    connection_id=definition["connection_id"],
                                    action_key=step["action"], data=resolved.input,
                                    queue="actions")
            record = {**base, "run_id": child.id, "status": "running", "input": resolved.input}
            current.steps = _set(current.steps, index, record)
        return record

    def _execute_child(self, wf_run_id: str, run_id: str) -> Decision | None:
        decision = Runner(self.rt, self.worker_id).execute(run_id)
        if decision is not None and decision.status.value == "queued" and decision.job_id:
            return Decision(wf_run_id, decision.job_id, decision.delay_s)
        return None

    def _settle_step(self, wf_run_id: str, index: int, child: Run) -> bool:
        """Copy the child's result into the step record; False when the run ends here."""
        with self.rt.db.session() as session:
            wf_run = session.get(WorkflowRun, wf_run_id)
            assert wf_run is not None
            step = wf_run.definition["steps"][index]
            record = {**wf_run.steps[index], "status": child.status, "output": child.output,
                      "error": child.error}
            wf_run.steps = _set(wf_run.steps, index, record)
            wf_run.step_index = index + 1
        if child.status == "succeeded":
            return True
        if child.status == "in_doubt":
            self._finish(wf_run_id, "in_doubt", {
                "kind": "in_doubt", "step": step["name"], "run_id": child.id,
                "message": f"step {step['name']!r} may have reached the upstream; it is never "
                           "resent automatically: check the chat, then replay if needed"})
            return False
        if step.get("on_error") == CONTINUE:
            return True
        message = (child.error or {}).get("message") or child.status
        self._finish(wf_run_id, "failed", {"kind": (child.error or {}).get("kind", "failed"),
                                           "step": step["name"], "run_id": child.id,
                                           "message": f"step {step['name']!r} failed: {message}"})
        return False

    def _record(self, wf_run_id: str, index: int, record: dict[str, Any],
                failed: bool = False) -> None:
        with self.rt.db.session() as session:
            wf_run = session.get(WorkflowRun, wf_run_id)
            assert wf_run is not None
            wf_run.steps = _set(wf_run.steps, index, record)
            wf_run.step_index = index + 1
        if failed:
            self._finish(wf_run_id, "failed", record.get("error"))

    def _finish(self, wf_run_id: str, status: str, error: dict[str, Any] | None) -> None:
        with self.rt.db.session() as session:
            wf_run = session.get(WorkflowRun, wf_run_id)
            if wf_run is None or wf_run.status not in ACTIVE:
                return
            wf_run.status, wf_run.error, wf_run.finished_at = status, error, utcnow()
        log.info("workflow_run.status", extra={"workflow_run_id": wf_run_id, "status": status})


def _set(records: list[Any], index: int, record: dict[str, Any]) -> list[Any]:
    out = list(records)
    while len(out) <= index:
        out.append({})
    out[index] = record
    return out
