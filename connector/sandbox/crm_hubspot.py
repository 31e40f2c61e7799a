"""HubSpot CRM v3 contacts emulator (crm-forms.md A1): list, search with filters and one sort,
the 10,000-result search cap (HTTP 400), and the 100 requests / 10 s limit (HTTP 429).

Mounted at `/hubspot` (a source's base_url is `<sandbox>/hubspot`). Admin side door under
`/_admin/hubspot`: create portals, seed contacts fast (all in the same millisecond if asked),
touch some, read request stats.
"""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from connector.sandbox.ratelimit import FixedWindowLimiter

EXTENSION_KEY = "crm_hubspot"
SEARCH_CAP = 10_000
DEFAULTS = ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname")

api = Blueprint("crm_hubspot", __name__, url_prefix="/hubspot")
admin = Blueprint("crm_hubspot_admin", __name__, url_prefix="/_admin/hubspot")


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{ms % 1000:03d}Z"


@dataclass
class Portal:
    token: str
    rate_limit_max: int | None = 100
    rate_limit_window_s: float = 10.0
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    modified: dict[int, int] = field(default_factory=dict)
    order: list[tuple[int, int]] = field(default_factory=list)  # (modified ms, id), sorted
    dirty: bool = False
    next_id: int = 1
    stats: dict[str, int] = field(default_factory=lambda: {
        "requests": 0, "search": 0, "list": 0, "throttled": 0, "cap_errors": 0})

    def put(self, contact_id: int, properties: dict[str, Any], ms: int) -> None:
        properties["hs_object_id"] = str(contact_id)
        properties["lastmodifieddate"] = iso_ms(ms)
        properties.setdefault("createdate", iso_ms(ms))
        self.contacts[contact_id] = properties
        self.modified[contact_id] = ms
        self.dirty = True

    def sorted_keys(self) -> list[tuple[int, int]]:
        if self.dirty:
            self.order = sorted((ms, cid) for cid, ms in self.modified.items())
            self.dirty = False
        return self.order


class HubSpotStore:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.portals: dict[str, Portal] = {}
        self.by_token: dict[str, Portal] = {}
        self.limiter = FixedWindowLimiter()


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION_KEY] = HubSpotStore()
    app.register_blueprint(api)
    app.register_blueprint(admin)


def _store() -> HubSpotStore:
    from flask import current_app

    store: HubSpotStore = current_app.extensions[EXTENSION_KEY]
    return store


def _error(status: int, message: str, category: str, **extra: Any) -> Response:
    response = jsonify({"status": "error", "message": message, "category": category,
                        "correlationId": f"sandbox-{time.monotonic_ns()}", **extra})
    response.status_code = status
    return response


def _authorise() -> tuple[Portal | None, Response | None]:
    header = request.headers.get("Authorization", "")
    store = _store()
    with store.lock:
        portal = store.by_token.get(header.removeprefix("Bearer ").strip())
        if portal is None:
            return None, _error(401, "Authentication credentials not found.",
                                "INVALID_AUTHENTICATION")
        portal.stats["requests"] += 1
        decision = store.limiter.attempt(portal.token, portal.rate_limit_max,
                                         portal.rate_limit_window_s, time.monotonic())
        if not decision.allowed:
            portal.stats["throttled"] += 1
            response = _error(429, "You have reached your ten_secondly_rolling limit.",
                              "RATE_LIMITS", errorType="RATE_LIMIT",
                              policyName="TEN_SECONDLY_ROLLING")
            response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(
                int(portal.rate_limit_window_s * 1000))
            response.headers["X-HubSpot-RateLimit-Max"] = str(portal.rate_limit_max)
            response.headers["X-HubSpot-RateLimit-Remaining"] = "0"
            return None, response
    return portal, None


def _view(portal: Portal, contact_id: int, wanted: list[str]) -> dict[str, Any]:
    props = portal.contacts[contact_id]
    ms = portal.modified[contact_id]
    return {"id": str(contact_id), "properties": {k: props.get(k) for k in wanted},
            "createdAt": props.get("createdate"), "updatedAt": iso_ms(ms), "archived": False}


@api.get("/crm/v3/objects/contacts")
def list_contacts() -> Response:
    portal, refusal = _authorise()
    if portal is None:
        assert refusal is not None
        return refusal
    limit = min(int(request.args.get("limit", 10)), 100)
    after = int(request.args.get("after", 0) or 0)
    wanted = list(DEFAULTS) + [p for p in request.args.get("properties", "").split(",") if p]
    with _store().lock:
        portal.stats["list"] += 1
        ids = sorted(portal.contacts)
        start = bisect.bisect_left(ids, after)
        chunk = ids[start:start + limit]
        body: dict[str, Any] = {"results": [_view(portal, i, wanted) for i in chunk]}
        if start + limit < len(ids):
            body["paging"] = {"next": {"after": str(ids[start + limit])}}
    return jsonify(body)


_NUMERIC = {"lastmodifieddate", "hs_object_id", "createdate"}


def _value(portal: Portal, contact_id: int, name: str) -> Any:
    if name == "lastmodifieddate":
        return portal.modified[contact_id]
    if name == "hs_object_id":
        return contact_id
    return portal.contacts[contact_id].get(name)


def _match(portal: Portal, contact_id: int, rule: dict[str, Any]) -> bool:
    name, op = rule.get("propertyName"), rule.get("operator")
    value = _value(portal, contact_id, str(name))
    if op == "HAS_PROPERTY":
        return value not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return value in (None, "")
    if op == "IN":
        return str(value) in {str(v) for v in rule.get("values") or []}
    wanted: Any = rule.get("value")
    if name in _NUMERIC:
        wanted = int(wanted)
    elif value is not None:
        value, wanted = str(value), str(wanted)
    if value is None:
        return op == "NEQ"
    results = {"EQ": value == wanted, "NEQ": value != wanted, "GT": value > wanted,
               "GTE": value >= wanted, "LT": value < wanted, "LTE": value <= wanted}
    return bool(results.get(str(op), False))


def _range(keys: list[tuple[int, int]], filters: list[dict[str, Any]]) -> tuple[int, int,
                                                                             list[dict[str, Any]]]:
    """Narrow the (modified, id)-sorted keys by the modified-date and id filters; the rest of
    the filters are returned to be checked row by row."""
    lo, hi = (-1, -1), (2**62, 2**62)
    rest = []
    eq_ms = next((int(f["value"]) for f in filters if f.get("propertyName") ==
                  "lastmodifieddate" and f.get("operator") == "EQ"), None)
    for f in filters:
        name, op = f.get("propertyName"), f.get("operator")
        if name == "lastmodifieddate" and op in ("GT", "GTE", "LT", "LTE", "EQ"):
            v = int(f["value"])
            top = 2**62
            bound = {"GT": ((v + 1, -1), None), "GTE": ((v, -1), None),
                     "LT": (None, (v - 1, top)), "LTE": (None, (v, top)),
                     "EQ": ((v, -1), (v, top))}[op]
            lo = max(lo, bound[0]) if bound[0] else lo
            hi = min(hi, bound[1]) if bound[1] else hi
        elif name == "hs_object_id" and eq_ms is not None and op in ("GT", "GTE"):
            v = int(f["value"])
            lo = max(lo, (eq_ms, v + 1 if op == "GT" else v))
        else:
            rest.append(f)
    return bisect.bisect_left(keys, lo), bisect.bisect_right(keys, hi), rest


@api.post("/crm/v3/objects/contacts/search")
def search() -> Response:
    portal, refusal = _authorise()
    if portal is None:
        assert refusal is not None
        return refusal
    body = request.get_json(silent=True) or {}
    limit = int(body.get("limit") or 10)
    if limit > 200:
        return _error(400, "limit must be at most 200", "VALIDATION_ERROR")
    after = int(body.get("after") or 0)
    if after + limit > SEARCH_CAP:
        with _store().lock:
            portal.stats["cap_errors"] += 1
        return _error(400, f"Paging past {SEARCH_CAP} results is not allowed: narrow the search "
                      "with filters instead.", "VALIDATION_ERROR")
    groups = body.get("filterGroups") or [{"filters": []}]
    sorts = body.get("sorts") or [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
    wanted = list(DEFAULTS) + list(body.get("properties") or [])
    with _store().lock:
        portal.stats["search"] += 1
        keys = portal.sorted_keys()
        ids: list[int] = []
        seen: set[int] = set()
        for group in groups:
            start, stop, rest = _range(keys, list(group.get("filters") or []))
            for _, cid in keys[start:stop]:
                if cid not in seen and all(_match(portal, cid, f) for f in rest):
                    seen.add(cid)
                    ids.append(cid)
        sort = sorts[0]
        if sort.get("propertyName") != "lastmodifieddate" or len(groups) > 1:
            ids.sort(key=lambda cid: _sort_key(portal, cid, str(sort.get("propertyName"))))
        if str(sort.get("direction", "ASCENDING")).upper().startswith("DESC"):
            ids.reverse()
        chunk = ids[after:after + limit]
        answer: dict[str, Any] = {"total": len(ids),
                                  "results": [_view(portal, i, wanted) for i in chunk]}
        if after + limit < len(ids):
            answer["paging"] = {"next": {"after": str(after + limit)}}
    return jsonify(answer)


def _sort_key(portal: Portal, contact_id: int, name: str) -> tuple[Any, int]:
    value = _value(portal, contact_id, name)
    return (value if value is not None else "", contact_id)


# --- admin ----------------------------------------------------------------------------------


@admin.post("/portals")
def create_portal() -> tuple[Response, int]:
    body = request.get_json(force=True)
    portal = Portal(token=body["token"], rate_limit_max=body.get("rate_limit_max", 100),
                    rate_limit_window_s=float(body.get("rate_limit_window_s", 10.0)))
    store = _store()
    with store.lock:
        store.portals[body["portal"]] = portal
        store.by_token[portal.token] = portal
    return jsonify({"portal": body["portal"], "base_url": request.host_url + "hubspot"}), 201


def _portal(name: str) -> Portal:
    return _store().portals[name]


@admin.post("/portals/<name>/contacts")
def seed(name: str) -> tuple[Response, int]:
    """`{count, modified_ms?, lifecyclestage?, invalid_phone_every?, phone_base?}`: count
    contacts, all modified at `modified_ms` (default now), phones `+49 151 <8 digits>`."""
    body = request.get_json(force=True)
    portal = _portal(name)
    count = int(body["count"])
    ms = int(body.get("modified_ms") or time.time() * 1000)
    every = int(body.get("invalid_phone_every") or 0)
    base = int(body.get("phone_base", 10_000_000))
    with _store().lock:
        first = portal.next_id
        for n in range(first, first + count):
            phone = f"+49 151 {base + n:08d}"
            if every and n % every == 0:
                phone = f"call me {n}"
            portal.put(n, {"firstname": f"First{n}", "lastname": f"Last{n}",
                           "email": f"c{n}@crm.example", "phone": phone,
                           "lifecyclestage": body.get("lifecyclestage", "customer")}, ms)
        portal.next_id = first + count
    return jsonify({"first_id": first, "last_id": first + count - 1, "count": count}), 201


@admin.patch("/portals/<name>/contacts/<int:contact_id>")
def touch(name: str, contact_id: int) -> Response:
    """Change properties; lastmodifieddate becomes now (or `modified_ms`)."""
    body = request.get_json(force=True)
    portal = _portal(name)
    with _store().lock:
        props = dict(portal.contacts[contact_id])
        props.update(body.get("properties") or {})
        portal.put(contact_id, props, int(body.get("modified_ms") or time.time() * 1000))
    return jsonify(_view(portal, contact_id, list(DEFAULTS) + ["phone", "mobilephone"]))


@admin.get("/portals/<name>/stats")
def stats(name: str) -> Response:
    portal = _portal(name)
    with _store().lock:
        return jsonify({**portal.stats, "contacts": len(portal.contacts)})
