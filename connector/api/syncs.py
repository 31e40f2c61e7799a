"""Syncs: define (secrets encrypted, never returned), upload a CSV, start and watch runs,
read rejected records."""

from flask import Blueprint, Response, jsonify, request

from connector.api.auth import require_workspace_key
from connector.api.idempotency import idempotent
from connector.api.inputs import json_body, page, page_args, runtime, workspace_id
from connector.errors import NotFound, UnsupportedMediaType, ValidationFailed
from connector.services import syncs as service
from connector.store import syncs as store
from connector.store.sync_models import SyncRun

bp = Blueprint("syncs", __name__, url_prefix="/v1")
require_workspace_key(bp)


@bp.post("/syncs")
@idempotent
def create() -> Response:
    sync = service.create_sync(runtime(), workspace_id(), json_body())
    response = jsonify(service.sync_view(sync))
    response.status_code = 201
    response.headers["Location"] = f"/v1/syncs/{sync.id}"
    return response


@bp.get("/syncs")
def index() -> dict[str, object]:
    limit, cursor = page_args()
    with runtime().db.session() as session:
        rows = store.list_syncs(session, workspace_id(), limit=limit, cursor=cursor)
    return page([service.sync_view(s) for s in rows], limit)


@bp.get("/syncs/<sync_id>")
def show(sync_id: str) -> dict[str, object]:
    return service.sync_view(service.load_sync(runtime(), workspace_id(), sync_id))


@bp.patch("/syncs/<sync_id>")
def patch(sync_id: str) -> dict[str, object]:
    body = json_body()
    if set(body) != {"enabled"} or not isinstance(body["enabled"], bool):
        raise ValidationFailed("only 'enabled' (true or false) can be changed",
                               errors=[{"pointer": "", "message": "send {\"enabled\": bool}"}])
    return service.sync_view(service.set_enabled(runtime(), workspace_id(), sync_id,
                                                 body["enabled"]))


@bp.put("/syncs/<sync_id>/file")
def upload(sync_id: str) -> dict[str, object]:
    if request.mimetype not in ("text/csv", "text/plain"):
        raise UnsupportedMediaType(f"send the file as text/csv (got {request.mimetype or 'none'})")
    content = request.get_data(cache=False).decode("utf-8-sig", errors="replace")
    return service.upload_file(runtime(), workspace_id(), sync_id, content,
                               request.args.get("filename"))


@bp.post("/syncs/<sync_id>/run")
def run(sync_id: str) -> Response:
    sync = service.load_sync(runtime(), workspace_id(), sync_id)
    sync_run, started = service.start_run(runtime(), sync, "manual")
    response = jsonify({**service.run_view(sync_run), "started": started})
    response.status_code = 202 if started else 200
    response.headers["Location"] = f"/v1/syncs/{sync_id}/runs/{sync_run.id}"
    return response


@bp.get("/syncs/<sync_id>/runs")
def runs(sync_id: str) -> dict[str, object]:
    service.load_sync(runtime(), workspace_id(), sync_id)
    limit, cursor = page_args()
    with runtime().db.session() as session:
        rows = store.list_runs(session, sync_id, limit=limit, cursor=cursor)
    return page([service.run_view(r) for r in rows], limit)


@bp.get("/syncs/<sync_id>/runs/<run_id>")
def show_run(sync_id: str, run_id: str) -> dict[str, object]:
    service.load_sync(runtime(), workspace_id(), sync_id)
    with runtime().db.session() as session:
        sync_run = session.get(SyncRun, run_id)
    if sync_run is None or sync_run.sync_id != sync_id:
        raise NotFound(f"no run {run_id!r} of sync {sync_id!r}")
    return service.run_view(sync_run)


@bp.get("/syncs/<sync_id>/rejected")
def rejected(sync_id: str) -> dict[str, object]:
    service.load_sync(runtime(), workspace_id(), sync_id)
    limit, cursor = page_args()
    if cursor is not None and not cursor.isdigit():
        raise ValidationFailed("cursor must come from next_cursor",
                               errors=[{"pointer": "/cursor", "message": f"got {cursor!r}"}])
    with runtime().db.session() as session:
        rows = store.list_rejects(session, sync_id, run_id=request.args.get("run"), limit=limit,
                                  cursor=int(cursor) if cursor else None)
    return page([service.reject_view(r) for r in rows], limit)
