"""Pipedrive persons API v2 emulator (crm-forms.md A2): list with `updated_since` (inclusive),
`updated_until` (exclusive), sort by update_time or id, `limit` <= 500, opaque cursors, and a
burst limit per 2 s window (HTTP 429 with x-ratelimit-* headers).

Mounted at `/pipedrive` (a source's base_url is `<sandbox>/pipedrive`). Admin under
`/_admin/pipedrive`: create companies, seed persons, touch one, stats.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from connector.sandbox.ratelimit import FixedWindowLimiter

EXTENSION_KEY = "crm_pipedrive"
MAX_LIMIT = 500

api = Blueprint("crm_pipedrive", __name__, url_prefix="/pipedrive")
admin = Blueprint("crm_pipedrive_admin", __name__, url_prefix="/_admin/pipedrive")


def rfc3339(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


@dataclass
class Company:
    token: str
    burst_max: int | None = 40
    burst_window_s: float = 2.0
    persons: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1
    stats: dict[str, int] = field(default_factory=lambda: {"requests": 0, "throttled": 0})


class PipedriveStore:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.companies: dict[str, Company] = {}
        self.by_token: dict[str, Company] = {}
        self.limiter = FixedWindowLimiter()


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION_KEY] = PipedriveStore()
    app.register_blueprint(api)
    app.register_blueprint(admin)


def _store() -> PipedriveStore:
    store: PipedriveStore = current_app.extensions[EXTENSION_KEY]
    return store


def _fail(status: int, message: str) -> Response:
    response = jsonify({"success": False, "error": message, "error_info": "sandbox"})
    response.status_code = status
    return response


@api.get("/api/v2/persons")
def list_persons() -> Response:
    token = request.headers.get("x-api-token") or request.args.get("api_token") or ""
    store = _store()
    with store.lock:
        company = store.by_token.get(token)
        if company is None:
            return _fail(401, "unauthorized access")
        company.stats["requests"] += 1
        decision = store.limiter.attempt(token, company.burst_max, company.burst_window_s,
                                         time.monotonic())
        if not decision.allowed:
            company.stats["throttled"] += 1
            response = _fail(429, "Request over limit")
            response.headers["x-ratelimit-limit"] = str(company.burst_max)
            response.headers["x-ratelimit-remaining"] = "0"
            response.headers["x-ratelimit-reset"] = str(decision.retry_after_s)
            return response
        limit = int(request.args.get("limit", 100))
        if not 1 <= limit <= MAX_LIMIT:
            return _fail(400, f"limit must be between 1 and {MAX_LIMIT}")
        since = request.args.get("updated_since")
        until = request.args.get("updated_until")
        rows = [p for p in company.persons.values()
                if (since is None or p["_updated"] >= parse(since))
                and (until is None or p["_updated"] < parse(until))]
        if request.args.get("sort_by", "id") == "update_time":
            rows.sort(key=lambda p: (p["_updated"], p["id"]))
        else:
            rows.sort(key=lambda p: p["id"])
        if request.args.get("sort_direction", "asc") == "desc":
            rows.reverse()
        cursor = request.args.get("cursor")
        offset = int(base64.b64decode(cursor).decode()) if cursor else 0
        chunk = rows[offset:offset + limit]
        following = base64.b64encode(str(offset + limit).encode()).decode() \
            if offset + limit < len(rows) else None
        data = [{k: v for k, v in p.items() if not k.startswith("_")} for p in chunk]
    return jsonify({"success": True, "data": data, "additional_data": {"next_cursor": following}})


@admin.post("/companies")
def create_company() -> tuple[Response, int]:
    body = request.get_json(force=True)
    company = Company(token=body["token"], burst_max=body.get("burst_max", 40),
                      burst_window_s=float(body.get("burst_window_s", 2.0)))
    store = _store()
    with store.lock:
        store.companies[body["company"]] = company
        store.by_token[company.token] = company
    return jsonify({"company": body["company"], "base_url": request.host_url + "pipedrive"}), 201


def _person(n: int, updated: int, phone: str) -> dict[str, Any]:
    return {"id": n, "name": f"First{n} Last{n}", "first_name": f"First{n}",
            "last_name": f"Last{n}", "add_time": rfc3339(updated),
            "update_time": rfc3339(updated), "_updated": updated,
            "emails": [{"value": f"p{n}@crm.example", "primary": True, "label": "work"}],
            "phones": [{"value": "", "primary": False, "label": "work"},
                       {"value": phone, "primary": True, "label": "mobile"}]}


@admin.post("/companies/<name>/persons")
def seed(name: str) -> tuple[Response, int]:
    """`{count, updated_s?, phone_base?}`: persons with phones `+49 151 <8 digits>`."""
    body = request.get_json(force=True)
    company = _store().companies[name]
    updated = int(body.get("updated_s") or time.time())
    base = int(body.get("phone_base", 20_000_000))
    with _store().lock:
        first = company.next_id
        for n in range(first, first + int(body["count"])):
            company.persons[n] = _person(n, updated, f"+49 151 {base + n:08d}")
        company.next_id = first + int(body["count"])
    return jsonify({"first_id": first, "last_id": company.next_id - 1}), 201


@admin.patch("/companies/<name>/persons/<int:person_id>")
def touch(name: str, person_id: int) -> Response:
    body = request.get_json(force=True)
    company = _store().companies[name]
    with _store().lock:
        person = company.persons[person_id]
        person.update(body.get("fields") or {})
        person["_updated"] = int(body.get("updated_s") or time.time())
        person["update_time"] = rfc3339(person["_updated"])
        return jsonify({k: v for k, v in person.items() if not k.startswith("_")})


@admin.get("/companies/<name>/stats")
def stats(name: str) -> Response:
    company = _store().companies[name]
    with _store().lock:
        return jsonify({**company.stats, "persons": len(company.persons)})


# A CSV export the sandbox serves as a file (for CSV-from-URL syncs).
_FILES: dict[str, str] = {}


@admin.put("/files/<name>")
def put_file(name: str) -> tuple[Response, int]:
    with _store().lock:
        _FILES[name] = request.get_data(as_text=True)
    return jsonify({"url": request.host_url + f"pipedrive/files/{name}"}), 201


@api.get("/files/<name>")
def get_file(name: str) -> Response:
    with _store().lock:
        content = _FILES.get(name)
    if content is None:
        return _fail(404, "no such file")
    return Response(content, mimetype="text/csv")
