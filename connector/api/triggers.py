"""Triggers: the trigger catalog, a connection's trigger feed (newest first, or the sample for
Zapier's performList), and the connection's platform webhook URL."""

from typing import Any

from flask import Blueprint, Response, jsonify, request

from connector.api.auth import require_workspace_key
from connector.api.inputs import page, page_args, runtime, workspace_id
from connector.errors import NotFound
from connector.services import triggers
from connector.services.platform import rotate_endpoint

bp = Blueprint("triggers", __name__, url_prefix="/v1")
require_workspace_key(bp)


@bp.get("/catalog/triggers")
def catalog() -> dict[str, object]:
    connection_id = request.args.get("connection")
    return {"items": triggers.describe_all(runtime(), workspace_id(), connection_id)}


@bp.get("/catalog/triggers/<key>")
def show(key: str) -> dict[str, Any]:
    for view in triggers.describe_all(runtime(), workspace_id(), request.args.get("connection")):
        if view["key"] == key:
            return view
    raise NotFound(f"no trigger {key!r}; GET /v1/catalog/triggers lists them")


@bp.get("/connections/<connection_id>/triggers/<key>/items")
def feed(connection_id: str, key: str) -> dict[str, object]:
    limit, cursor = page_args()
    sample = request.args.get("sample", "false").lower() in ("1", "true", "yes")
    items = triggers.feed(runtime(), workspace_id(), connection_id, key, limit=limit,
                          cursor=cursor, sample=sample)
    return page(items, limit)


@bp.get("/connections/<connection_id>/triggers/<key>")
def state(connection_id: str, key: str) -> dict[str, Any]:
    return triggers.poll_state(runtime(), workspace_id(), connection_id, key)


@bp.post("/connections/<connection_id>/platform-hook")
def platform_hook(connection_id: str) -> Response:
    response = jsonify(rotate_endpoint(runtime(), workspace_id(), connection_id))
    response.status_code = 201
    return response
