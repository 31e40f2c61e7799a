"""WBIZ operations on the account's library: the account itself, template writes, custom fields,
quick replies, interactive presets, flows, list messages and uploaded media.

Paths and bodies: the seed page (`shared/seeds/wbiz-api-reference.txt`) and upstream-apis.md §5;
record shapes beyond the request bodies are inferred, as in the emulator. Each operation gets
the dialect's client (`wbiz._Api`) and speaks through `client`, whose error rules point the
upstream's camelCase fields at our input names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from connector.engine.outcome import Outcome, OutcomeKind, success
from connector.providers import wbiz_mapping as wm
from connector.providers.dialect import (
    BearerApi,
    In,
    Operation,
    Stop,
    local_page,
    phone,
    record,
    sent,
)

RULES = replace(wm.WBIZ_ERROR_RULES, field_names={
    "to": "phone", "bodyText": "body_text", "ctaText": "cta_text", "buttonText": "button_text",
    "components": "body"})


def client(api: BearerApi) -> BearerApi:
    return BearerApi(api.ctx, api.prefix, RULES)


def items_of(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = body.get("data")
    if not isinstance(found, list):
        raise Stop(Outcome(OutcomeKind.UPSTREAM_ERROR, "the upstream answered without a list"))
    return [i for i in found if isinstance(i, Mapping)]


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _path(collection: str, key: Any) -> str:
    return f"{collection}/{quote(str(key), safe='')}"


def _created(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {"created_at": raw.get("createdAt"),
            "updated_at": raw.get("updatedAt") or raw.get("createdAt")}


# --- converters ----------------------------------------------------------------------------------


def quick_reply_from_upstream(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": str(raw.get("id")), "shortcut": raw.get("shortcut"), "title": raw.get("title"),
            "body": raw.get("body"), **_created(raw)}


def preset_from_upstream(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": str(raw.get("id")), "kind": raw.get("kind"), "body": raw.get("body"),
            "buttons": [{"id": str(b.get("id")), "title": b.get("title")}
                        for b in raw.get("buttons") or [] if isinstance(b, Mapping)],
            "button_text": raw.get("buttonText"),
            "rows": [{"id": str(r.get("id")), "title": r.get("title"),
                      "description": r.get("description")}
                     for r in raw.get("rows") or [] if isinstance(r, Mapping)],
            **_created(raw)}


def flow_from_upstream(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": str(raw.get("id")), "name": raw.get("name"), "status": raw.get("status"),
            "categories": [str(c) for c in raw.get("categories") or []],
            "created_at": raw.get("createdAt")}


def custom_field_from_upstream(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {"key": raw.get("key"), "label": raw.get("label"), "type": raw.get("type"),
            "options": [str(o) for o in raw.get("options") or []]}


def media_from_upstream(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": str(raw.get("mediaId") or raw.get("id")), "filename": raw.get("filename"),
            "mime_type": raw.get("mimeType"), "size_bytes": raw.get("size"),
            "created_at": raw.get("createdAt")}


def card_to_upstream(data: In) -> dict[str, Any]:
    """An interactive card (preset or list message) from our fields."""
    names = {"kind": "kind", "body": "body", "buttons": "buttons", "button_text": "buttonText",
             "rows": "rows"}
    return {theirs: data[ours] for ours, theirs in names.items() if ours in data}


# --- account -------------------------------------------------------------------------------------


def op_get_account(api: BearerApi, params: In, data: In) -> Outcome:
    """`GET v1/me` (who the key is) and `GET v1/account` (plan and entitlement)."""
    me = record(api.get("v1/me").get("data"), "the key's account")
    billing = record(api.get("v1/account").get("data"), "the account")
    account, waba = mapping(me.get("account")), mapping(me.get("waba"))
    scopes = mapping(me.get("key")).get("scopes")
    return success({
        "account_id": str(account.get("id")), "name": account.get("name"),
        "waba_id": None if waba.get("id") is None else str(waba.get("id")),
        "phone_numbers": [{"id": str(n.get("id")), "display_phone_number":
                           n.get("displayPhoneNumber"), "verified_name": n.get("verifiedName")}
                          for n in me.get("phoneNumbers") or [] if isinstance(n, Mapping)],
        "plan": billing.get("plan"), "entitled": bool(billing.get("entitled")),
        "scopes": sorted(str(s) for s in scopes) if isinstance(scopes, list) else None})


# --- templates -----------------------------------------------------------------------------------

_COMPONENT_ORDER = ("HEADER", "BODY", "FOOTER", "BUTTONS")


def template_components(data: In, current: list[Any] | None = None) -> list[dict[str, Any]]:
    """Meta `components[]` from our fields, over `current` (the stored ones) for an update."""
    parts = {str(c.get("type", "")).upper(): dict(c) for c in current or []
             if isinstance(c, Mapping)}
    if "header_text" in data:
        parts["HEADER"] = {"type": "HEADER", "format": "TEXT", "text": data["header_text"]}
    if "body" in data or "body_examples" in data:
        body = parts.get("BODY") or {"type": "BODY"}
        if "body" in data:
            body["text"] = data["body"]
        if data.get("body_examples"):
            body["example"] = {"body_text": [list(data["body_examples"])]}
        parts["BODY"] = body
    if "footer" in data:
        parts["FOOTER"] = {"type": "FOOTER", "text": data["footer"]}
    ordered = [parts[k] for k in _COMPONENT_ORDER if k in parts]
    return ordered + [v for k, v in parts.items() if k not in _COMPONENT_ORDER]


def op_create_template(api: BearerApi, params: In, data: In) -> Outcome:
    payload = {"name": data["name"], "language": data["language"], "category": data["category"],
               "components": template_components(data)}
    body = client(api).send("POST", "v1/templates", payload)
    return success(wm.template_from_upstream(record(body.get("data"), "the template")))


def op_update_template(api: BearerApi, params: In, data: In) -> Outcome:
    """Read the components, change the parts given, `PATCH` them whole (the seed's body)."""
    path = _path("v1/templates", data["id"])
    current = record(api.get(path).get("data"), "the template")
    components = template_components(data, list(current.get("components") or []))
    body = client(api).send("PATCH", path, {"components": components})
    return success(wm.template_from_upstream(record(body.get("data"), "the template")))


# --- generic collections -------------------------------------------------------------------------


Convert = Callable[[Mapping[str, Any]], dict[str, Any]]


def lister(path: str, convert: Convert) -> Operation[BearerApi]:
    def op(api: BearerApi, params: In, data: In) -> Outcome:
        return success(local_page([convert(i) for i in items_of(api.get(path))], data))
    return op


def getter(path: str, convert: Convert, key: str = "id") -> Operation[BearerApi]:
    def op(api: BearerApi, params: In, data: In) -> Outcome:
        return success(convert(record(api.get(_path(path, data[key])).get("data"), "the record")))
    return op


def writer(method: str, path: str, convert: Convert,
           body: Callable[[In], dict[str, Any]], key: str | None = None) -> Operation[BearerApi]:
    """POST to `path`, or `method` to `path/<data[key]>`, sending `body(data)`."""
    def op(api: BearerApi, params: In, data: In) -> Outcome:
        target = _path(path, data[key]) if key else path
        answer = client(api).send(method, target, body(data))
        return success(convert(record(answer.get("data"), "the record")))
    return op


def deleter(path: str, key: str = "id") -> Operation[BearerApi]:
    def op(api: BearerApi, params: In, data: In) -> Outcome:
        client(api).send("DELETE", _path(path, data[key]))
        return success({key: str(data[key]), "deleted": True})
    return op


def _fields(*names: str) -> Callable[[In], dict[str, Any]]:
    return lambda data: {n: data[n] for n in names if n in data}


# --- sends ---------------------------------------------------------------------------------------


def _send(api: BearerApi, path: str, payload: dict[str, Any], data: In) -> Outcome:
    e164 = phone(data.get("phone"), api.ctx)
    body = client(api).send("POST", path, {"to": e164, **payload})
    found = body.get("data")
    result: Mapping[str, Any] = found if isinstance(found, Mapping) else body
    return sent(result.get("wamid") or result.get("id"), result.get("contactId"), e164)


def op_send_list(api: BearerApi, params: In, data: In) -> Outcome:
    card = card_to_upstream({**data, "kind": "list", "body": data["text"]})
    return _send(api, "v1/messages/interactive", card, data)


def op_send_interactive_preset(api: BearerApi, params: In, data: In) -> Outcome:
    return _send(api, _path("v1/interactive", data["id"]) + "/send", {}, data)


def op_send_flow(api: BearerApi, params: In, data: In) -> Outcome:
    payload = {"bodyText": data["body_text"], "ctaText": data["cta_text"]}
    return _send(api, _path("v1/flows", data["id"]) + "/send", payload, data)


OPERATIONS: Mapping[str, Operation[BearerApi]] = {
    "get_account": op_get_account,
    "create_template": op_create_template,
    "update_template": op_update_template,
    "delete_template": deleter("v1/templates"),
    "list_custom_fields": lister("v1/custom-fields", custom_field_from_upstream),
    "create_custom_field": writer("POST", "v1/custom-fields", custom_field_from_upstream,
                                  _fields("key", "label", "type", "options")),
    "delete_custom_field": deleter("v1/custom-fields", key="key"),
    "list_quick_replies": lister("v1/quick-replies", quick_reply_from_upstream),
    "create_quick_reply": writer("POST", "v1/quick-replies", quick_reply_from_upstream,
                                 _fields("shortcut", "title", "body")),
    "update_quick_reply": writer("PATCH", "v1/quick-replies", quick_reply_from_upstream,
                                 _fields("shortcut", "title", "body"), key="id"),
    "delete_quick_reply": deleter("v1/quick-replies"),
    "list_interactive_presets": lister("v1/interactive", preset_from_upstream),
    "get_interactive_preset": getter("v1/interactive", preset_from_upstream),
    "create_interactive_preset": writer("POST", "v1/interactive", preset_from_upstream,
                                        card_to_upstream),
    "update_interactive_preset": writer("PATCH", "v1/interactive", preset_from_upstream,
                                        card_to_upstream, key="id"),
    "delete_interactive_preset": deleter("v1/interactive"),
    "send_interactive_preset": op_send_interactive_preset,
    "list_flows": lister("v1/flows", flow_from_upstream),
    "get_flow": getter("v1/flows", flow_from_upstream),
    "send_flow": op_send_flow,
    "send_list": op_send_list,
    "get_media": getter("v1/media", media_from_upstream),
    "delete_media": deleter("v1/media"),
}
