"""Workspace API-key authentication for every `/v1` request."""

from __future__ import annotations

from flask import Blueprint, g, request

from connector.api.inputs import runtime
from connector.errors import Unauthenticated
from connector.logs import log_context
from connector.store.workspaces import workspace_for_key


def require_workspace_key(bp: Blueprint) -> None:
    @bp.before_request
    def authenticate() -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthenticated("send the workspace API key as `Authorization: Bearer <key>`")
        with runtime().db.session() as session:
            found = workspace_for_key(session, key.strip())
            if found is None:
                raise Unauthenticated("the API key is unknown or revoked")
            workspace, api_key = found
            g.workspace_id, g.workspace_name = workspace.id, workspace.name
            g.api_key_id = api_key.id
        log_context.set({"workspace_id": workspace.id})
