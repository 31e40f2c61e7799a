"""Workflows: saving definitions, starting runs (form hooks, trigger items, schedules),
events and replays, the dry run, and how they are shown."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connector.catalog import FORMAT_CHECKER, schema_registry
from connector.catalog_rules import describe_all
from connector.engine.workflow import check_definition, plan
from connector.errors import Conflict, NotFound, ValidationFailed
from connector.ids import new_id, new_token
from connector.queueing import QUEUE_ACTIONS, queue
from connector.runtime import Runtime
from connector.store.connections import get_connection
from connector.store.models import Connection
from connector.store.paging import newest_first
from connector.store.workflow_models import Workflow, WorkflowEvent, WorkflowRun

log = logging.getLogger(__name__)

SCHEMA_FILE = "schemas/workflow.schema.json"
SECRET_MASK = "********"
ADVANCE_JOB = "connector.jobs.advance_workflow"
JOB_TIMEOUT_S = 600


@lru_cache(maxsize=4)
def _validator(root: str) -> Draft202012Validator:
    schema = json.loads((Path(root) / SCHEMA_FILE).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, registry=schema_registry(Path(root)),
                                format_checker=FORMAT_CHECKER)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- definitions ----------------------------------------------------------------------------


def _checked(rt: Runtime, workspace_id: str, body: dict[str, Any]) -> Connection:
    errors = describe_all(_validator(rt.settings.definitions_path).iter_errors(body))
    if errors:
        raise ValidationFailed("the workflow definition is not valid",
                               errors=[{"pointer": p, "message": m} for p, m in errors])
    with rt.db.session() as session:
        connection = get_connection(session, workspace_id, body["connection_id"])
    if connection is None:
        raise ValidationFailed("the workflow names an unknown connection", errors=[
            {"pointer": "/connection_id", "message": f"no connection {body['connection_id']!r} "
             "in this workspace"}])
    problems = check_definition(body, rt.catalog, connection.provider)
    verify = (body["trigger"].get("verify") or {})
    if verify and verify.get("scheme") in ("hmac", "shared_secret") and not verify.get("header"):
        problems.append(("/trigger/verify/header", f"{verify['scheme']} needs the 'header' that "
                         "carries the signature"))
    if problems:
        raise ValidationFailed("the workflow definition has problems",
                               errors=[{"pointer": p, "message": m} for p, m in problems])
    return connection


def _split_secret(body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The definition without its verify secret, and the secret."""
    definition = json.loads(json.dumps(body))
    verify = definition["trigger"].get("verify") or {}
    secret = verify.pop("secret", None)
    return definition, secret


def create_workflow(rt: Runtime, workspace_id: str, body: dict[str, Any]) -> Workflow:
    _checked(rt, workspace_id, body)
    definition, secret = _split_secret(body)
    if (definition["trigger"].get("verify") or {}) and not secret:
        raise ValidationFailed("the signature check needs its secret", errors=[
            {"pointer": "/trigger/verify/secret", "message": "add the signing secret"}])
    trigger = definition["trigger"]
    workflow = Workflow(id=new_id("wfl"), workspace_id=workspace_id,
                        connection_id=definition["connection_id"], name=definition["name"],
                        trigger_kind=trigger["kind"], trigger_key=trigger.get("trigger"),
                        definition=definition, active=definition.get("active", True),
                        secret_encrypted=rt.cipher.encrypt(secret) if secret else None)
    if trigger["kind"] == "form":
        _new_hook_token(rt, workflow)
    with rt.db.session() as session:
        session.add(workflow)
    return workflow


def update_workflow(rt: Runtime, workspace_id: str, workflow_id: str,
                    body: dict[str, Any]) -> Workflow:
    _checked(rt, workspace_id, body)
    definition, secret = _split_secret(body)
    with rt.db.session() as session:
        workflow = _owned(session, workspace_id, workflow_id)
        trigger = definition["trigger"]
        if secret:
            workflow.secret_encrypted = rt.cipher.encrypt(secret)
        elif trigger.get("verify") and not workflow.secret_encrypted:
            raise ValidationFailed("the signature check needs its secret", errors=[
                {"pointer": "/trigger/verify/secret", "message": "add the signing secret"}])
        workflow.definition = definition
        workflow.name, workflow.connection_id = definition["name"], definition["connection_id"]
        workflow.trigger_kind, workflow.trigger_key = trigger["kind"], trigger.get("trigger")
        workflow.active = definition.get("active", True)
        workflow.version += 1
        if trigger["kind"] == "form" and not workflow.hook_token_hash:
            _new_hook_token(rt, workflow)
    forget_tokens()
    return workflow


def _new_hook_token(rt: Runtime, workflow: Workflow) -> None:
    token = new_token(24)
    workflow.hook_token_hash = token_hash(token)
    workflow.hook_token_encrypted = rt.cipher.encrypt(token)


def rotate_hook(rt: Runtime, workspace_id: str, workflow_id: str) -> Workflow:
    """A new secret URL; the old one stops working at once."""
    with rt.db.session() as session:
        workflow = _owned(session, workspace_id, workflow_id)
        if workflow.trigger_kind != "form":
            raise Conflict("only form workflows have a hook URL")
        _new_hook_token(rt, workflow)
    forget_tokens()
    return workflow


def _owned(session: Any, workspace_id: str, workflow_id: str) -> Workflow:
    workflow: Workflow | None = session.get(Workflow, workflow_id)
    if workflow is None or workflow.workspace_id != workspace_id:
        raise NotFound(f"no workflow {workflow_id!r} in this workspace")
    return workflow


def get_workflow(rt: Runtime, workspace_id: str, workflow_id: str) -> Workflow:
    with rt.db.session() as session:
        return _owned(session, workspace_id, workflow_id)


def list_workflows(rt: Runtime, workspace_id: str, *, limit: int,
                   cursor: str | None) -> list[Workflow]:
    query = select(Workflow).where(Workflow.workspace_id == workspace_id)
    with rt.db.session() as session:
        return newest_first(session, query, Workflow.id, cursor=cursor,
                            limit=limit)


def hook_url(rt: Runtime, workflow: Workflow) -> str | None:
    if not workflow.hook_token_encrypted:
        return None
    token = rt.cipher.decrypt(workflow.hook_token_encrypted)
    return f"{rt.settings.public_base_url.rstrip('/')}/hooks/in/{token}"


def workflow_view(rt: Runtime, workflow: Workflow) -> dict[str, Any]:
    definition = json.loads(json.dumps(workflow.definition))
    if workflow.secret_encrypted and definition["trigger"].get("verify"):
        definition["trigger"]["verify"]["secret"] = SECRET_MASK
    return {"id": workflow.id, "name": workflow.name, "active": workflow.active,
            "version": workflow.version, "hook_url": hook_url(rt, workflow),
            "definition": definition, "created_at": _iso(workflow.created_at),
            "updated_at": _iso(workflow.updated_at)}


# -- starting runs ----------------------------------------------------------------------------


def _new_run(rt: Runtime, workflow: Workflow, event_id: str | None, trigger: Any) -> WorkflowRun:
    return WorkflowRun(id=new_id("wfr"), workflow_id=workflow.id,
                       workspace_id=workflow.workspace_id, event_id=event_id, status="queued",
                       definition=workflow.definition, steps=[], step_index=0,
                       trigger_encrypted=rt.cipher.encrypt(json.dumps(trigger)))


def enqueue_advance(rt: Runtime, wf_run_id: str, job_id: str | None = None,
                    delay_s: float = 0.0) -> None:
    q = queue(rt, QUEUE_ACTIONS)
    options: dict[str, Any] = {"job_id": job_id or wf_run_id, "job_timeout": JOB_TIMEOUT_S,
                               "result_ttl": 60, "failure_ttl": 7 * 86400,
                               "description": f"advance_workflow {wf_run_id}"}
    if delay_s > 0:
        q.enqueue_in(timedelta(seconds=delay_s), ADVANCE_JOB, wf_run_id, **options)
        return
    # One round trip: the hook answers only after this, so it is on every submission's path.
    options["timeout"] = options.pop("job_timeout")
    with rt.redis.pipeline() as pipe:
        q.enqueue_call(ADVANCE_JOB, args=(wf_run_id,), pipeline=pipe, **options)
        pipe.execute()


def _enqueue_quietly(rt: Runtime, wf_run_id: str) -> None:
    try:
        enqueue_advance(rt, wf_run_id)
    except Exception:  # noqa: BLE001 - Redis down: the row is durable, the workflow sweep runs it
        log.warning("workflow_run.enqueue_deferred", extra={"workflow_run_id": wf_run_id},
                    exc_info=True)


def record_event(rt: Runtime, workflow: Workflow, *, source: str, dedupe_key: str,
                 body: bytes, content_type: str | None, trigger: Any,
                 ) -> tuple[WorkflowEvent, WorkflowRun | None, bool]:
    """Store the event (raw body encrypted) and its run in one commit, then enqueue the run.

    Returns (event, run, duplicate). A duplicate (same dedupe key) stores and starts nothing.
    """
    now = datetime.now(UTC)
    event = WorkflowEvent(
        id=new_id("wfe"), workflow_id=workflow.id, workspace_id=workflow.workspace_id,
        source=source, dedupe_key=dedupe_key[:200], content_type=(content_type or "")[:200],
        body_encrypted=rt.cipher.encrypt(body.decode("latin-1")), body_bytes=len(body),
        received_at=now, expires_at=now + timedelta(seconds=rt.settings.workflow_retention_s),
        duplicates=0, last_run_id=None)
    run = _new_run(rt, workflow, event.id, trigger) if workflow.active else None
    if run is not None:
        event.last_run_id = run.id
        run.created_at = run.updated_at = now
    try:
        with rt.db.session() as session:
            session.add(event)
            if run is not None:
                session.add(run)
    except IntegrityError:
        with rt.db.session() as session:
            existing = session.scalars(select(WorkflowEvent).where(
                WorkflowEvent.workflow_id == workflow.id,
                WorkflowEvent.dedupe_key == dedupe_key[:200])).one()
            existing.duplicates += 1
        return existing, None, True
    if run is not None:
        _enqueue_quietly(rt, run.id)
    return event, run, False


_TOKEN_CACHE: dict[str, tuple[float, Workflow | None]] = {}
TOKEN_CACHE_TTL_S = 2.0
"""A hook URL's workflow is looked up at most this often per process (ingest stays one DB
transaction); a rotated or edited workflow is seen by every process within this time."""


def workflow_for_token(rt: Runtime, token: str) -> Workflow | None:
    digest = token_hash(token)
    now = time.monotonic()
    cached = _TOKEN_CACHE.get(digest)
    if cached is not None and now - cached[0] < TOKEN_CACHE_TTL_S:
        return cached[1]
    with rt.db.session() as session:
        workflow = session.scalars(select(Workflow).where(
            Workflow.hook_token_hash == digest)).one_or_none()
    if len(_TOKEN_CACHE) > 10_000:
        _TOKEN_CACHE.clear()
    _TOKEN_CACHE[digest] = (now, workflow)
    return workflow


def forget_tokens() -> None:
    """Drop this process's token cache (after a rotation or an update here)."""
    _TOKEN_CACHE.clear()


def start_from_trigger_item(rt: Runtime, *, workspace_id: str, trigger_key: str,
                            item: Mapping[str, Any], connection_id: str | None = None,
                            item_id: str | None = None) -> list[str]:
    """The hook point for trigger items: start every active workflow of the workspace that
    listens to `trigger_key` (and, when given, runs on `connection_id`). An item seen before
    by a workflow (by `item_id`, else its catalog dedupe key, else a hash) starts nothing.

    Returns the ids of the workflow runs started.
    """
    query = select(Workflow).where(Workflow.workspace_id == workspace_id,
                                   Workflow.trigger_kind == "trigger_item",
                                   Workflow.trigger_key == trigger_key,
                                   Workflow.active.is_(True))
    if connection_id:
        query = query.where(Workflow.connection_id == connection_id)
    with rt.db.session() as session:
        workflows = list(session.scalars(query))
    body = json.dumps(item, sort_keys=True, default=str).encode()
    definition = rt.catalog.triggers.get(trigger_key)
    key = item_id or (str(item.get(definition.dedupe_key)) if definition and
                      item.get(definition.dedupe_key) is not None else None)
    dedupe = f"item:{key}" if key else f"sha256:{hashlib.sha256(body).hexdigest()}"
    started = []
    for workflow in workflows:
        _, run, duplicate = record_event(rt, workflow, source="trigger_item", dedupe_key=dedupe,
                                         body=body, content_type="application/json",
                                         trigger=dict(item))
        if run is not None and not duplicate:
            started.append(run.id)
    return started


def start_scheduled(rt: Runtime, workflow_id: str, *, tick: int) -> str | None:
    with rt.db.session() as session:
        workflow = session.get(Workflow, workflow_id)
    if workflow is None or workflow.trigger_kind != "schedule" or not workflow.active:
        return None
    trigger = {"scheduled_at": datetime.now(UTC).isoformat(),
               "data": workflow.definition["trigger"].get("data") or {}}
    _, run, _ = record_event(rt, workflow, source="schedule", dedupe_key=f"tick:{tick}",
                             body=json.dumps(trigger).encode(), content_type="application/json",
                             trigger=trigger)
    return run.id if run else None


# -- runs, events, replay ---------------------------------------------------------------------


def get_workflow_run(rt: Runtime, workspace_id: str, wf_run_id: str) -> WorkflowRun:
    with rt.db.session() as session:
        wf_run = session.get(WorkflowRun, wf_run_id)
    if wf_run is None or wf_run.workspace_id != workspace_id:
        raise NotFound(f"no workflow run {wf_run_id!r} in this workspace")
    return wf_run


def list_workflow_runs(rt: Runtime, workspace_id: str, workflow_id: str, *, limit: int,
                       cursor: str | None) -> list[WorkflowRun]:
    get_workflow(rt, workspace_id, workflow_id)
    query = select(WorkflowRun).where(WorkflowRun.workflow_id == workflow_id)
    with rt.db.session() as session:
        return newest_first(session, query, WorkflowRun.id, cursor=cursor,
                            limit=limit)


def workflow_run_view(wf_run: WorkflowRun) -> dict[str, Any]:
    return {"id": wf_run.id, "workflow_id": wf_run.workflow_id, "event_id": wf_run.event_id,
            "status": wf_run.status, "error": wf_run.error, "steps": wf_run.steps,
            "created_at": _iso(wf_run.created_at), "started_at": _iso(wf_run.started_at),
            "finished_at": _iso(wf_run.finished_at)}


def list_events(rt: Runtime, workspace_id: str, workflow_id: str, *, limit: int,
                cursor: str | None) -> list[dict[str, Any]]:
    get_workflow(rt, workspace_id, workflow_id)
    query = select(WorkflowEvent).where(WorkflowEvent.workflow_id == workflow_id)
    with rt.db.session() as session:
        events = newest_first(session, query, WorkflowEvent.id, cursor=cursor,
                              limit=limit)
        run_ids = [e.last_run_id for e in events if e.last_run_id]
        wf_runs = {r.id: r for r in session.scalars(
            select(WorkflowRun).where(WorkflowRun.id.in_(run_ids)))} if run_ids else {}
    return [event_view(e, wf_runs.get(e.last_run_id or "")) for e in events]


def event_view(event: WorkflowEvent, wf_run: WorkflowRun | None) -> dict[str, Any]:
    return {"id": event.id, "source": event.source, "dedupe_key": event.dedupe_key,
            "content_type": event.content_type, "body_bytes": event.body_bytes,
            "duplicates": event.duplicates, "received_at": _iso(event.received_at),
            "expires_at": _iso(event.expires_at), "body_kept": event.body_encrypted is not None,
            "run": None if wf_run is None else {"id": wf_run.id, "status": wf_run.status,
                                                "error": wf_run.error}}


def replay_event(rt: Runtime, workspace_id: str, workflow_id: str, event_id: str,
                 trigger_of: Any) -> WorkflowRun:
    """A new run of the stored submission through the *current* definition.

    `trigger_of(workflow, content_type, raw)` decodes the stored body again (the form
    decoders live with the hook endpoint). A run that is still going or in_doubt is not
    replayed: an in_doubt send may have reached the contact.
    """
    workflow = get_workflow(rt, workspace_id, workflow_id)
    with rt.db.session() as session:
        event = session.get(WorkflowEvent, event_id)
        if event is None or event.workflow_id != workflow_id:
            raise NotFound(f"no event {event_id!r} in this workflow")
        last = session.get(WorkflowRun, event.last_run_id) if event.last_run_id else None
    if last is not None and last.status in ("queued", "running"):
        raise Conflict(f"the event's run {last.id!r} is still {last.status}")
    if last is not None and last.status == "in_doubt":
        raise Conflict(f"the event's run {last.id!r} is in_doubt: a message may have been "
                       "sent; check the chat before sending again (replay the step's run with "
                       "POST /v1/runs/{id}/retry if it was not)")
    if event.body_encrypted is None:
        raise Conflict("the submission's body is past its retention and was deleted")
    raw = rt.cipher.decrypt(event.body_encrypted).encode("latin-1")
    if event.source == "form":
        trigger = trigger_of(workflow, event.content_type, raw)
    else:
        trigger = json.loads(raw)
    wf_run = _new_run(rt, workflow, event.id, trigger)
    with rt.db.session() as session:
        session.add(wf_run)
        stored = session.get(WorkflowEvent, event_id)
        assert stored is not None
        stored.last_run_id = wf_run.id
    _enqueue_quietly(rt, wf_run.id)
    return wf_run


# -- dry run -----------------------------------------------------------------------------------


def dry_run(rt: Runtime, workflow: Workflow, trigger: Any) -> dict[str, Any]:
    """Resolve every step against `trigger`; no run, no upstream call."""
    with rt.db.session() as session:
        connection = session.get(Connection, workflow.connection_id)
    assert connection is not None

    def explain(action_key: str, data: Mapping[str, Any]) -> Mapping[str, Any] | None:
        if action_key != "send_message":
            return None
        return _window_detail(rt, connection, data)

    steps = plan(workflow.definition, trigger, rt.catalog, connection.provider, explain)
    return {"workflow_id": workflow.id, "trigger": trigger, "steps": steps,
            "calls_made": 0}


def _window_detail(rt: Runtime, connection: Connection,
                   data: Mapping[str, Any]) -> dict[str, Any] | None:
    from connector.engine.context import call_context
    from connector.providers import corbital_window
    from connector.providers.dialect import Stop

    ctx = call_context(rt, connection, "")
    try:
        path = corbital_window.path_for(ctx, data)
    except Stop as stop:
        return {"error": stop.outcome.message}
    return {"path": path.kind, "reason": path.reason}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
