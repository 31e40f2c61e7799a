"""Workflows: saving definitions, starting runs (form hooks, trigger items, schedules),
events and replays, the dry run, and how they are shown."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import select

from connector.catalog import FORMAT_CHECKER, schema_registry
from connector.catalog_rules import describe_all
from connector.engine.workflow import check_definition, plan
from connector.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from connector.forms.verify import verify
from connector.ids import new_id, new_token
from connector.queueing import QUEUE_ACTIONS, queue
from connector.runtime import Runtime
from connector.services.intake import (
    ADVANCE_JOB,
    JOB_FAILURE_TTL_S,
    JOB_RESULT_TTL_S,
    JOB_TIMEOUT_S,
    Pending,
    Stored,
    WorkflowChanged,
    advance_job_data,
    intake_for,
)
from connector.store.connections import get_connection
from connector.store.models import Connection
from connector.store.paging import newest_first
from connector.store.workflow_models import Workflow, WorkflowEvent, WorkflowRun

log = logging.getLogger(__name__)

SCHEMA_FILE = "schemas/workflow.schema.json"
SECRET_MASK = "********"


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
    if delay_s > 0:
        q.enqueue_in(timedelta(seconds=delay_s), ADVANCE_JOB, wf_run_id,
                     job_id=job_id or wf_run_id, job_timeout=JOB_TIMEOUT_S,
                     result_ttl=JOB_RESULT_TTL_S, failure_ttl=JOB_FAILURE_TTL_S,
                     description=f"advance_workflow {wf_run_id}")
        return
    with rt.redis.pipeline() as pipe:  # one round trip
        q.enqueue_many([advance_job_data(wf_run_id, job_id)], pipeline=pipe)
        pipe.execute()


def _enqueue_quietly(rt: Runtime, wf_run_id: str) -> None:
    try:
        enqueue_advance(rt, wf_run_id)
    except Exception:  # noqa: BLE001 - Redis down: the row is durable, the workflow sweep runs it
        log.warning("workflow_run.enqueue_deferred", extra={"workflow_run_id": wf_run_id},
                    exc_info=True)


def record_event(rt: Runtime, workflow: Workflow, *, source: str, dedupe_key: str,
                 body: bytes, content_type: str | None, trigger: Any,
                 token_hash: str | None = None) -> Stored:
    """Store the event (raw body encrypted) and its run in one commit and enqueue the run;
    both are done when this returns (`intake.py` groups concurrent events). A duplicate (same
    dedupe key) stores and starts nothing.

    `token_hash`: the hook token the event came in on (`hook_for_token`); the write then
    also checks that the workflow is still at `workflow.version` with that token.

    Raises:
        WorkflowChanged: (with `token_hash`) the workflow was edited or its hook rotated
            since `workflow` was read; nothing was stored.
    """
    now = datetime.now(UTC)
    event_id = new_id("wfe")
    run_id = new_id("wfr") if workflow.active else None
    event = {"id": event_id, "workflow_id": workflow.id, "workspace_id": workflow.workspace_id,
             "source": source, "dedupe_key": dedupe_key[:200],
             "content_type": (content_type or "")[:200],
             "body_encrypted": rt.cipher.encrypt(body.decode("latin-1")),
             "body_bytes": len(body), "duplicates": 0, "last_run_id": run_id,
             "received_at": now,
             "expires_at": now + timedelta(seconds=rt.settings.workflow_retention_s)}
    run = None if run_id is None else {
        "id": run_id, "workflow_id": workflow.id, "workspace_id": workflow.workspace_id,
        "event_id": event_id, "status": "queued", "definition": workflow.definition,
        "trigger_encrypted": rt.cipher.encrypt(json.dumps(trigger)), "step_index": 0,
        "steps": [], "error": None, "created_at": now, "updated_at": now, "started_at": None,
        "finished_at": None}
    checked = token_hash is not None
    return intake_for(rt).store(Pending(
        workflow.id, event, run, version=workflow.version if checked else None,
        token_hash=token_hash))


@dataclass(frozen=True)
class Hook:
    """What a hook URL stands for: its workflow (detached), the plaintext verify secret."""

    workflow: Workflow
    secret: str | None = field(repr=False)
    token_hash: str = field(repr=False)


_HOOK_CACHE: dict[str, tuple[float, Hook | None]] = {}
HOOK_CACHE_TTL_S = 60.0
"""A hook URL's workflow is read from the database at most this often per process. Only a hint:
the write of each submission checks the workflow's version and token (`intake.py`), and a
changed workflow is read again at once, so a rotated URL stops working at once everywhere."""
HOOK_CACHE_MAX = 10_000


def hook_for_token(rt: Runtime, token: str, *, fresh: bool = False) -> Hook | None:
    digest = token_hash(token)
    now = time.monotonic()
    cached = None if fresh else _HOOK_CACHE.get(digest)
    if cached is not None and now - cached[0] < HOOK_CACHE_TTL_S:
        return cached[1]
    with rt.db.session() as session:
        workflow = session.scalars(select(Workflow).where(
            Workflow.hook_token_hash == digest)).one_or_none()
    hook = None if workflow is None else Hook(
        workflow, rt.cipher.decrypt(workflow.secret_encrypted)
        if workflow.secret_encrypted else None, digest)
    if len(_HOOK_CACHE) >= HOOK_CACHE_MAX:
        _HOOK_CACHE.clear()
    _HOOK_CACHE[digest] = (now, hook)
    return hook


def receive_form(rt: Runtime, token: str, *, body: Callable[[], bytes],
                 content_type: str | None, headers: Mapping[str, str],
                 decode: Callable[[Workflow, str | None, bytes], Any]) -> Stored:
    """A form hook's submission: the workflow of the URL's token, the signature check on the
    raw `body()`, `decode` to the normalised form, then `record_event`.

    The hook lookup is cached per process; the write checks the workflow again, and one
    edited or rotated meanwhile is looked up again (changed twice in that instant: 409).

    Raises:
        NotFound: no workflow has this token.
        Unauthenticated: the signature check failed.
        BodyError: (from `decode`) the body can't be read as the product's submission.
    """
    for fresh in (False, True):
        hook = hook_for_token(rt, token, fresh=fresh)
        if hook is None:
            raise NotFound("no workflow has this hook URL (was it rotated?)")
        raw = body()  # after the lookup: an unknown URL is refused before the body is read
        workflow = hook.workflow
        verdict = verify(workflow.definition["trigger"].get("verify"), hook.secret, headers,
                         raw, now=time.time())
        if not verdict.ok:
            raise Unauthenticated(verdict.reason)
        form = decode(workflow, content_type, raw)
        dedupe = f"sub:{form['submission_id']}" if form["submission_id"] else \
            f"sha256:{hashlib.sha256(raw).hexdigest()}"
        try:
            return record_event(rt, workflow, source="form", dedupe_key=dedupe, body=raw,
                                content_type=content_type, trigger=form,
                                token_hash=hook.token_hash)
        except WorkflowChanged:
            continue
    raise Conflict("the workflow changed while the submission was stored; send it again")


def forget_tokens() -> None:
    """Drop this process's hook cache (after a rotation or an update here)."""
    _HOOK_CACHE.clear()


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
        stored = record_event(rt, workflow, source="trigger_item", dedupe_key=dedupe,
                              body=body, content_type="application/json", trigger=dict(item))
        if stored.run_id is not None and not stored.duplicate:
            started.append(stored.run_id)
    return started


def start_scheduled(rt: Runtime, workflow_id: str, *, tick: int) -> str | None:
    with rt.db.session() as session:
        workflow = session.get(Workflow, workflow_id)
    if workflow is None or workflow.trigger_kind != "schedule" or not workflow.active:
        return None
    trigger = {"scheduled_at": datetime.now(UTC).isoformat(),
               "data": workflow.definition["trigger"].get("data") or {}}
    stored = record_event(rt, workflow, source="schedule", dedupe_key=f"tick:{tick}",
                          body=json.dumps(trigger).encode(), content_type="application/json",
                          trigger=trigger)
    return None if stored.duplicate else stored.run_id


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
