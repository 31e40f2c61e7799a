"""The platform's outbound webhooks (reference §1.8), emulated so tests can drive push triggers.

Per tenant, `PUT /_admin/tenants/<slug>/webhooks` sets:
- `model_url`: contact created/updated/deleted through the tenant API are POSTed there as model
  webhooks `{event, model, data:{id, attributes}, original, timestamp}` (3 attempts, 1 s / 2 s);
- `meta_url`: where Meta payloads are forwarded (unsigned, as the platform does);
- `auto_statuses` (e.g. `["sent", "delivered", "read"]`) and `auto_error_code`: after each
  accepted send, those statuses of its wamid are forwarded to `meta_url`, in that order.

`POST /_admin/tenants/<slug>/inbound` `{phone, text, name?}` forwards an inbound message and
`POST /_admin/tenants/<slug>/statuses` `{wamid, statuses, recipient?, error_code?}` forwards
statuses in the order given (repeats included); both answer with the receiver's HTTP statuses.
"""

from __future__ import annotations

import base64
import json
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import Blueprint, Flask, Response, current_app, jsonify, request

from connector.sandbox.contacts import view as contact_view
from connector.sandbox.state import current_store

EXTENSION_KEY = "corbital_sandbox_webhooks"
MODEL = "App\\Models\\Tenant\\Contact"
ATTEMPT_DELAYS_S = (0.0, 1.0, 2.0)
TIMEOUT_S = 30.0
ERROR_TITLES = {131047: "Re-engagement message", 131026: "Message undeliverable",
                131049: "This message was not delivered to maintain healthy ecosystem engagement"}

bp = Blueprint("sandbox_webhooks", __name__, url_prefix="/_admin/tenants/<slug>")


@dataclass
class Hooks:
    model_url: str | None = None
    meta_url: str | None = None
    auto_statuses: list[str] = field(default_factory=list)
    auto_error_code: int | None = None


class WebhookBook:
    """Tenant webhook settings and one sender thread (posts leave in the order they were made)."""

    def __init__(self) -> None:
        self.by_tenant: dict[str, Hooks] = {}
        self._outbox: queue.Queue[tuple[str, dict[str, Any], bool]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def send_later(self, url: str, payload: dict[str, Any], retry: bool) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sandbox-webhooks",
                                                daemon=True)
                self._thread.start()
        self._outbox.put((url, payload, retry))

    def _run(self) -> None:
        while True:
            url, payload, retry = self._outbox.get()
            post(url, payload, ATTEMPT_DELAYS_S if retry else (0.0,))


def post(url: str, payload: dict[str, Any], delays: tuple[float, ...] = (0.0,)) -> int | None:
    body = json.dumps(payload).encode()
    status = None
    for delay in delays:
        time.sleep(delay)
        try:
            status = requests.post(url, data=body, timeout=TIMEOUT_S, headers={
                "Content-Type": "application/json", "User-Agent": "whatsmark-Webhook/1.0",
                "X-Webhook-Event": str(payload.get("event", "meta"))}).status_code
        except requests.RequestException:
            status = None
        if status is not None and status < 300:
            break
    return status


def _book() -> WebhookBook:
    book: WebhookBook = current_app.extensions[EXTENSION_KEY]
    return book


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION_KEY] = WebhookBook()
    app.register_blueprint(bp)
    app.before_request(_snapshot_deleted)
    app.after_request(_emit)


# --- admin routes --------------------------------------------------------------------------


@bp.route("/webhooks", methods=["GET", "PUT"])
def settings(slug: str) -> Response | tuple[Response, int]:
    if slug not in current_store().tenants:
        return jsonify({"error": f"no tenant {slug!r}"}), 404
    hooks = _book().by_tenant.setdefault(slug, Hooks())
    if request.method == "PUT":
        body = request.get_json(silent=True) or {}
        for name in ("model_url", "meta_url", "auto_statuses", "auto_error_code"):
            if name in body:
                setattr(hooks, name, body[name])
    return jsonify(hooks.__dict__)


@bp.post("/inbound")
def inbound(slug: str) -> Response | tuple[Response, int]:
    hooks = _book().by_tenant.get(slug)
    if hooks is None or not hooks.meta_url:
        return jsonify({"error": "set meta_url first (PUT webhooks)"}), 422
    body = request.get_json(silent=True) or {}
    digits = str(body.get("phone", "")).lstrip("+")
    wamid = _wamid()
    message = {"from": digits, "id": wamid, "timestamp": str(int(time.time())), "type": "text",
               "text": {"body": str(body.get("text", ""))}}
    value = {"contacts": [{"profile": {"name": body.get("name") or "Sandbox User"},
                           "wa_id": digits}], "messages": [message]}
    return jsonify({"wamid": wamid, "status": post(hooks.meta_url, meta_payload(value))})


@bp.post("/statuses")
def statuses(slug: str) -> Response | tuple[Response, int]:
    hooks = _book().by_tenant.get(slug)
    if hooks is None or not hooks.meta_url:
        return jsonify({"error": "set meta_url first (PUT webhooks)"}), 422
    body = request.get_json(silent=True) or {}
    answers = [post(hooks.meta_url, status_payload(str(body.get("wamid")), name,
                                                   body.get("recipient"), body.get("error_code")))
               for name in body.get("statuses") or []]
    return jsonify({"forwarded": answers})


# --- payloads --------------------------------------------------------------------------------


def _wamid() -> str:
    return "wamid." + base64.b64encode(secrets.token_bytes(24)).decode()


def meta_payload(value: dict[str, Any]) -> dict[str, Any]:
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "15550000000", "phone_number_id": "1055"},
             **value}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "2055", "changes": [{"field": "messages", "value": value}]}]}


def status_payload(wamid: str, name: str, recipient: Any, error_code: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"id": wamid, "status": name, "timestamp": str(int(time.time())),
                              "recipient_id": str(recipient or "").lstrip("+")}
    if name == "failed" and error_code is not None:
        title = ERROR_TITLES.get(int(error_code), "Message failed")
        status["errors"] = [{"code": int(error_code), "title": title, "message": title,
                             "error_data": {"details": title}}]
    return meta_payload({"statuses": [status]})


# --- emitting on tenant API calls ------------------------------------------------------------


def _tenant_route() -> tuple[str, str] | None:
    """(tenant slug, view name) of a tenant API request, or None."""
    endpoint, args = request.endpoint or "", request.view_args or {}
    if "." not in endpoint or "tenant" not in args:
        return None
    return str(args["tenant"]), endpoint.split(".", 1)[1]


def _snapshot_deleted() -> None:
    route = _tenant_route()
    if route is None or route[1] != "delete_contact":
        return
    tenant = current_store().tenants.get(route[0])
    row_id = str((request.view_args or {}).get("row_id", ""))
    if tenant is not None and row_id.isdigit():
        with current_store().lock:
            row = tenant.table("contacts").get(int(row_id))
            request.environ["sandbox.deleted_contact"] = contact_view(row) if row else None


def _emit(response: Response) -> Response:
    route = _tenant_route()
    if route is None or response.status_code >= 300:
        return response
    hooks = _book().by_tenant.get(route[0])
    if hooks is None:
        return response
    view = route[1]
    if view in ("create_contact", "update_contact", "delete_contact") and hooks.model_url:
        _model_event(hooks, view.split("_")[0] + "d", response)
    elif view.startswith("send") and hooks.meta_url and hooks.auto_statuses:
        data = (response.get_json(silent=True) or {}).get("data") or {}
        wamid = data.get("message_id") or (
            ((data.get("whatsapp_response") or {}).get("messages") or [{}])[0].get("id"))
        for name in hooks.auto_statuses:
            _book().send_later(hooks.meta_url, status_payload(
                str(wamid), name, data.get("phone"), hooks.auto_error_code), retry=True)
    return response


def _model_event(hooks: Hooks, event: str, response: Response) -> None:
    if event == "deleted":
        attributes = request.environ.get("sandbox.deleted_contact")
    else:
        attributes = (response.get_json(silent=True) or {}).get("data")
    if not attributes or not hooks.model_url:
        return
    payload = {"event": event, "model": MODEL,
               "data": {"id": attributes.get("id"), "attributes": attributes, "relations": {}},
               "original": None, "timestamp": int(time.time())}
    _book().send_later(hooks.model_url, payload, retry=True)
