"""REST hooks (Zapier's subscribe/unsubscribe model): subscribe, read, delete, deliveries,
redeliver. The signing secret is in the 201 answer only."""

from flask import Blueprint, Response, jsonify, request

from connector.api.auth import require_workspace_key
from connector.api.idempotency import idempotent
from connector.api.inputs import json_body, page, page_args, runtime, workspace_id
from connector.services import hooks
from connector.services.hooks import delivery_view, hook_view

bp = Blueprint("hooks", __name__, url_prefix="/v1")
require_workspace_key(bp)


@bp.post("/hooks")
@idempotent
def subscribe() -> Response:
    hook, secret = hooks.subscribe(runtime(), workspace_id(), json_body())
    response = jsonify(hook_view(hook, secret))
    response.status_code = 201
    response.headers["Location"] = f"/v1/hooks/{hook.id}"
    return response


@bp.get("/hooks/<hook_id>")
def show(hook_id: str) -> dict[str, object]:
    return hook_view(hooks.get_hook(runtime(), workspace_id(), hook_id))


@bp.delete("/hooks/<hook_id>")
def unsubscribe(hook_id: str) -> Response:
    hooks.unsubscribe(runtime(), workspace_id(), hook_id)
    return Response(status=204)


@bp.get("/hooks/<hook_id>/deliveries")
def deliveries(hook_id: str) -> dict[str, object]:
    limit, cursor = page_args()
    rows = hooks.list_deliveries(runtime(), workspace_id(), hook_id, limit=limit, cursor=cursor)
    return page([delivery_view(d) for d in rows], limit)


@bp.post("/hooks/<hook_id>/deliveries/<delivery_id>/redeliver")
def redeliver(hook_id: str, delivery_id: str) -> Response:
    delivery = hooks.redeliver(runtime(), workspace_id(), hook_id, delivery_id)
    response = jsonify(delivery_view(delivery))
    response.status_code = 202
    response.headers["Location"] = request.path.rsplit("/", 1)[0]
    return response
