"""WBIZ emulator, the account's library: template writes, custom fields, quick replies,
interactive presets (and their send), flows (and their send) and media.

Routes, bodies and scopes follow the seed page (`shared/seeds/wbiz-api-reference.txt`). What the
seed leaves open is our inference [INF]: record shapes (camelCase, like the request bodies), 409
`conflict` for a duplicate name/key/shortcut, Meta's limits (button titles 20, list rows 24
characters), a template `PATCH` only for rejected (or draft) templates, which then go back to
review as `pending`, and the multipart field `file` of a media upload.
`POST /_admin/wbiz/accounts/<slug>/templates/<id>/review {status, reason?}` plays Meta's review.
"""

from __future__ import annotations

import re
import time
from typing import Any

from flask import Blueprint, Flask, Response, request

from connector.sandbox import wbiz_media
from connector.sandbox.accounts import Account, json_answer
from connector.sandbox.wbiz import PLACEHOLDER, _send, book, error, invalid, scoped

bp = Blueprint("wbiz_library", __name__, url_prefix="/api/wbiz/<tenant>/v1")
admin = Blueprint("wbiz_library_admin", __name__, url_prefix="/_admin/wbiz/accounts/<slug>")

TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
EDITABLE_TEMPLATES = ("draft", "rejected")
FIELD_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
FIELD_TYPES = ("text", "number", "date", "boolean", "select")
SHORTCUT = re.compile(r"^/[A-Za-z0-9_-]{1,31}$")
BUTTON_TITLE_MAX, ROW_TITLE_MAX, ROWS_MAX, BUTTONS_MAX = 20, 24, 10, 3
CTA_MAX = 20
FLOWS = (("flw_1001", "Book an appointment", "published", ["APPOINTMENT_BOOKING"]),
         ("flw_1002", "Lead form", "published", ["LEAD_GENERATION"]),
         ("flw_1003", "Survey (draft)", "draft", ["SURVEY"]))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _table(account: Account, name: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = account.tables.setdefault(name, {})
    return found


def _data(row: Any, status: int = 200) -> Response:
    return json_answer({"data": row}, status)


def _not_found(what: str) -> Response:
    return error(404, "not_found", f"{what} not found")


def _conflict(message: str) -> Response:
    return error(409, "conflict", message)


def _text(body: dict[str, Any], name: str, max_chars: int, problems: dict[str, str],
          required: bool = True) -> None:
    value = body.get(name)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip():
        problems[name] = f"{name} is required"
    elif len(value) > max_chars:
        problems[name] = f"{name} is at most {max_chars} characters"


# --- templates (GET lives in wbiz.py) ----------------------------------------------------------


def _template_problems(components: Any) -> dict[str, str]:
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        return {"components": "components must be a list of objects"}
    bodies = [c for c in components if c.get("type") == "BODY"]
    if len(bodies) != 1 or not str(bodies[0].get("text") or "").strip():
        return {"components": "components need exactly one BODY with text"}
    wanted = len(PLACEHOLDER.findall(str(bodies[0]["text"])))
    examples = (bodies[0].get("example") or {}).get("body_text") or [[]]
    if wanted and (not isinstance(examples, list) or len(examples[0] or []) != wanted):
        return {"components": f"the BODY has {wanted} variables: give example.body_text with "
                              f"{wanted} values"}
    return {}


@bp.post("/templates")
@scoped("templates:write")
def create_template(account: Account) -> Response:
    body, templates = _body(), account.tables["templates"]
    problems = _template_problems(body.get("components"))
    if not TEMPLATE_NAME.match(str(body.get("name") or "")):
        problems["name"] = "name must be lowercase letters, digits and underscores"
    if not body.get("language"):
        problems["language"] = "language is required"
    if body.get("category") not in CATEGORIES:
        problems["category"] = "category must be MARKETING, UTILITY or AUTHENTICATION"
    if problems:
        return invalid(problems)
    if any(t["name"] == body["name"] and t["language"] == body["language"]
           for t in templates.values()):
        return _conflict(f"a template {body['name']!r} ({body['language']}) exists")
    tid = f"tpl_{account.new_id()}"
    templates[tid] = {"id": tid, "metaId": str(10**15 + account.next_id), "name": body["name"],
                      "language": body["language"], "category": body["category"],
                      "status": "pending", "components": body["components"]}
    return _data(templates[tid], 201)


@bp.route("/templates/<tid>", methods=["PATCH", "DELETE"])
@scoped("templates:write")
def change_template(account: Account, tid: str) -> Response:
    template = account.tables["templates"].get(tid)
    if template is None:
        return _not_found("Template")
    if request.method == "DELETE":
        del account.tables["templates"][tid]
        return _data({"id": tid, "deleted": True})
    if template["status"] not in EDITABLE_TEMPLATES:
        return invalid({"status": f"only draft or rejected templates can be edited; this one "
                                  f"is {template['status']}"})
    components = _body().get("components")
    problems = _template_problems(components)
    if problems:
        return invalid(problems)
    template.update(components=components, status="pending")
    template.pop("rejectionReason", None)
    return _data(template)


@admin.post("/templates/<tid>/review")
def review_template(slug: str, tid: str) -> Response:
    """Admin: Meta's verdict on a template (`approved`, `rejected` with a `reason`, `paused`)."""
    with book().lock:
        account = book().accounts.get(slug)
        template = account.tables["templates"].get(tid) if account else None
        if template is None:
            return json_answer({"message": "no such template"}, 404)
        body = _body()
        template["status"] = str(body.get("status") or "approved")
        if template["status"] == "rejected":
            template["rejectionReason"] = body.get("reason") or "INVALID_FORMAT"
        return json_answer(template, 200)


# --- custom fields -----------------------------------------------------------------------------


@bp.get("/custom-fields")
@scoped("fields:read")
def list_fields(account: Account) -> Response:
    return _data(list(_table(account, "custom_fields").values()))


@bp.post("/custom-fields")
@scoped("fields:write")
def create_field(account: Account) -> Response:
    body, fields = _body(), _table(account, "custom_fields")
    problems: dict[str, str] = {}
    if not FIELD_KEY.match(str(body.get("key") or "")):
        problems["key"] = "key must start with a lowercase letter: a-z, 0-9 and _, at most 40"
    _text(body, "label", 100, problems)
    if body.get("type") not in FIELD_TYPES:
        problems["type"] = "type must be text, number, date, boolean or select"
    options = body.get("options")
    if body.get("type") == "select" and (not isinstance(options, list) or not options):
        problems["options"] = "a select field needs options"
    if problems:
        return invalid(problems)
    if body["key"] in fields:
        return _conflict(f"a field {body['key']!r} exists")
    fields[body["key"]] = {"key": body["key"], "label": body["label"], "type": body["type"],
                           "options": list(options or []) if body["type"] == "select" else [],
                           "createdAt": _now()}
    return _data(fields[body["key"]], 201)


@bp.delete("/custom-fields/<key>")
@scoped("fields:write")
def delete_field(account: Account, key: str) -> Response:
    if _table(account, "custom_fields").pop(key, None) is None:
        return _not_found("Field")
    return _data({"key": key, "deleted": True})


# --- quick replies (one scope for reads and writes, as the seed lists) -------------------------


def _quick_reply_problems(body: dict[str, Any], partial: bool, current: Any,
                          replies: dict[str, dict[str, Any]]) -> dict[str, str]:
    problems: dict[str, str] = {}
    if not (partial and "shortcut" not in body):
        if not SHORTCUT.match(str(body.get("shortcut") or "")):
            problems["shortcut"] = "shortcut must be '/' and 1-31 letters, digits, '_' or '-'"
        elif any(r["shortcut"] == body["shortcut"] and r is not current
                 for r in replies.values()):
            problems["shortcut"] = f"the shortcut {body['shortcut']} is taken"
    for name, limit in (("title", 60), ("body", 4096)):
        if not (partial and name not in body):
            _text(body, name, limit, problems)
    return problems


@bp.route("/quick-replies", methods=["GET", "POST"])
@scoped("quick_replies:write")
def quick_replies(account: Account) -> Response:
    replies = _table(account, "quick_replies")
    if request.method == "GET":
        return _data(list(reversed(replies.values())))
    body = _body()
    problems = _quick_reply_problems(body, False, None, replies)
    if problems:
        return invalid(problems)
    now, rid = _now(), f"qr_{account.new_id()}"
    replies[rid] = {"id": rid, "shortcut": body["shortcut"], "title": body["title"],
                    "body": body["body"], "createdAt": now, "updatedAt": now}
    return _data(replies[rid], 201)


@bp.route("/quick-replies/<rid>", methods=["PATCH", "DELETE"])
@scoped("quick_replies:write")
def quick_reply(account: Account, rid: str) -> Response:
    replies = _table(account, "quick_replies")
    reply = replies.get(rid)
    if reply is None:
        return _not_found("Quick reply")
    if request.method == "DELETE":
        del replies[rid]
        return _data({"id": rid, "deleted": True})
    body = {k: v for k, v in _body().items() if k in ("shortcut", "title", "body")}
    problems = _quick_reply_problems(body, True, reply, replies)
    if problems:
        return invalid(problems)
    reply.update(body, updatedAt=_now())
    return _data(reply)


# --- interactive presets ------------------------------------------------------------------------


def interactive_problems(card: dict[str, Any]) -> dict[str, str]:
    """What a buttons card (1-3 buttons) or list card (button text, 1-10 rows) lacks."""
    problems: dict[str, str] = {}
    _text(card, "body", 1024, problems)
    if card.get("kind") == "buttons":
        buttons = card.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= BUTTONS_MAX:
            problems["buttons"] = "a buttons card takes 1 to 3 buttons"
        elif any(not isinstance(b, dict) or not b.get("id") or not b.get("title")
                 or len(str(b["title"])) > BUTTON_TITLE_MAX for b in buttons):
            problems["buttons"] = "each button needs an id and a title of at most 20 characters"
    elif card.get("kind") == "list":
        _text(card, "buttonText", BUTTON_TITLE_MAX, problems)
        rows = card.get("rows")
        if not isinstance(rows, list) or not 1 <= len(rows) <= ROWS_MAX:
            problems["rows"] = "a list card takes 1 to 10 rows"
        elif any(not isinstance(r, dict) or not r.get("id") or not r.get("title")
                 or len(str(r["title"])) > ROW_TITLE_MAX for r in rows):
            problems["rows"] = "each row needs an id and a title of at most 24 characters"
    else:
        problems["kind"] = "kind must be buttons or list"
    return problems


CARD_FIELDS = ("kind", "body", "buttons", "buttonText", "rows")


@bp.route("/interactive", methods=["GET", "POST"])
@scoped("interactive:write")
def presets(account: Account) -> Response:
    table = _table(account, "interactive")
    if request.method == "GET":
        return _data(list(reversed(table.values())))
    card = {k: v for k, v in _body().items() if k in CARD_FIELDS}
    problems = interactive_problems(card)
    if problems:
        return invalid(problems)
    now, pid = _now(), f"ipr_{account.new_id()}"
    table[pid] = {"id": pid, **card, "createdAt": now, "updatedAt": now}
    return _data(table[pid], 201)


@bp.route("/interactive/<pid>", methods=["GET", "PATCH", "DELETE"])
@scoped("interactive:write")
def preset(account: Account, pid: str) -> Response:
    table = _table(account, "interactive")
    card = table.get(pid)
    if card is None:
        return _not_found("Preset")
    if request.method == "DELETE":
        del table[pid]
        return _data({"id": pid, "deleted": True})
    if request.method == "PATCH":
        merged = {**card, **{k: v for k, v in _body().items() if k in CARD_FIELDS}}
        problems = interactive_problems(merged)
        if problems:
            return invalid(problems)
        card.update(merged, updatedAt=_now())
    return _data(card)


@bp.post("/interactive/<pid>/send")
@scoped("interactive:write")
def send_preset(account: Account, pid: str) -> Response:
    card = _table(account, "interactive").get(pid)
    if card is None:
        return _not_found("Preset")
    payload = {k: card[k] for k in CARD_FIELDS if k in card}
    return _send(account, "interactive", {**payload, "presetId": pid, "to": _body().get("to")},
                 lambda body: {})


# --- flows ---------------------------------------------------------------------------------------


def _flows(account: Account) -> dict[str, dict[str, Any]]:
    table = _table(account, "flows")
    if not table:
        for fid, name, status, categories in FLOWS:
            table[fid] = {"id": fid, "name": name, "status": status, "categories": categories,
                          "createdAt": _now()}
    return table


@bp.get("/flows")
@scoped("flows:read")
def list_flows(account: Account) -> Response:
    return _data([f for f in _flows(account).values() if f["status"] == "published"])


@bp.get("/flows/<fid>")
@scoped("flows:read")
def get_flow(account: Account, fid: str) -> Response:
    flow = _flows(account).get(fid)
    return _data(flow) if flow else _not_found("Flow")


@bp.post("/flows/<fid>/send")
@scoped("flows:write")
def send_flow(account: Account, fid: str) -> Response:
    flow = _flows(account).get(fid)
    if flow is None:
        return _not_found("Flow")

    def check(body: dict[str, Any]) -> dict[str, str]:
        problems: dict[str, str] = {}
        if flow["status"] != "published":
            problems["flow"] = f"the flow is {flow['status']}; publish it before sending"
        _text(body, "bodyText", 1024, problems)
        _text(body, "ctaText", CTA_MAX, problems)
        return problems

    return _send(account, "flow", {**_body(), "flowId": fid}, check)


# --- media ---------------------------------------------------------------------------------------


@bp.post("/media")
@scoped("media:write")
def upload_media(account: Account) -> Response:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return invalid({"file": "send the bytes as multipart/form-data field 'file'"})
    size = len(upload.read())
    problem = wbiz_media.upload_problem(upload.mimetype, size)
    if problem is not None:
        return invalid({"file": problem})
    mid = f"med_{account.new_id()}"
    _table(account, "media")[mid] = {
        "id": mid, "mediaId": mid, "filename": upload.filename,
        "mimeType": upload.mimetype or "application/octet-stream", "size": size,
        "createdAt": _now()}
    return _data(_table(account, "media")[mid], 201)


@bp.route("/media/<mid>", methods=["GET", "DELETE"])
@scoped("media:write")
def media(account: Account, mid: str) -> Response:
    table = _table(account, "media")
    if mid not in table:
        return _not_found("Media")
    if request.method == "DELETE":
        del table[mid]
        return _data({"id": mid, "deleted": True})
    return _data(table[mid])


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(admin)
