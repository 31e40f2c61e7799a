"""Runs: list, read (with the redacted upstream exchanges), and explicit retry."""

from flask import Blueprint, Response, jsonify, request

from connector.api.auth import require_workspace_key
from connector.api.idempotency import idempotent
from connector.api.inputs import page, page_args, runtime, workspace_id
from connector.errors import NotFound
from connector.services.runs import replay, run_view
from connector.store import runs

bp = Blueprint("runs", __name__, url_prefix="/v1")
require_workspace_key(bp)


@bp.get("/runs")
def list_runs() -> dict[str, object]:
    limit, cursor = page_args()
    with runtime().db.session() as session:
        rows = runs.list_runs(session, workspace_id(), limit=limit, cursor=cursor,
                              status=request.args.get("status"),
                              connection_id=request.args.get("connection"))
    base = request.host_url.rstrip("/")
    return page([run_view(r, base) for r in rows], limit)


@bp.get("/runs/<run_id>")
def get_run(run_id: str) -> dict[str, object]:
    with runtime().db.session() as session:
        run = runs.get_run(session, workspace_id(), run_id)
    if run is None:
        raise NotFound(f"no run {run_id!r} in this workspace")
    return run_view(run, request.host_url.rstrip("/"))


@bp.post("/runs/<run_id>/retry")
@idempotent
def retry_run(run_id: str) -> Response:
    run = replay(runtime(), workspace_id(), run_id)
    response = jsonify(run_view(run, request.host_url.rstrip("/")))
    response.status_code = 202
    response.headers["Location"] = f"/v1/runs/{run.id}"
    return response
