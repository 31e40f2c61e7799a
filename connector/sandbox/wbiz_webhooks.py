"""WBIZ emulator: webhook subscriptions (`/v1/webhooks`, scope `webhooks:manage`) and the admin
routes that drive events (message statuses) and show what the webhooks were sent.

Per the seed: create takes `url` and `events[]` and returns the signing secret once; get, list
and update never show it again; PATCH changes `url`, `events` or `active`; `POST /:id/test`
fires a sample event (type `webhook.test`) at the URL so the receiver can check the signature.
The sample is queued like every delivery (the answer does not wait for the receiver).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from flask import Blueprint, Flask, Response, request

from connector.sandbox import wbiz_events as events
from connector.sandbox.accounts import Account, json_answer
from connector.sandbox.wbiz import book, error, invalid, scoped
from connector.webhook_signing import generate_webhook_secret

bp = Blueprint("wbiz_webhooks", __name__, url_prefix="/api/wbiz/<tenant>/v1")
admin = Blueprint("wbiz_events_admin", __name__, url_prefix="/_admin/wbiz/accounts/<slug>")
URL_SCHEMES = ("http://", "https://")
FIELDS = ("url", "events", "active")


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _view(hook: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hook.items() if k != "secret"}


def _problems(body: dict[str, Any], partial: bool) -> dict[str, str]:
    problems = {}
    if not (partial and "url" not in body) and not str(body.get("url") or "").startswith(
            URL_SCHEMES):
        problems["url"] = "url must be an http(s) URL"
    if not (partial and "events" not in body):
        wanted = body.get("events")
        if not isinstance(wanted, list) or not wanted or not set(wanted) <= set(
                events.EVENT_TYPES):
            problems["events"] = "events must be a non-empty list of: " + ", ".join(
                events.EVENT_TYPES)
    if "active" in body and not isinstance(body["active"], bool):
        problems["active"] = "active must be true or false"
    return problems


@bp.get("/webhooks")
@scoped("webhooks:manage")
def list_webhooks(account: Account) -> Response:
    return json_answer({"data": [_view(h) for h in events.webhooks(account).values()]}, 200)


@bp.post("/webhooks")
@scoped("webhooks:manage")
def create_webhook(account: Account) -> Response:
    body = _body()
    problems = _problems(body, partial=False)
    if problems:
        return invalid(problems)
    now = events.iso(time.time())
    hook = {"id": f"wh_{account.new_id()}", "url": body["url"], "events": list(body["events"]),
            "active": body.get("active", True), "createdAt": now, "updatedAt": now,
            "secret": generate_webhook_secret()}
    events.webhooks(account)[hook["id"]] = hook
    return json_answer({"data": {**_view(hook), "secret": hook["secret"]}}, 201)


@bp.route("/webhooks/<wid>", methods=["GET", "PATCH", "DELETE"])
@scoped("webhooks:manage")
def one_webhook(account: Account, wid: str) -> Response:
    hooks = events.webhooks(account)
    hook = hooks.get(wid)
    if hook is None:
        return error(404, "not_found", "Webhook not found")
    if request.method == "DELETE":
        del hooks[wid]
        return json_answer({"data": {"id": wid, "deleted": True}}, 200)
    if request.method == "PATCH":
        body = {k: v for k, v in _body().items() if k in FIELDS}
        problems = _problems(body, partial=True)
        if problems:
            return invalid(problems)
        hook.update(body)
        hook["updatedAt"] = events.iso(time.time())
    return json_answer({"data": _view(hook)}, 200)


@bp.post("/webhooks/<wid>/test")
@scoped("webhooks:manage")
def test_webhook(account: Account, wid: str) -> Response:
    hook = events.webhooks(account).get(wid)
    if hook is None:
        return error(404, "not_found", "Webhook not found")
    sample = {"id": f"evt_test_{secrets.token_hex(6)}", "type": "webhook.test",
              "createdAt": events.iso(time.time()), "data": {"webhookId": wid}}
    events.dispatch(account, events.current_sender(), sample, webhook_ids=(wid,))
    return json_answer({"data": {"id": wid, "eventId": sample["id"], "queued": True}}, 200)


# --- admin ---------------------------------------------------------------------------------------


@admin.post("/statuses")
def statuses(slug: str) -> Response:
    """`{wamid, statuses: [...], to?, error_code?}`: WhatsApp reports these, in this order."""
    body = _body()
    with book().lock:
        account = book().accounts.get(slug)
        if account is None:
            return json_answer({"message": "no such account"}, 404)
        for name in body.get("statuses") or []:
            events.record(account, events.current_sender(), "message.status", events.status_data(
                str(body.get("wamid")), str(name), body.get("to"), body.get("error_code")))
        return json_answer({"events": len(account.tables["events"])}, 201)


@admin.get("/webhook-deliveries")
def webhook_deliveries(slug: str) -> Response:
    with book().lock:
        account = book().accounts.get(slug)
        if account is None:
            return json_answer({"message": "no such account"}, 404)
        with events.current_sender().lock:
            found = [dict(d, attempts=list(d["attempts"])) for d in events.deliveries(account)]
    return json_answer({"deliveries": found}, 200)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(admin)
