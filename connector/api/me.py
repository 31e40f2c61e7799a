"""`GET /v1/me`: who the API key belongs to (Zapier's auth test)."""

from flask import Blueprint, g

from connector.api.auth import require_workspace_key

bp = Blueprint("me", __name__, url_prefix="/v1")
require_workspace_key(bp)


@bp.get("/me")
def me() -> dict[str, object]:
    return {"workspace": {"id": g.workspace_id, "name": g.workspace_name},
            "api_key": {"id": g.api_key_id}}
