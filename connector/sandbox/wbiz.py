"""WBIZ emulator: `/api/wbiz/<account>/v1/...` answers like https://api.wbiz.in/api/v1/... .

Follows upstream-apis.md §5 and the seed page: Bearer key with `scope:verb` scopes (403 naming
the scope), a per-plan limit per minute with `X-RateLimit-Limit|Remaining|Reset` headers on every
answer and 429 over it, E.164 `to`, approved templates with positional variables, contact upsert
by phone, bulk import of at most 500 rows, tags, events feed with a `since` cursor, campaigns and
webhooks. The error body is unconfirmed upstream (§8.9); we answer `{"error": {code, message}}`
plus Laravel-style `errors{field: [..]}` on validation. The account segment in the path stands in
for the key's account (the real host has none). The 10 s burst window is not emulated.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request

from connector.sandbox import wbiz_events, wbiz_media
from connector.sandbox.accounts import (
    Account,
    AccountBook,
    Admission,
    Refusal,
    admin_blueprint,
    json_answer,
)

EXTENSION_KEY = "wbiz_sandbox"
PLANS = {"starter": 60, "growth": 600, "scale": 6000}
ALL_SCOPES = ("messages:send", "templates:read", "templates:write", "contacts:read",
              "contacts:write", "inbox:read", "webhooks:manage", "events:read", "tags:read",
              "tags:write", "fields:read", "fields:write", "campaigns:read", "campaigns:write",
              "media:write", "interactive:write", "flows:read", "flows:write",
              "quick_replies:write")
BULK_MAX = 500
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
PLACEHOLDER = re.compile(r"\{\{\s*\d+\s*\}\}")
TEMPLATES = (
    ("welcome", "en", "MARKETING", "approved", "Hello {{1}}, welcome to {{2}}!"),
    ("order_confirmation", "en_US", "UTILITY", "approved", "Hi {{1}}, order {{2}} confirmed."),
    ("old_offer", "en", "MARKETING", "paused", "Last chance: {{1}} off."),
)

bp = Blueprint("wbiz", __name__, url_prefix="/api/wbiz/<tenant>/v1")
View = Callable[..., Response]


def book() -> AccountBook:
    found: AccountBook = current_app.extensions[EXTENSION_KEY]
    return found


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def error(status: int, code: str, message: str, **extra: Any) -> Response:
    return json_answer({"error": {"code": code, "message": message}, **extra}, status)


def invalid(fields: dict[str, str]) -> Response:
    first = next(iter(fields.values()))
    return error(422, "validation_error", first, errors={k: [v] for k, v in fields.items()})


def scoped(scope: str | None) -> Callable[[View], View]:
    """Admit the request (key, scope, plan limit), run the view, add the rate-limit headers."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(tenant: str, **kwargs: Any) -> Response:
            with book().lock:
                admitted = book().admit(tenant, scope)
                if not isinstance(admitted, Admission):
                    return _refused(admitted)
                if admitted.account.settings.get("throttle_next"):
                    # Admin knob: the plan's window is spent elsewhere; resets in a second.
                    admitted.account.settings["throttle_next"] -= 1
                    return _refused(Refusal("throttled", limit=admitted.limit or 60,
                                            reset_at=int(time.time()) + 1))
                g.account = admitted.account
                response = view(admitted.account, **kwargs)
            if admitted.limit:
                response.headers["X-RateLimit-Limit"] = str(admitted.limit)
                response.headers["X-RateLimit-Remaining"] = str(admitted.remaining)
                response.headers["X-RateLimit-Reset"] = str(admitted.reset_at)
            return response

        return wrapper

    return decorate


def _refused(refusal: Refusal) -> Response:
    if refusal.kind == "unknown":
        return error(404, "not_found", "Unknown account")
    if refusal.kind == "auth":
        return error(401, "unauthorized", "Missing or invalid API key")
    if refusal.kind == "scope":
        return _missing_scope(str(refusal.scope))
    return json_answer(
        {"error": {"code": "rate_limited", "message": "Rate limit exceeded for this key"}}, 429,
        {"X-RateLimit-Limit": str(refusal.limit), "X-RateLimit-Remaining": "0",
         "X-RateLimit-Reset": str(refusal.reset_at)})


def _missing_scope(scope: str) -> Response:
    return error(403, "insufficient_scope", f"This key is missing the scope {scope}",
                 requiredScope=scope)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _event(account: Account, kind: str, data: dict[str, Any]) -> None:
    """Append to the `/v1/events` feed and send to the subscribed webhooks (wbiz_events.py)."""
    wbiz_events.record(account, wbiz_events.current_sender(), kind, data)


# --- account -----------------------------------------------------------------------------------


@bp.get("/me")
@scoped(None)
def me(account: Account) -> Response:
    return json_answer({"data": {
        "account": {"id": f"acc_{account.slug}", "name": account.settings["name"]},
        "waba": {"id": f"waba_{account.slug}", "name": account.settings["name"]},
        "phoneNumbers": [{"id": "pn_1", "displayPhoneNumber": "+91 88993 32211",
                          "verifiedName": account.settings["name"]}],
        "key": {"prefix": account.token[:6], "scopes": sorted(account.scopes)}}}, 200)


@bp.get("/account")
@scoped(None)
def account_view(account: Account) -> Response:
    return json_answer({"data": {"plan": account.settings["plan"],
                                 "entitled": account.settings["entitled"]}}, 200)


# --- messages ----------------------------------------------------------------------------------


def _send(account: Account, kind: str, body: dict[str, Any],
          check: Callable[[dict[str, Any]], dict[str, str]]) -> Response:
    problems = {} if E164.match(str(body.get("to", ""))) else \
        {"to": "to must be an E.164 number with a leading +"}
    problems.update(check(body))
    if problems:
        return invalid(problems)
    if not account.settings["entitled"]:
        return error(403, "not_entitled", "This account is not entitled to send (billing)")
    contact = _by_phone(account, body["to"])
    if contact is not None and contact.get("optedIn") is False and kind != "template":
        return error(403, "opted_out", "The contact opted out")
    wamid = "wamid." + secrets.token_urlsafe(24)
    account.record_send(kind, body["to"], wamid, body)
    _event(account, "message.status", {"wamid": wamid, "to": body["to"], "status": "sent"})
    return json_answer({"data": {"wamid": wamid, "to": body["to"], "status": "accepted",
                                 "contactId": contact["id"] if contact else None}}, 200)


def _need(*names: str) -> Callable[[dict[str, Any]], dict[str, str]]:
    return lambda body: {n: f"{n} is required" for n in names if body.get(n) in (None, "", [])}


@bp.post("/messages/text")
@scoped("messages:send")
def send_text(account: Account) -> Response:
    return _send(account, "text", _body(), _need("body"))


@bp.post("/messages/media")
@scoped("messages:send")
def send_media(account: Account) -> Response:
    def check(body: dict[str, Any]) -> dict[str, str]:
        problems = {}
        if body.get("type") not in ("image", "video", "document", "audio", "sticker"):
            problems["type"] = "type must be image, video, document, audio or sticker"
        problems.update(wbiz_media.send_problems(body, account.tables.get("media", {})))
        return problems

    return _send(account, "media", _body(), check)


@bp.post("/messages/location")
@scoped("messages:send")
def send_location(account: Account) -> Response:
    return _send(account, "location", _body(), _need("latitude", "longitude"))


@bp.post("/messages/interactive")
@scoped("messages:send")
def send_interactive(account: Account) -> Response:
    def check(body: dict[str, Any]) -> dict[str, str]:
        problems = _need("body")(body)
        buttons = body.get("buttons") or []
        if body.get("kind") == "buttons" and not 1 <= len(buttons) <= 3:
            problems["buttons"] = "a buttons message takes 1 to 3 buttons"
        if any(len(str(b.get("title", ""))) > 20 for b in buttons):
            problems["buttons"] = "button titles are at most 20 characters"
        rows = body.get("rows") or []
        if body.get("kind") == "list" and not (body.get("buttonText") and 1 <= len(rows) <= 10):
            problems["rows"] = "a list message takes a buttonText and 1 to 10 rows"
        if body.get("kind") not in ("buttons", "list"):
            problems["kind"] = "kind must be buttons or list"
        return problems

    return _send(account, "interactive", _body(), check)


@bp.post("/messages/template")
@scoped("messages:send")
def send_template(account: Account) -> Response:
    def check(body: dict[str, Any]) -> dict[str, str]:
        template = next((t for t in account.tables["templates"].values()
                         if t["name"] == body.get("template")
                         and t["language"] == body.get("language")), None)
        if template is None or template["status"] != "approved":
            return {"template": f"no approved template {body.get('template')!r} "
                                f"({body.get('language')})"}
        wanted = len(PLACEHOLDER.findall(template["components"][0]["text"]))
        if len(body.get("variables") or []) != wanted:
            return {"variables": f"the template takes {wanted} variables"}
        return {}

    return _send(account, "template", _body(), check)


# --- templates ---------------------------------------------------------------------------------


def _page(rows: list[dict[str, Any]]) -> Response:
    limit = min(max(request.args.get("limit", 50, type=int) or 50, 1), 100)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    chunk = rows[(page - 1) * limit: page * limit]
    return json_answer({"data": chunk, "page": page, "limit": limit, "total": len(rows),
                        "hasMore": page * limit < len(rows)}, 200)


@bp.get("/templates")
@scoped("templates:read")
def list_templates(account: Account) -> Response:
    rows = list(reversed(account.tables["templates"].values()))
    status = request.args.get("status")
    return _page([t for t in rows if status is None or t["status"] == status])


@bp.get("/templates/<tid>")
@scoped("templates:read")
def get_template(account: Account, tid: str) -> Response:
    template = account.tables["templates"].get(tid)
    return json_answer({"data": template}, 200) if template else \
        error(404, "not_found", "Template not found")


# --- contacts ----------------------------------------------------------------------------------


def _by_phone(account: Account, phone: str) -> dict[str, Any] | None:
    cid = account.tables["phones"].get(phone)
    return account.tables["contacts"].get(cid) if cid else None


def _write_contact(account: Account, row: dict[str, Any], defaults: dict[str, Any]
                   ) -> tuple[dict[str, Any], bool]:
    now = _iso(time.time())
    existing = _by_phone(account, row["phone"])
    if existing is not None:
        for key in ("name", "email", "tags", "customFields", "optedIn"):
            if key in row:
                existing[key] = row[key]
        existing["updatedAt"] = now
        return existing, False
    contact = {"id": f"ct_{account.new_id()}", "phone": row["phone"], "name": row.get("name"),
               "email": row.get("email"), "tags": list(row.get("tags") or defaults["tags"]),
               "customFields": dict(row.get("customFields") or {}),
               "optedIn": row.get("optedIn", defaults["optedIn"]), "createdAt": now,
               "updatedAt": now}
    account.tables["contacts"][contact["id"]] = contact
    account.tables["phones"][contact["phone"]] = contact["id"]
    for tag in contact["tags"]:
        account.tables["tags"].setdefault(tag, now)
    return contact, True


@bp.get("/contacts")
@scoped("contacts:read")
def list_contacts(account: Account) -> Response:
    search, tag = request.args.get("search", ""), request.args.get("tag")
    rows = [c for c in reversed(account.tables["contacts"].values())
            if (not search or search in c["phone"] or search.lower() in str(c["name"]).lower())
            and (tag is None or tag in c["tags"])]
    return _page(rows)


@bp.post("/contacts")
@scoped("contacts:write")
def upsert_contact(account: Account) -> Response:
    body = _body()
    if not E164.match(str(body.get("phone", ""))):
        return invalid({"phone": "phone must be an E.164 number with a leading +"})
    contact, created = _write_contact(account, body, {"tags": [], "optedIn": True})
    return json_answer({"data": contact}, 201 if created else 200)


@bp.route("/contacts/<cid>", methods=["GET", "PATCH"])
@scoped(None)
def one_contact(account: Account, cid: str) -> Response:
    scope = "contacts:read" if request.method == "GET" else "contacts:write"
    if scope not in account.scopes:
        return _missing_scope(scope)
    contact = account.tables["contacts"].get(cid)
    if contact is None:
        return error(404, "not_found", "Contact not found")
    if request.method == "PATCH":
        for key, value in _body().items():
            if key in ("name", "email", "tags", "customFields", "optedIn"):
                contact[key] = value
        for tag in contact["tags"]:
            account.tables["tags"].setdefault(tag, _iso(time.time()))
        contact["updatedAt"] = _iso(time.time())
    return json_answer({"data": contact}, 200)


@bp.post("/contacts/bulk")
@scoped("contacts:write")
def bulk_contacts(account: Account) -> Response:
    body = _body()
    rows = body.get("contacts")
    if not isinstance(rows, list) or not rows:
        return invalid({"contacts": "contacts must be a non-empty list"})
    if len(rows) > BULK_MAX:
        return invalid({"contacts": f"at most {BULK_MAX} contacts per call"})
    defaults = {"tags": body.get("defaultTags") or [], "optedIn": body.get("defaultOptedIn", False)}
    results, seen = [], set()
    for index, row in enumerate(rows):
        phone = str(row.get("phone", "")) if isinstance(row, dict) else ""
        if not E164.match(phone) or phone in seen:
            results.append({"row": index, "phone": phone, "result": "skipped"})
            continue
        seen.add(phone)
        contact, created = _write_contact(account, row, defaults)
        results.append({"row": index, "phone": phone, "id": contact["id"],
                        "result": "created" if created else "updated"})
    return json_answer({"data": results}, 200)


# --- tags, events, campaigns -------------------------------------------------------------------


@bp.get("/tags")
@scoped("tags:read")
def list_tags(account: Account) -> Response:
    counts = {t: 0 for t in account.tables["tags"]}
    for contact in account.tables["contacts"].values():
        for tag in contact["tags"]:
            counts[tag] = counts.get(tag, 0) + 1
    return json_answer({"data": [{"name": t, "count": n, "createdAt": account.tables["tags"][t]}
                                 for t, n in reversed(counts.items())]}, 200)


@bp.post("/tags")
@scoped("tags:write")
def create_tag(account: Account) -> Response:
    name = str(_body().get("name") or "").strip()
    if not name:
        return invalid({"name": "name is required"})
    created = name not in account.tables["tags"]
    account.tables["tags"].setdefault(name, _iso(time.time()))
    return json_answer({"data": {"name": name, "count": 0,
                                 "createdAt": account.tables["tags"][name]}},
                       201 if created else 200)


@bp.delete("/tags/<name>")
@scoped("tags:write")
def delete_tag(account: Account, name: str) -> Response:
    if account.tables["tags"].pop(name, None) is None:
        return error(404, "not_found", "Tag not found")
    for contact in account.tables["contacts"].values():
        contact["tags"] = [t for t in contact["tags"] if t != name]
    return json_answer({"data": {"name": name, "deleted": True}}, 200)


@bp.get("/events")
@scoped("events:read")
def poll_events(account: Account) -> Response:
    page = wbiz_events.feed_page(account, request.args.get("since"),
                                 request.args.get("limit", 50, type=int) or 50)
    return json_answer(page, 200) if page is not None else \
        error(400, "invalid_cursor", "since is not a cursor this feed returned")


@bp.post("/campaigns")
@scoped("campaigns:write")
def create_campaign(account: Account) -> Response:
    body = _body()
    audience = body.get("audience") or {}
    tags = set(audience.get("tags") or [])
    total = sum(1 for c in account.tables["contacts"].values() if tags & set(c["tags"]))
    campaign = {"id": f"cmp_{account.new_id()}", "name": body.get("name"), "status": "running",
                "template": body.get("template"), "audienceTotal": total}
    account.tables["campaigns"][campaign["id"]] = campaign
    return json_answer({"data": campaign}, 201)


# --- wiring ------------------------------------------------------------------------------------


def _create_account(body: dict[str, Any]) -> Account:
    plan = body.get("plan", "scale")
    account = Account(slug=body["slug"], token=body["token"],
                      scopes=set(body.get("scopes") or ALL_SCOPES),
                      rate_limit_max=body.get("rate_limit_max", PLANS[plan]),
                      rate_window_s=float(body.get("rate_window_s", 60)),
                      settings={"name": body.get("name", body["slug"]), "plan": plan,
                                "entitled": body.get("entitled", True)})
    account.tables = {"contacts": {}, "phones": {}, "tags": {}, "events": [], "campaigns": {},
                      "templates": {}}
    for name, language, category, status, text in TEMPLATES:
        tid = f"tpl_{account.new_id()}"
        account.tables["templates"][tid] = {
            "id": tid, "metaId": str(10**15 + account.next_id), "name": name,
            "language": language, "category": category, "status": status,
            "components": [{"type": "BODY", "text": text}]}
    return account


def _inbound(slug: str) -> Response:
    """Admin: record an inbound message (`message.received`) as the WhatsApp user sent it."""
    with book().lock:
        account = book().accounts.get(slug)
        if account is None:
            return json_answer({"message": "no such account"}, 404)
        body = _body()
        _event(account, "message.received", {"from": body.get("from"), "type": "text",
                                             "text": body.get("text"), "name": body.get("name"),
                                             "wamid": "wamid." + secrets.token_urlsafe(24)})
        return json_answer({"events": len(account.tables["events"])}, 201)


def init_app(app: Flask) -> None:
    accounts = AccountBook()
    app.extensions[EXTENSION_KEY] = accounts
    app.register_blueprint(bp)
    admin = admin_blueprint("wbiz", accounts, _create_account)
    admin.add_url_rule("/accounts/<slug>/inbound", "inbound", _inbound, methods=["POST"])
    app.register_blueprint(admin)
