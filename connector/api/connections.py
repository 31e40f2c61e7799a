"""Connections: create (with a live test call), list, read, re-test. The token never leaves."""

from flask import Blueprint, Response, jsonify

from connector.api.auth import require_workspace_key
from connector.api.idempotency import idempotent
from connector.api.inputs import json_body, page, page_args, runtime, workspace_id
from connector.errors import NotFound
from connector.services.connections import create_connection, test_connection
from connector.store.connections import get_connection, list_connections, public_view

bp = Blueprint("connections", __name__, url_prefix="/v1")
require_workspace_key(bp)


@bp.post("/connections")
@idempotent
def create() -> Response:
    connection = create_connection(runtime(), workspace_id(), json_body())
    response = jsonify(public_view(connection))
    response.status_code = 201
    response.headers["Location"] = f"/v1/connections/{connection.id}"
    return response


@bp.get("/connections")
def index() -> dict[str, object]:
    limit, cursor = page_args()
    with runtime().db.session() as session:
        rows = list_connections(session, workspace_id(), limit=limit, cursor=cursor)
        return page([public_view(c) for c in rows], limit)


@bp.get("/connections/<connection_id>")
def show(connection_id: str) -> dict[str, object]:
    with runtime().db.session() as session:
        connection = get_connection(session, workspace_id(), connection_id)
        if connection is None:
            raise NotFound(f"no connection {connection_id!r} in this workspace")
        return public_view(connection)


@bp.post("/connections/<connection_id>/test")
def test(connection_id: str) -> dict[str, object]:
    return public_view(test_connection(runtime(), workspace_id(), connection_id))
