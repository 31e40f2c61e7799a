"""Liveness and metrics, outside `/v1` and without authentication."""

from flask import Blueprint, Response

from connector.api.inputs import runtime

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> dict[str, object]:
    rt = runtime()
    rt.redis.ping()
    return {"status": "ok", "actions": len(rt.catalog.actions)}


@bp.get("/metrics")
def metrics() -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
