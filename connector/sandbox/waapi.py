"""waapi.app emulator: `/api/waapi/<account>/v1/instances/...` like https://waapi.app/api/v1/... .

Follows upstream-apis.md §4: token permissions create/read/update/delete (403 naming the one
missing), instances that are yours or 404, client status and QR while pairing, and client
actions that answer HTTP 200 with an inner `data.status: "error"` when the instance is not ready
or the `chatId` is malformed. `get-number-id` resolves a number to its `@c.us` id (null when the
number is not on WhatsApp). Which permission guards client actions is unconfirmed (§8.8): we
require `update`. 429 carries `retry_after` in the body and `Retry-After`. The envelope helpers
live in `waapi_replies.py`, the group and contact-card actions in `waapi_groups.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request

from connector.sandbox import waapi_groups
from connector.sandbox.accounts import (
    Account,
    AccountBook,
    Admission,
    Refusal,
    admin_blueprint,
    json_answer,
)
from connector.sandbox.waapi_replies import CHAT_ID, inner, inner_error, number_id, sent

EXTENSION_KEY = "waapi_sandbox"
PERMISSIONS = ("create", "read", "update", "delete")
QR_PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4"
          "DwABBAEAwS2OUAAAAABJRU5ErkJggg==")

bp = Blueprint("waapi", __name__, url_prefix="/api/waapi/<tenant>/v1")
View = Callable[..., Response]


def book() -> AccountBook:
    found: AccountBook = current_app.extensions[EXTENSION_KEY]
    return found


def _error(status: int, message: str, **extra: Any) -> Response:
    return json_answer({"status": "error", "message": message, **extra}, status)


def permitted(permission: str) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(tenant: str, instance_id: str | None = None, **kwargs: Any) -> Response:
            with book().lock:
                admitted = book().admit(tenant, permission)
                if not isinstance(admitted, Admission):
                    return _refused(admitted)
                account = admitted.account
                if instance_id is None:
                    return view(account, **kwargs)
                instance = account.tables["instances"].get(instance_id)
                if instance is None:
                    return _error(404, "Instance not found or not owned by you")
                g.account = account
                return view(account, instance, **kwargs)

        return wrapper

    return decorate


def _refused(refusal: Refusal) -> Response:
    if refusal.kind == "unknown":
        return _error(404, "Not found")
    if refusal.kind == "auth":
        return _error(401, "Unauthenticated.")
    if refusal.kind == "scope":
        return _error(403, f"Your API token is missing the permission: {refusal.scope}")
    response = _error(429, "Too Many Attempts.", retry_after=refusal.retry_after_s)
    response.headers["Retry-After"] = str(refusal.retry_after_s)
    return response


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _instance_view(instance: dict[str, Any]) -> dict[str, Any]:
    return {k: instance[k] for k in ("id", "name", "owner", "webhook_url", "webhook_events",
                                     "is_trial")}


@bp.get("/instances")
@permitted("read")
def list_instances(account: Account) -> Response:
    return json_answer({"instances": [_instance_view(i) for i in
                                      account.tables["instances"].values()],
                        "status": "success"}, 200)


@bp.get("/instances/<instance_id>")
@permitted("read")
def get_instance(account: Account, instance: dict[str, Any]) -> Response:
    return json_answer({"instance": _instance_view(instance), "status": "success"}, 200)


@bp.put("/instances/<instance_id>")
@permitted("update")
def update_instance(account: Account, instance: dict[str, Any]) -> Response:
    body = _body()
    if "name" in body:
        instance["name"] = body["name"]
    webhook = body.get("webhook")
    if isinstance(webhook, dict):
        instance["webhook_url"] = webhook.get("url")
        instance["webhook_events"] = list(webhook.get("events") or [])
    return json_answer({"data": _client_status(instance), "status": "success"}, 200)


def _client_status(instance: dict[str, Any]) -> dict[str, Any]:
    return {"status": "success", "instanceId": instance["id"], "name": instance["name"],
            "instanceStatus": instance["state"], "instanceWebhook": instance["webhook_url"],
            "instanceEvents": instance["webhook_events"]}


@bp.get("/instances/<instance_id>/client/status")
@permitted("read")
def client_status(account: Account, instance: dict[str, Any]) -> Response:
    return json_answer({"clientStatus": _client_status(instance), "status": "success"}, 200)


@bp.get("/instances/<instance_id>/client/qr")
@permitted("read")
def client_qr(account: Account, instance: dict[str, Any]) -> Response:
    code: dict[str, Any]
    if instance["state"] != "qr":
        code = {"status": "error", "message": f"instance is {instance['state']}, not waiting "
                "for a QR scan"}
    else:
        code = {"status": "success", "instanceId": instance["id"], "data": {"qr_code": QR_PNG}}
    return json_answer({"qrCode": code, "status": "success"}, 200)


def _get_number_id(account: Account, instance: dict[str, Any], body: dict[str, Any]) -> Response:
    return inner(instance, {"status": "success",
                            "numberId": number_id(account, str(body.get("number", "")))})


def _send_message(account: Account, instance: dict[str, Any], body: dict[str, Any]) -> Response:
    if not body.get("message"):
        return inner_error(instance, "message is required")
    return sent(account, instance, "chat", body, str(body["message"]))


def _send_media(account: Account, instance: dict[str, Any], body: dict[str, Any]) -> Response:
    if not body.get("mediaUrl") and not (body.get("mediaBase64") and body.get("mediaName")):
        return inner_error(instance, "mediaUrl, or mediaBase64 with mediaName, is required")
    return sent(account, instance, "media", body, str(body.get("mediaCaption") or ""))


def _send_location(account: Account, instance: dict[str, Any], body: dict[str, Any]) -> Response:
    if body.get("latitude") is None or body.get("longitude") is None:
        return inner_error(instance, "latitude and longitude are required")
    return sent(account, instance, "location", body, str(body.get("description") or ""))


def _create_poll(account: Account, instance: dict[str, Any], body: dict[str, Any]) -> Response:
    options = body.get("options")
    if not body.get("caption") or not isinstance(options, list) or len(options) < 2:
        return inner_error(instance, "a poll needs a caption and at least two options")
    return sent(account, instance, "poll_creation", body, str(body["caption"]))


def _get_contact(account: Account, instance: dict[str, Any], body: dict[str, Any]) -> Response:
    chat_id = str(body.get("contactId", ""))
    if not CHAT_ID.match(chat_id):
        return inner_error(instance, f"invalid contactId {chat_id!r}")
    saved = account.tables["contacts"].get(chat_id)
    contact = {"id": {"server": "c.us", "user": chat_id.split("@")[0], "_serialized": chat_id},
               "number": chat_id.split("@")[0], "isMyContact": saved is not None,
               "name": saved["name"] if saved else None, "pushname": "WhatsApp user"}
    return inner(instance, {"status": "success", "contact": contact})


def _upsert_contact(account: Account, instance: dict[str, Any], body: dict[str, Any]) -> Response:
    number = number_id(account, str(body.get("phoneNumber", "")))
    if number is None:
        return inner_error(instance, "phoneNumber is not a WhatsApp number")
    name = " ".join(p for p in (body.get("firstName"), body.get("lastName")) if p) or None
    account.tables["contacts"][number["_serialized"]] = {"name": name}
    return inner(instance, {"status": "success", "contactId": number["_serialized"]})


ActionHandler = Callable[[Account, dict[str, Any], dict[str, Any]], Response]
ACTIONS: dict[str, ActionHandler] = {
    "get-number-id": _get_number_id,
    "send-message": _send_message,
    "send-media": _send_media,
    "send-location": _send_location,
    "create-poll": _create_poll,
    "get-contact-by-id": _get_contact,
    "upsert-contact": _upsert_contact,
    **waapi_groups.ACTIONS,
}


@bp.post("/instances/<instance_id>/client/action/<name>")
@permitted("update")
def client_action(account: Account, instance: dict[str, Any], name: str) -> Response:
    handler = ACTIONS.get(name)
    if handler is None:
        return _error(404, f"Unknown action {name}")
    if instance["state"] != "ready":
        # §4: an outer success with the real verdict inside.
        return inner_error(instance, f"instance is not ready (status: {instance['state']})")
    return handler(account, instance, _body())


def _create_account(body: dict[str, Any]) -> Account:
    account = Account(slug=body["slug"], token=body["token"],
                      scopes=set(body.get("permissions") or PERMISSIONS),
                      rate_limit_max=body.get("rate_limit_max"),
                      rate_window_s=float(body.get("rate_window_s", 60)),
                      settings={"unregistered": list(body.get("unregistered") or [])})
    account.tables = {"instances": {}, "contacts": {}}
    for spec in body.get("instances") or [{"id": "1"}]:
        iid = str(spec["id"])
        account.tables["instances"][iid] = {
            "id": iid, "name": spec.get("name", f"Instance {iid}"), "owner": "owner@example.com",
            "webhook_url": None, "webhook_events": [], "is_trial": False,
            "state": spec.get("status", "ready"), "me": "4915100000000@c.us"}
    return account


def _set_instance(slug: str, instance_id: str) -> Response:
    """Admin: change an instance's client state (ready, qr, disconnected...)."""
    with book().lock:
        account = book().accounts.get(slug)
        instance = account.tables["instances"].get(instance_id) if account else None
        if instance is None:
            return json_answer({"message": "no such instance"}, 404)
        instance["state"] = _body().get("status", instance["state"])
        return json_answer(_instance_view(instance) | {"status": instance["state"]}, 200)


def init_app(app: Flask) -> None:
    accounts = AccountBook()
    app.extensions[EXTENSION_KEY] = accounts
    app.register_blueprint(bp)
    admin = admin_blueprint("waapi", accounts, _create_account)
    admin.add_url_rule("/accounts/<slug>/instances/<instance_id>", "instance", _set_instance,
                       methods=["PATCH"])
    app.register_blueprint(admin)
