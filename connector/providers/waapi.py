"""The waapi.app dialect (a QR-paired WhatsApp Web gateway): operations -> instance actions.

URL = base (`https://waapi.app/api/v1/`) + `instances/{instance_id}/client/...` (upstream-apis.md
§4). Numbers become `chatId`s through `get-number-id` (a wrong suffix is accepted and delivers
nothing), cached per connection. An action may answer HTTP 200 with an inner
`data.status: "error"`; `classify` already treats that as a failure with the inner message.
There are no templates and no statuses, sources or contact lists here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from connector.engine.classify import ErrorRules
from connector.engine.outcome import FieldError, Outcome, OutcomeKind, invalid, success
from connector.providers import corbital_window as cw
from connector.providers import waapi_groups
from connector.providers.base import CallContext, ProbeResult
from connector.providers.dialect import (
    BearerApi,
    In,
    Operation,
    Stop,
    TableDialect,
    join_name,
    phone,
    record,
    sent,
    split_name,
)
from connector.redis_keys import CACHE_TTL_S

WAAPI_ERROR_RULES = ErrorRules(
    # waapi token permissions are create/read/update/delete on instances (seed 003); a 403
    # names the one missing ("missing the permission: read" in the emulator; the real words are
    # unconfirmed, §8.8), which we call `instances:read`.
    scope_message_pattern=r"missing the permission\W+(?P<ability>create|read|update|delete)",
    ability_format="instances:{}",
    halt_reasons=(("blocked", "the waapi account is blocked"),),
    field_names={"chatId": "phone", "message": "text", "mediaUrl": "media_url"},
)

ASSUMED_PERMISSIONS = ("instances:update", "instances:create", "instances:delete")


class _Api(BearerApi):
    def __init__(self, ctx: CallContext) -> None:
        instance = ctx.connection.instance_id
        if not instance:
            raise Stop(invalid("a waapi connection needs its instance id",
                               FieldError("/instance_id", "the instance id is missing")))
        super().__init__(ctx, ctx.connection.base_url, WAAPI_ERROR_RULES)
        self.instance = f"instances/{quote(instance, safe='')}"

    def action(self, name: str, body: Mapping[str, Any], *, side_effect: bool = True
               ) -> dict[str, Any]:
        """POST `client/action/<name>`; the answer's `data` (its inner status was success)."""
        outcome = self.request("POST", f"{self.instance}/client/action/{name}",
                               side_effect=side_effect, json=body)
        if not outcome.ok:
            raise Stop(outcome)
        output = outcome.output if isinstance(outcome.output, dict) else {}
        return dict(record(output.get("data"), "a data object"))

    def chat_id(self, e164: str, pointer: str = "/phone") -> str:
        """`4917...@c.us` for a number, from `get-number-id`; refuses numbers not on WhatsApp
        (an `invalid` outcome at `pointer`)."""
        key = f"waapi:chat:{e164}"
        cached = self.ctx.cache.get(key)
        if isinstance(cached, str):
            return cached
        data = self.action("get-number-id", {"number": e164[1:]}, side_effect=False)
        number_id = data.get("numberId")
        serialized = number_id.get("_serialized") if isinstance(number_id, Mapping) else None
        if not serialized:
            raise Stop(invalid(f"{e164} is not registered on WhatsApp",
                               FieldError(pointer, "no WhatsApp account has this number")))
        self.ctx.cache.set(key, str(serialized), CACHE_TTL_S)
        return str(serialized)


def _message_id(data: Mapping[str, Any]) -> Any:
    inner = data.get("_data") if isinstance(data.get("_data"), Mapping) else data
    ident = inner.get("id") if isinstance(inner, Mapping) else None
    return ident.get("_serialized") if isinstance(ident, Mapping) else None


def _send(api: _Api, action: str, data: In, payload: dict[str, Any]) -> Outcome:
    e164 = phone(data.get("phone"), api.ctx)
    result = api.action(action, {"chatId": api.chat_id(e164), **payload})
    return sent(_message_id(result), None, e164)


def op_send_text(api: _Api, params: In, data: In) -> Outcome:
    return _send(api, "send-message", data, {"message": data["text"]})


def op_send_media(api: _Api, params: In, data: In) -> Outcome:
    if data.get("media_id"):
        # A media id names a file uploaded to a Cloud API provider (WBIZ upload_media); waapi
        # has no upload endpoint, only `mediaUrl` (§4).
        raise Stop(invalid("waapi.app sends media by URL only", FieldError(
            "/media_id", "waapi.app has no media upload, so it can't send a media id; give "
            "media_url, a public link to the file")))
    payload: dict[str, Any] = {"mediaUrl": data["media_url"]}
    if data.get("caption"):
        payload["mediaCaption"] = data["caption"]
    if data.get("filename"):
        payload["mediaName"] = data["filename"]
    if data.get("media_type") == "document":
        payload["asDocument"] = True
    return _send(api, "send-media", data, payload)


def op_send_location(api: _Api, params: In, data: In) -> Outcome:
    words = [str(data[k]) for k in ("name", "address") if data.get(k)]
    payload = {"latitude": data["latitude"], "longitude": data["longitude"],
               "description": "\n".join(words)}
    return _send(api, "send-location", data, payload)


def op_send_poll(api: _Api, params: In, data: In) -> Outcome:
    payload = {"caption": data["question"], "options": list(data["options"]),
               "multipleAnswers": bool(data.get("multiple_answers", False))}
    return _send(api, "create-poll", data, payload)


def op_send_vcard(api: _Api, params: In, data: In) -> Outcome:
    """A contact card; `waid` makes WhatsApp offer "Message" for the card's number."""
    number = phone(data.get("card_phone"), api.ctx, "/card_phone")
    first, last = data["card_first_name"], data.get("card_last_name")
    card = {"firstname": first, "lastname": last,
            "displayname": data.get("card_display_name") or join_name(first, last),
            "organization": data.get("card_organization"), "website": data.get("card_website"),
            "internationalnumber": number, "waid": number[1:]}
    return _send(api, "send-vcard", data, {"vCard": {k: v for k, v in card.items() if v}})


def op_upsert_contact(api: _Api, params: In, data: In) -> Outcome:
    """`upsert-contact` writes the phone's address-book entry; `get-contact-by-id` first tells
    whether one existed. waapi keeps no timestamps: both are the time of this call."""
    e164 = phone(data.get("phone"), api.ctx)
    chat_id = api.chat_id(e164)
    before = api.action("get-contact-by-id", {"contactId": chat_id}, side_effect=False)
    existing = before.get("contact") if isinstance(before.get("contact"), Mapping) else {}
    known = bool(existing and existing.get("isMyContact"))
    first, last = split_name(existing.get("name")) if existing else (None, None)
    first, last = data.get("first_name", first), data.get("last_name", last)
    api.action("upsert-contact", {"phoneNumber": e164[1:], "firstName": first or "",
                                  "lastName": last or "", "syncToAddressbook": True})
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    contact = {"id": chat_id, "first_name": first, "last_name": last, "phone": e164,
               "email": None, "company": None, "type": "contact", "status_id": None,
               "source_id": None, "group_ids": [], "description": None, "country_id": None,
               "city": None, "state": None, "zip": None, "address": None, "website": None,
               "assigned_id": None, "created_at": now, "updated_at": now}
    if join_name(first, last) is None:
        contact["first_name"] = existing.get("pushname") if existing else None
    return success({"created": not known, "contact": contact})


def op_get_instance_status(api: _Api, params: In, data: In) -> Outcome:
    """Client status; while the instance waits for pairing, also the QR code to scan."""
    body = api.get(f"{api.instance}/client/status")
    status = record(body.get("clientStatus"), "a client status")
    state = status.get("instanceStatus")
    qr = None
    if state == "qr":
        code = api.get(f"{api.instance}/client/qr").get("qrCode")
        inner = code.get("data") if isinstance(code, Mapping) else None
        qr = inner.get("qr_code") if isinstance(inner, Mapping) else None
    return success({"instance_id": str(status.get("instanceId") or api.ctx.connection.instance_id),
                    "status": state, "ready": state == "ready", "name": status.get("name"),
                    "qr_code": qr})


NO_TEMPLATES = ("waapi.app sends through WhatsApp Web: it has no message templates and no "
                "24-hour window, so the text is sent (the template path is unavailable)")


def op_send_message(api: _Api, params: In, data: In) -> Outcome:
    """Always the text: see NO_TEMPLATES (the run's output records it as the reason)."""
    return cw.send_message(api.ctx, data, send_text=lambda d: op_send_text(api, params, d),
                           send_template=None, no_template_reason=NO_TEMPLATES)


OPERATIONS: Mapping[str, Operation[_Api]] = {
    "send_text": op_send_text,
    "send_message": op_send_message,
    "send_media": op_send_media,
    "send_location": op_send_location,
    "send_poll": op_send_poll,
    "send_vcard": op_send_vcard,
    **waapi_groups.OPERATIONS,
    "upsert_contact": op_upsert_contact,
    "get_instance_status": op_get_instance_status,
}


class WaapiProvider(TableDialect):
    name = "waapi"
    OPERATIONS = OPERATIONS
    API = _Api

    def probe(self, ctx: CallContext) -> ProbeResult:
        """`GET instances/{id}` proves the token reads this instance (404: not yours); the
        other permissions can't be probed without side effects and are assumed until a 403."""
        try:
            api = _Api(ctx)
        except Stop as stop:
            return ProbeResult(stop.outcome, frozenset(), {"pointer": "/instance_id"})
        outcome = api.request("GET", api.instance, side_effect=False)
        if not outcome.ok:
            if outcome.kind is OutcomeKind.INVALID and outcome.http_status == 404:
                outcome = Outcome(OutcomeKind.HALTED, "this token has no instance "
                                  f"{ctx.connection.instance_id!r}; check the instance id",
                                  http_status=404)
                return ProbeResult(outcome, frozenset(), {"pointer": "/instance_id"})
            return ProbeResult(outcome, frozenset())
        abilities = frozenset({"instances:read", *ASSUMED_PERMISSIONS})
        return ProbeResult(success({"abilities": sorted(abilities)}), abilities)
