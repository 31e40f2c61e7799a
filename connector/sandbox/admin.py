"""`/_admin`: the test harness's side door — tenants, request log, stats, sent messages, faults.

No auth (it is a test tool bound to localhost). Answers are plain JSON; refusals are
`{"error": "...", "errors"?: {field: [messages]}}` with 404, 409 or 422.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from flask import Blueprint, Response, jsonify, request

from connector.sandbox.faults import FaultSpecError
from connector.sandbox.generate import MAX_COUNT, RESOURCES, generate
from connector.sandbox.ratelimit import max_in_sliding_window
from connector.sandbox.seed import seed_tenant
from connector.sandbox.state import Store, Tenant, current_store

bp = Blueprint("admin", __name__, url_prefix="/_admin")

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# Tenant settings the API accepts, with (type check, message). `None` values mean "off/unlimited".
SETTINGS: dict[str, tuple[Any, str]] = {
    "token": (lambda v: isinstance(v, str) and v != "", "token must be a non-empty string"),
    "abilities": (lambda v: isinstance(v, list) and all(isinstance(a, str) for a in v),
                  "abilities must be a list of strings"),
    "rate_limit_max": (lambda v: v is None or _int(v) and v >= 0,
                       "rate_limit_max must be an integer >= 0 or null (0/null: unlimited)"),
    "rate_limit_decay_s": (lambda v: _num(v) and v > 0, "rate_limit_decay_s must be > 0"),
    "api_enabled": (lambda v: isinstance(v, bool), "api_enabled must be a boolean"),
    "api_settings": (lambda v: isinstance(v, bool), "api_settings must be a boolean"),
    "whatsapp_connected": (lambda v: isinstance(v, bool), "whatsapp_connected must be a boolean"),
    "contact_limit": (lambda v: v is None or _int(v) and v >= 0,
                      "contact_limit must be an integer >= 0 or null"),
    "conversation_limit_reached": (lambda v: isinstance(v, bool),
                                   "conversation_limit_reached must be a boolean"),
}  # fmt: skip


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _refuse(status: int, message: str, errors: dict[str, list[str]] | None = None) -> Response:
    body: dict[str, Any] = {"error": message}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    return response


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _settings_errors(body: dict[str, Any], keys: list[str]) -> dict[str, list[str]]:
    return {k: [SETTINGS[k][1]] for k in keys if k in body and not SETTINGS[k][0](body[k])}


def _tenant_view(tenant: Tenant) -> dict[str, Any]:
    view = tenant.settings_view()
    view["base_urls"] = {
        "v1": f"{request.host_url}api/v1/{tenant.slug}/",
        "wab2c": f"{request.host_url}api/{tenant.slug}/",
    }
    return view


def _find(store: Store, slug: str) -> Tenant | Response:
    tenant = store.tenants.get(slug)
    return tenant if tenant is not None else _refuse(404, f"no tenant {slug!r}")


@bp.post("/tenants")
def create_tenant() -> Response | tuple[Response, int]:
    body = _body()
    errors = _settings_errors(body, list(SETTINGS))
    slug = body.get("slug")
    if not isinstance(slug, str) or not SLUG.match(slug) or slug == "v1":
        # "v1" would make /api/v1/<x>/... ambiguous between the two base paths.
        errors["slug"] = ["slug must match [a-z0-9][a-z0-9_-]* and not be 'v1'"]
    if "token" not in body:
        errors.setdefault("token", ["token is required"])
    if errors:
        return _refuse(422, "invalid tenant", errors)
    store = current_store()
    settings = {k: body[k] for k in SETTINGS if k in body and k != "token"}
    with store.lock:
        if slug in store.tenants:
            return _refuse(409, f"tenant {slug!r} exists")
        tenant = store.create_tenant(str(slug), body["token"], **settings)
        if body.get("seed", True):
            seed_tenant(tenant)
        return jsonify(_tenant_view(tenant)), 201


@bp.get("/tenants")
def list_tenants() -> Response:
    store = current_store()
    with store.lock:
        return jsonify({"tenants": [_tenant_view(t) for t in store.tenants.values()]})


@bp.get("/tenants/<slug>")
def show_tenant(slug: str) -> Response:
    store = current_store()
    with store.lock:
        found = _find(store, slug)
        return found if isinstance(found, Response) else jsonify(_tenant_view(found))


@bp.patch("/tenants/<slug>")
def update_tenant(slug: str) -> Response:
    body = _body()
    errors = _settings_errors(body, list(SETTINGS))
    if errors:
        return _refuse(422, "invalid settings", errors)
    store = current_store()
    with store.lock:
        found = _find(store, slug)
        if isinstance(found, Response):
            return found
        if body.get("reset_rate_limit") or "token" in body:
            store.limiter.forget("api_token:" + found.token)
        for key in SETTINGS:
            if key in body:
                setattr(found, key, body[key])
        return jsonify(_tenant_view(found))


@bp.delete("/tenants/<slug>")
def delete_tenant(slug: str) -> Response:
    store = current_store()
    with store.lock:
        found = _find(store, slug)
        if isinstance(found, Response):
            return found
        del store.tenants[slug]
        return jsonify({"deleted": slug})


@bp.delete("/reset")
def reset() -> Response:
    current_store().reset()
    return jsonify({"reset": True})


@bp.get("/requests")
def requests_log() -> Response:
    since = request.args.get("since", "0")
    limit = request.args.get("limit")
    if not since.isdigit() or (limit is not None and not limit.isdigit()):
        return _refuse(422, "since and limit must be non-negative integers")
    store = current_store()
    rows = store.requests_since(
        int(since), request.args.get("tenant"), int(limit) if limit else None
    )
    return jsonify({"requests": rows, "last_seq": rows[-1]["seq"] if rows else int(since)})


@bp.get("/inflight")
def inflight() -> Response:
    """Requests being handled right now (e.g. held by a latency fault)."""
    store, tenant = current_store(), request.args.get("tenant")
    with store.lock:
        rows = [r for r in store.inflight.values() if tenant is None or r["tenant"] == tenant]
    return jsonify({"requests": rows})


@bp.get("/tenants/<slug>/stats")
def stats(slug: str) -> Response:
    store = current_store()
    with store.lock:
        found = _find(store, slug)
        if isinstance(found, Response):
            return found
        max_window, decay_s = found.max_in_window, found.rate_limit_decay_s
    rows = store.requests_since(0, slug, None)
    accepted = sorted(r["accepted_at"] for r in rows if r["accepted_at"] is not None)
    by_status = Counter("dropped" if r["status"] is None else str(r["status"]) for r in rows)
    return jsonify(
        {
            "requests": len(rows),
            "by_status": dict(sorted(by_status.items())),
            "throttled": sum(1 for r in rows if r["throttled"]),
            "accepted": len(accepted),
            "max_in_any_window": max_window,
            "max_in_sliding_window": max_in_sliding_window(accepted, decay_s),
            "faults_applied": sum(1 for r in rows if r.get("fault")),
        }
    )


@bp.get("/tenants/<slug>/messages")
def messages(slug: str) -> Response:
    store = current_store()
    since = request.args.get("since", "0")
    with store.lock:
        found = _find(store, slug)
        if isinstance(found, Response):
            return found
        since_seq = int(since) if since.isdigit() else 0
        return jsonify({"messages": [e for e in found.sent if e["seq"] > since_seq]})


@bp.post("/tenants/<slug>/generate")
def generate_rows(slug: str) -> Response | tuple[Response, int]:
    body = _body()
    resource, count = str(body.get("resource")), body.get("count")
    errors: dict[str, list[str]] = {}
    if resource not in RESOURCES:
        errors["resource"] = [f"resource must be one of {', '.join(RESOURCES)}"]
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
        errors["count"] = [f"count must be an integer from 1 to {MAX_COUNT}"]
    if errors:
        return _refuse(422, "invalid generator request", errors)
    store = current_store()
    with store.lock:
        found = _find(store, slug)
        if isinstance(found, Response):
            return found
        ids = generate(found, resource, int(count or 0), bool(body.get("same_timestamp")))
    return jsonify({"resource": resource, "count": len(ids), "ids": ids}), 201


@bp.post("/faults")
def add_fault() -> Response | tuple[Response, int]:
    store = current_store()
    with store.lock:
        try:
            fault = store.faults.add(_body())
        except FaultSpecError as exc:
            return _refuse(422, "invalid fault", exc.errors)
        return jsonify(fault.view()), 201


@bp.get("/faults")
def list_faults() -> Response:
    store = current_store()
    with store.lock:
        return jsonify({"faults": store.faults.view()})


@bp.delete("/faults")
def clear_faults() -> Response:
    store = current_store()
    with store.lock:
        store.faults.clear()
    return jsonify({"faults": []})


@bp.route("/config", methods=["GET", "POST"])
def config() -> Response:
    store = current_store()
    if request.method == "POST":
        latency = _body().get("latency_ms", store.latency_ms)
        if not _int(latency) or latency < 0:
            return _refuse(422, "invalid config", {"latency_ms": ["must be an integer >= 0"]})
        store.latency_ms = latency
    return jsonify({"latency_ms": store.latency_ms})
