"""`POST /v1/connections/{id}/actions/{key}`: validate, store a run, enqueue, answer.

202 with the run and its URL; with `Prefer: wait=N`, 200 with the finished run when it ends
within N seconds.
"""

from flask import Blueprint, Response, jsonify, request

from connector.api.auth import require_workspace_key
from connector.api.idempotency import idempotent
from connector.api.inputs import json_body, prefer_wait_s, runtime, workspace_id
from connector.services.runs import run_view, submit_action, wait_for
from connector.store.states import RunStatus

bp = Blueprint("actions", __name__, url_prefix="/v1")
require_workspace_key(bp)


@bp.post("/connections/<connection_id>/actions/<key>")
@idempotent
def call_action(connection_id: str, key: str) -> Response:
    rt = runtime()
    data = json_body()
    wait_s = prefer_wait_s(rt.settings.run_wait_max_s)
    run = submit_action(rt, workspace_id(), connection_id, key, data, notify=bool(wait_s))
    if wait_s:
        run = wait_for(rt, run.id, wait_s)
    finished = RunStatus(run.status).is_terminal
    response = jsonify(run_view(run, request.host_url.rstrip("/")))
    response.status_code = 200 if finished else 202
    response.headers["Location"] = f"/v1/runs/{run.id}"
    if wait_s:
        response.headers["Preference-Applied"] = f"wait={int(wait_s)}"
    return response
