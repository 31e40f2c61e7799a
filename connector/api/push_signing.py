"""The signature a connection's platform webhook URL requires of pushes (WBIZ's signing
secret): `PUT`, `GET`, `DELETE /v1/connections/{id}/platform-hook/signature`, and
`POST /v1/connections/{id}/platform-hook/subscribe` (subscribe the upstream, keep its secret)."""

from flask import Blueprint, Response, jsonify, request

from connector.api.auth import require_workspace_key
from connector.api.inputs import json_body, runtime, workspace_id
from connector.services.push_signing import (
    get_signature,
    remove_signature,
    set_signature,
    subscribe_upstream,
)

bp = Blueprint("push_signing", __name__, url_prefix="/v1/connections/<connection_id>")
require_workspace_key(bp)


@bp.put("/platform-hook/signature")
def put(connection_id: str) -> dict[str, object]:
    return set_signature(runtime(), workspace_id(), connection_id, json_body())


@bp.get("/platform-hook/signature")
def show(connection_id: str) -> dict[str, object]:
    return get_signature(runtime(), workspace_id(), connection_id)


@bp.delete("/platform-hook/signature")
def delete(connection_id: str) -> Response:
    remove_signature(runtime(), workspace_id(), connection_id)
    return Response(status=204)


@bp.post("/platform-hook/subscribe")
def subscribe(connection_id: str) -> Response:
    body = json_body() if request.content_length else {}
    response = jsonify(subscribe_upstream(runtime(), workspace_id(), connection_id, body))
    response.status_code = 201
    return response
