"""Workflows: define (`POST /v1/workflows`), read, update, rotate the hook URL, dry-run,
list events and runs, replay an event."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from connector.api.auth import require_workspace_key
from connector.api.form_hooks import _body_problem, trigger_of
from connector.api.idempotency import idempotent
from connector.api.inputs import json_body, page, page_args, runtime, workspace_id
from connector.errors import ValidationFailed
from connector.forms.decode import BodyError
from connector.forms.presets import normalize
from connector.services import workflows as svc

bp = Blueprint("workflows", __name__, url_prefix="/v1")
require_workspace_key(bp)


@bp.post("/workflows")
@idempotent
def create() -> Response:
    rt = runtime()
    workflow = svc.create_workflow(rt, workspace_id(), json_body())
    response = jsonify(svc.workflow_view(rt, workflow))
    response.status_code = 201
    response.headers["Location"] = f"/v1/workflows/{workflow.id}"
    return response


@bp.get("/workflows")
def list_all() -> dict[str, Any]:
    rt = runtime()
    limit, cursor = page_args()
    rows = svc.list_workflows(rt, workspace_id(), limit=limit, cursor=cursor)
    return page([svc.workflow_view(rt, w) for w in rows], limit)


@bp.get("/workflows/<workflow_id>")
def get(workflow_id: str) -> dict[str, Any]:
    rt = runtime()
    return svc.workflow_view(rt, svc.get_workflow(rt, workspace_id(), workflow_id))


@bp.put("/workflows/<workflow_id>")
def update(workflow_id: str) -> dict[str, Any]:
    rt = runtime()
    return svc.workflow_view(rt, svc.update_workflow(rt, workspace_id(), workflow_id,
                                                     json_body()))


@bp.post("/workflows/<workflow_id>/rotate")
def rotate(workflow_id: str) -> dict[str, Any]:
    rt = runtime()
    return svc.workflow_view(rt, svc.rotate_hook(rt, workspace_id(), workflow_id))


@bp.post("/workflows/<workflow_id>/test")
def test(workflow_id: str) -> dict[str, Any]:
    """Dry run. Body: `{"trigger": {...}}` (the data as runs see it), or for form workflows
    `{"payload": <the product's JSON body>}` or `{"body": "<raw>", "content_type": "..."}`."""
    rt = runtime()
    workflow = svc.get_workflow(rt, workspace_id(), workflow_id)
    body = json_body()
    product = str(workflow.definition["trigger"].get("product") or "generic")
    if "trigger" in body:
        trigger = body["trigger"]
    elif "payload" in body:
        trigger = normalize(product, body["payload"])
    elif isinstance(body.get("body"), str):
        try:
            trigger = trigger_of(workflow, str(body.get("content_type") or "application/json"),
                                 body["body"].encode("utf-8"))
        except BodyError as error:
            raise _body_problem(error) from None
    else:
        raise ValidationFailed("give a sample as 'trigger', 'payload' or 'body'",
                               errors=[{"pointer": "", "message": "no sample"}])
    return svc.dry_run(rt, workflow, trigger)


@bp.get("/workflows/<workflow_id>/events")
def events(workflow_id: str) -> dict[str, Any]:
    limit, cursor = page_args()
    return page(svc.list_events(runtime(), workspace_id(), workflow_id, limit=limit,
                                cursor=cursor), limit)


@bp.post("/workflows/<workflow_id>/events/<event_id>/replay")
@idempotent
def replay(workflow_id: str, event_id: str) -> Response:
    rt = runtime()
    wf_run = svc.replay_event(rt, workspace_id(), workflow_id, event_id, trigger_of)
    response = jsonify(svc.workflow_run_view(wf_run))
    response.status_code = 202
    response.headers["Location"] = f"/v1/workflow-runs/{wf_run.id}"
    return response


@bp.get("/workflows/<workflow_id>/runs")
def runs(workflow_id: str) -> dict[str, Any]:
    limit, cursor = page_args()
    rows = svc.list_workflow_runs(runtime(), workspace_id(), workflow_id, limit=limit,
                                  cursor=cursor)
    return page([svc.workflow_run_view(r) for r in rows], limit)


@bp.get("/workflow-runs/<wf_run_id>")
def get_run(wf_run_id: str) -> dict[str, Any]:
    return svc.workflow_run_view(svc.get_workflow_run(runtime(), workspace_id(), wf_run_id))


