"""Liveness, outside `/v1` and without authentication (metrics: connector/metrics.py)."""

from flask import Blueprint

from connector.api.inputs import runtime

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> dict[str, object]:
    rt = runtime()
    rt.redis.ping()
    return {"status": "ok", "actions": len(rt.catalog.actions)}

