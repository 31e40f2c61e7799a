"""Corbital v2 emulator: `/api/v2/<tenant>/...`, the newer builds of WAB2C and white-labels.

Follows upstream-apis.md §2: v1's field names, PATCH partial updates, `per_page` max 100 and a
`search` filter, group membership endpoints, `/messages/text {phone, message}` and `language` on
templates, per-token `scope:verb` scopes, coded errors (403 INSUFFICIENT_SCOPE,
FEATURE_LIMIT_EXCEEDED, CONTACT_OPTED_OUT; 422 VALIDATION_ERROR, WHATSAPP_NOT_CONFIGURED; 429
RATE_LIMIT_EXCEEDED). Message and template bots are read like v1's (§7.2 "same" [INF]) under
the scopes `messagebots:read` / `templatebots:read` (our guess from v1's abilities, §8.1).
The base path and envelope are unconfirmed (§8.1); we answer
`{success, data, meta}` and `{success: false, error: {code, message}, errors?}`.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from connector.sandbox.accounts import (
    Account,
    AccountBook,
    Admission,
    Refusal,
    admin_blueprint,
    json_answer,
)
from connector.sandbox.seed import SOURCES, STATUSES, TEMPLATES

EXTENSION_KEY = "corbital_v2_sandbox"
ALL_SCOPES = ("account:read", "contacts:read", "contacts:write", "groups:read", "groups:write",
              "statuses:read", "statuses:write", "sources:read", "sources:write",
              "templates:read", "messages:send", "messagebots:read", "templatebots:read")
MAX_PER_PAGE = 100
WRITABLE = {"contacts", "statuses", "sources", "groups"}
RESOURCES = WRITABLE | {"templates", "messagebots", "templatebots"}
PHONE = re.compile(r"^[\d+\-\s()]{10,20}$")
# Bots are read-only and keep v1's columns (§7.2: "same [INF]"; `reply_type` 1-4, §1.6).
BOTS: tuple[dict[str, Any], ...] = (
    {"table": "messagebots", "name": "Greeting bot", "rel_type": "lead", "reply_type": 1,
     "trigger": "hi,hello", "reply_text": "Hi! How can we help you today?", "is_bot_active": 1},
    {"table": "messagebots", "name": "Fallback", "rel_type": "lead", "reply_type": 4,
     "trigger": "", "reply_text": "Thanks! We will get back to you shortly.", "is_bot_active": 0},
    {"table": "templatebots", "name": "Welcome template bot", "rel_type": "lead",
     "reply_type": 3, "trigger": "", "header_params": "[]", "body_params": "[\"Ada\", \"Acme\"]",
     "is_bot_active": 1},
)

bp = Blueprint("corbital_v2", __name__, url_prefix="/api/v2/<tenant>")
View = Callable[..., Response]


def book() -> AccountBook:
    found: AccountBook = current_app.extensions[EXTENSION_KEY]
    return found


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


def ok(data: Any, status: int = 200, meta: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"success": True, "data": data}
    if meta is not None:
        body["meta"] = meta
    return json_answer(body, status)


def fail(status: int, code: str, message: str, **extra: Any) -> Response:
    return json_answer({"success": False, "error": {"code": code, "message": message}, **extra},
                       status)


def invalid(errors: dict[str, str]) -> Response:
    return fail(422, "VALIDATION_ERROR", "Validation failed",
                errors={k: [v] for k, v in errors.items()})


def scoped(scope_of: Callable[[], str]) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(tenant: str, **kwargs: Any) -> Response:
            with book().lock:
                admitted = book().admit(tenant, scope_of())
                if not isinstance(admitted, Admission):
                    return _refused(admitted)
                return view(admitted.account, **kwargs)

        return wrapper

    return decorate


def _refused(refusal: Refusal) -> Response:
    if refusal.kind == "unknown":
        return fail(404, "NOT_FOUND", "Tenant not found")
    if refusal.kind == "auth":
        return fail(401, "UNAUTHORIZED", "Invalid or missing API token")
    if refusal.kind == "scope":
        return fail(403, "INSUFFICIENT_SCOPE",
                    f"The token lacks the required scope: {refusal.scope}")
    response = fail(429, "RATE_LIMIT_EXCEEDED", "Too many requests")
    response.headers["Retry-After"] = str(refusal.retry_after_s)
    return response


def _scope_for_resource() -> str:
    resource = (request.view_args or {}).get("resource", "")
    verb = "read" if request.method == "GET" else "write"
    return f"{resource}:{verb}"


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _digits(phone: Any) -> str:
    return re.sub(r"\D", "", str(phone or ""))


def _insert(account: Account, resource: str, row: dict[str, Any]) -> dict[str, Any]:
    now = _now()
    stored = {"id": account.new_id(), **row, "created_at": now, "updated_at": now}
    account.tables[resource][stored["id"]] = stored
    return stored


def _check(account: Account, resource: str, body: dict[str, Any], current: Any) -> dict[str, str]:
    """Required fields on create, uniqueness of phone and names; empty when valid."""
    errors: dict[str, str] = {}
    table = account.tables[resource]
    if resource == "contacts":
        if current is None:
            errors.update({f: f"The {f} field is required." for f in ("firstname", "lastname",
                                                                      "phone") if not body.get(f)})
        if "phone" in body and _digits(body["phone"]) and any(
                _digits(c["phone"]) == _digits(body["phone"]) and c is not current
                for c in table.values()):
            errors["phone"] = "The phone has already been taken."
        if "type" in body and body["type"] not in ("lead", "contact"):
            errors["type"] = "The selected type is invalid."
    else:
        if current is None and not body.get("name"):
            errors["name"] = "The name field is required."
        if body.get("name") and any(r["name"] == body["name"] and r is not current
                                    for r in table.values()):
            errors["name"] = "The name has already been taken."
    return errors


@bp.route("/<resource>", methods=["GET", "POST"])
@scoped(_scope_for_resource)
def collection(account: Account, resource: str) -> Response:
    if resource not in RESOURCES or (request.method == "POST" and resource not in WRITABLE):
        return fail(404, "NOT_FOUND", f"The route {request.path} could not be found.")
    table = account.tables[resource]
    if request.method == "POST":
        body = _body()
        errors = _check(account, resource, body, None)
        if errors:
            return invalid(errors)
        if resource == "contacts" and len(table) >= (account.settings["contact_limit"] or 10**9):
            return fail(403, "FEATURE_LIMIT_EXCEEDED", "Contact limit reached for your plan")
        row = {k: v for k, v in body.items() if k not in ("id", "created_at", "updated_at")}
        if resource == "contacts":
            row = {"type": "lead", "group_id": [], "opted_out": False, **row}
        return ok(_insert(account, resource, row), 201)
    rows = list(reversed(table.values()))
    search = request.args.get("search")
    if search and resource == "contacts":
        rows = [r for r in rows if _digits(search) and _digits(search) in _digits(r["phone"])
                or search.lower() in f"{r['firstname']} {r['lastname']}".lower()]
    per_page = min(max(request.args.get("per_page", 15, type=int) or 15, 1), MAX_PER_PAGE)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    last = max((len(rows) + per_page - 1) // per_page, 1)
    return ok(rows[(page - 1) * per_page: page * per_page],
              meta={"current_page": page, "per_page": per_page, "total": len(rows),
                    "last_page": last})


@bp.route("/<resource>/<int:rid>", methods=["GET", "PATCH", "DELETE"])
@scoped(_scope_for_resource)
def member(account: Account, resource: str, rid: int) -> Response:
    if resource not in RESOURCES or (request.method != "GET" and resource not in WRITABLE):
        return fail(404, "NOT_FOUND", f"The route {request.path} could not be found.")
    row = account.tables[resource].get(rid)
    if row is None:
        return fail(404, "NOT_FOUND", f"{resource[:-1].capitalize()} not found")
    if request.method == "DELETE":
        del account.tables[resource][rid]
        return ok({"id": rid, "deleted": True})
    if request.method == "PATCH":
        body = _body()
        errors = _check(account, resource, body, row)
        if errors:
            return invalid(errors)
        row.update({k: v for k, v in body.items() if k not in ("id", "created_at")})
        row["updated_at"] = _now()
    return ok(row)


@bp.post("/groups/<int:gid>/contacts")
@scoped(lambda: "groups:write")
def add_members(account: Account, gid: int) -> Response:
    if gid not in account.tables["groups"]:
        return fail(404, "NOT_FOUND", "Group not found")
    ids = [int(i) for i in _body().get("contact_ids") or [] if str(i).isdigit()]
    missing = [i for i in ids if i not in account.tables["contacts"]]
    if not ids or missing:
        return invalid({"contact_ids": f"unknown contacts: {missing}" if missing else
                        "The contact_ids field is required."})
    for cid in ids:
        contact = account.tables["contacts"][cid]
        if gid not in contact["group_id"]:
            contact["group_id"] = [*contact["group_id"], gid]
    return ok({"group_id": gid, "contact_ids": ids})


@bp.delete("/groups/<int:gid>/contacts/<int:cid>")
@scoped(lambda: "groups:write")
def remove_member(account: Account, gid: int, cid: int) -> Response:
    contact = account.tables["contacts"].get(cid)
    if gid not in account.tables["groups"] or contact is None:
        return fail(404, "NOT_FOUND", "Group or contact not found")
    contact["group_id"] = [g for g in contact["group_id"] if g != gid]
    return ok({"group_id": gid, "contact_id": cid})


def _recipient(account: Account, body: dict[str, Any]) -> dict[str, Any] | Response:
    """Find the contact by phone, or auto-create it as a lead (needs the tenant's defaults)."""
    if not account.settings["whatsapp_connected"]:
        return fail(422, "WHATSAPP_NOT_CONFIGURED", "WhatsApp is not configured for this tenant")
    if not PHONE.match(str(body.get("phone", ""))):
        return invalid({"phone": "The phone must be 10-20 digits, +, -, spaces or parentheses."})
    digits = _digits(body["phone"])
    contact = next((c for c in account.tables["contacts"].values()
                    if _digits(c["phone"]) == digits), None)
    if contact is None:
        if not account.settings["auto_create"]:
            return invalid({"phone": "No contact has this phone and auto-create is not "
                                     "configured (default status, source and assignee)."})
        given = body.get("contact")
        hints: dict[str, Any] = given if isinstance(given, dict) else {}
        contact = _insert(account, "contacts", {
            "firstname": hints.get("first_name") or digits, "lastname": hints.get("last_name")
            or "", "phone": digits, "type": "lead", "status_id": 1, "source_id": 1,
            "group_id": [], "opted_out": False})
    if contact.get("opted_out"):
        return fail(403, "CONTACT_OPTED_OUT", "The contact has opted out")
    return contact


def _sent(account: Account, kind: str, contact: dict[str, Any], body: dict[str, Any],
          text: str) -> Response:
    wamid = "wamid." + secrets.token_urlsafe(24)
    account.record_send(kind, contact["phone"], wamid, body)
    return ok({"message_id": wamid, "contact_id": contact["id"], "phone": _digits(contact["phone"]),
               "message": text, "status": "sent", "sent_at": _now(), "chat_id": contact["id"],
               "chat_message_id": len(account.sent)})


@bp.post("/messages/text")
@scoped(lambda: "messages:send")
def send_text(account: Account) -> Response:
    body = _body()
    if not body.get("message") or len(str(body["message"])) > 4096:
        return invalid({"message": "The message field is required (at most 4096 characters)."})
    contact = _recipient(account, body)
    if isinstance(contact, Response):
        return contact
    return _sent(account, "text", contact, body, str(body["message"]))


@bp.post("/messages/media")
@scoped(lambda: "messages:send")
def send_media(account: Account) -> Response:
    body = _body()
    if body.get("media_type") not in ("image", "document", "video", "audio"):
        return invalid({"media_type": "The selected media type is invalid."})
    if not body.get("media_url"):
        return invalid({"media_url": "The media url field is required."})
    contact = _recipient(account, body)
    if isinstance(contact, Response):
        return contact
    return _sent(account, "media", contact, body, str(body.get("caption") or ""))


@bp.post("/messages/template")
@scoped(lambda: "messages:send")
def send_template(account: Account) -> Response:
    body = _body()
    template = next((t for t in account.tables["templates"].values()
                     if t["template_name"] == body.get("template_name")
                     and t["language"] == body.get("language") and t["status"] == "APPROVED"),
                    None)
    if template is None:
        return fail(404, "NOT_FOUND", "Approved template not found",
                    errors={"template_name": ["No APPROVED template with this name and language."]})
    missing = [f"field_{i}" for i in range(1, template["body_params_count"] + 1)
               if not body.get(f"field_{i}")]
    if template["header_params_count"] and not body.get("header_field_1"):
        missing.append("header_field_1")
    if missing:
        return invalid({name: f"{name} is required by the template" for name in missing})
    contact = _recipient(account, body)
    if isinstance(contact, Response):
        return contact
    return _sent(account, "template", contact, body, template["body_data"])


def _create_account(body: dict[str, Any]) -> Account:
    account = Account(slug=body["slug"], token=body["token"],
                      scopes=set(body.get("scopes") or ALL_SCOPES),
                      rate_limit_max=body.get("rate_limit_max", 60),
                      rate_window_s=float(body.get("rate_window_s", 60)),
                      settings={"whatsapp_connected": body.get("whatsapp_connected", True),
                                "auto_create": body.get("auto_create", True),
                                "contact_limit": body.get("contact_limit")})
    account.tables = {name: {} for name in RESOURCES}
    for name, color, default in STATUSES:
        _insert(account, "statuses", {"name": name, "color": color, "isdefault": default})
    for name in SOURCES:
        _insert(account, "sources", {"name": name})
    for spec in TEMPLATES:
        row = {k: v for k, v in spec.items() if k != "buttons"}
        _insert(account, "templates", {**row, "template_id": 10**15 + account.next_id,
                                       "buttons_data": json.dumps(spec["buttons"])})
    welcome = next(t["id"] for t in account.tables["templates"].values()
                   if t["template_name"] == "welcome")
    for bot in BOTS:
        _insert(account, bot["table"], {k: v for k, v in bot.items() if k != "table"}
                | ({"template_id": welcome} if bot["table"] == "templatebots" else {}))
    return account


def init_app(app: Flask) -> None:
    accounts = AccountBook()
    app.extensions[EXTENSION_KEY] = accounts
    app.register_blueprint(bp)
    app.register_blueprint(admin_blueprint("corbital_v2", accounts, _create_account))
