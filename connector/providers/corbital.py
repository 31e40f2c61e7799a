"""The Corbital v1 dialect (WhatsMark SaaS, WhatsCloud, WAB2C-legacy): operations -> HTTP calls.

URL = base (user-supplied, `.../api/v1/` or WAB2C's `.../api/`) + tenant + "/" + resource path,
one static Bearer token per tenant (upstream-apis.md §1). Shapes live in `corbital_mapping.py`,
send pre-checks in `corbital_templates.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import quote

from connector.engine.classify import classify
from connector.engine.outcome import FieldError, Outcome, OutcomeKind, invalid, success
from connector.providers import corbital_mapping as cm
from connector.providers import corbital_templates as ct
from connector.providers import corbital_window as cw
from connector.providers.base import CallContext, ProbeResult
from connector.providers.dialect import Stop as _Stop
from connector.providers.dialect import ok as _ok
from connector.providers.dialect import phone as _phone
from connector.providers.dialect import record as _record
from connector.providers.dialect import same_phone as _same_phone
from connector.providers.dialect import sent as _sent
from connector.providers.dialect import unexpected as _unexpected
from connector.providers.phones import country_name_of, format_digits, region_of
from connector.redis_keys import CACHE_TTL_S

SCAN_PAGE_SIZE = 500
"""Page size for full scans (contact search by phone, template lookup); v1 enforces no max."""

TEMPLATES_CACHE_KEY = "templates"

DEFAULT_CONTACT_TYPE = "lead"

PROBED_READS = ("contacts", "groups", "sources", "templates", "templatebots", "messagebots")
# Writes can't be probed without side effects, so a token is assumed to hold them until a 403
# names one (the engine then drops it from the connection).
ASSUMED_WRITES = tuple(
    f"{resource}.{verb}"
    for resource in ("contacts", "statuses", "sources", "groups")
    for verb in ("create", "update", "delete")
) + ("messages.send",)


V2_PROVIDER = "corbital_v2"


def speaks_v2(body: Any) -> bool:
    """A Corbital answer in the v2 dialect: a boolean `success` or a coded `error` object
    (`{"error": {"code": "INSUFFICIENT_SCOPE", ...}}`, §2), never v1's `status` string."""
    if not isinstance(body, dict) or isinstance(body.get("status"), str):
        return False
    error = body.get("error")
    return isinstance(body.get("success"), bool) or (
        isinstance(error, dict) and isinstance(error.get("code"), str))


_In = Mapping[str, Any]
"""An operation's `params` (from the definition) or `data` (the validated action input)."""


class _Api:
    """The connection's base URL, tenant and token, applied to every call through `ctx.call`."""

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx
        connection = ctx.connection
        if not connection.tenant:
            raise _Stop(invalid("a Corbital connection needs its tenant slug",
                                FieldError("/tenant", "the tenant slug is missing")))
        self._prefix = connection.base_url.rstrip("/") + "/" + quote(connection.tenant, safe="")
        self._headers = {"Authorization": f"Bearer {connection.token}"}

    def request(self, method: str, path: str, *, side_effect: bool, **kwargs: Any) -> Outcome:
        exchange = self.ctx.call(method, f"{self._prefix}/{path}", headers=self._headers, **kwargs)
        return classify(exchange, side_effect=side_effect, rules=cm.CORBITAL_ERROR_RULES)

    def read(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET `path`; the answer's `data` member (may be None), or `_Stop`."""
        return _data(_ok(self.request("GET", path, side_effect=False, params=params)))

    def write(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return _data(_ok(self.request(method, path, side_effect=True, json=body)))

    def convert(self, resource: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """An upstream record of `resource` in our normalised fields."""
        return cm.FROM_UPSTREAM[resource](record, self.ctx.default_region)

    def lock(self, kind: str, key: object) -> AbstractContextManager[None]:
        """`ctx.lock("<kind>:<connection id>:<key>")`, e.g. `contact:con_1:12`."""
        return self.ctx.lock(f"{kind}:{self.ctx.connection.id}:{key}")


def _data(outcome: Outcome) -> Any:
    body = outcome.output
    if not isinstance(body, dict):
        raise _Stop(_unexpected(outcome, "a JSON object"))
    return body.get("data")


def _page(api: _Api, resource: str, query: Mapping[str, Any]) -> dict[str, Any]:
    """One page of a list as `{items, page, per_page, total, next_page}`."""
    page = cm.page_from_upstream(api.read(resource, query), resource, api.ctx.default_region)
    if page is None:
        raise _Stop(_unexpected(None, "a list"))
    return page


def _id(data: Mapping[str, Any], name: str) -> int:
    value = cm.to_int_id(data.get(name))
    if value is None:
        raise _Stop(invalid(f"{name} must be a numeric id",
                            FieldError(f"/{name}", f"{data.get(name)!r} is not a numeric id")))
    return value


def _resource(params: Mapping[str, Any], writable: bool = False) -> str:
    resource = params.get("resource")
    if resource not in cm.RESOURCES:
        raise _Stop(invalid(f"unknown Corbital resource {resource!r}"))
    if writable and resource in cm.READ_ONLY_RESOURCES:
        raise _Stop(invalid(f"{resource} are read-only in the Corbital API"))
    return str(resource)


# --- generic resource operations --------------------------------------------------------------


def op_list(api: _Api, params: _In, data: _In) -> Outcome:
    resource = _resource(params)
    query = {k: data[k] for k in ("page", "per_page") if data.get(k) is not None}
    return success(_page(api, resource, query))


def op_get(api: _Api, params: _In, data: _In) -> Outcome:
    resource = _resource(params)
    if resource == "contacts":
        return success(api.convert("contacts", _get_contact(api, _id(data, "id"), "/id")))
    record = _record(api.read(f"{resource}/{_id(data, 'id')}"), "the record")
    return success(api.convert(resource, record))


def op_create(api: _Api, params: _In, data: _In) -> Outcome:
    resource = _resource(params, writable=True)
    if resource == "contacts":
        return success(_create_contact(api, data))
    record = _record(api.write("POST", resource, cm.TO_UPSTREAM[resource](data)), "the record")
    return success(api.convert(resource, record))


def op_update(api: _Api, params: _In, data: _In) -> Outcome:
    resource = _resource(params, writable=True)
    if resource == "contacts":
        return op_update_contact(api, params, data)
    body = cm.TO_UPSTREAM[resource](data)
    record = _record(api.write("PUT", f"{resource}/{_id(data, 'id')}", body), "the record")
    return success(api.convert(resource, record))


def op_delete(api: _Api, params: _In, data: _In) -> Outcome:
    resource = _resource(params, writable=True)
    record_id = _id(data, "id")
    api.write("DELETE", f"{resource}/{record_id}")
    return success({"id": str(record_id), "deleted": True})


# --- contacts ---------------------------------------------------------------------------------


def _get_contact(api: _Api, contact_id: int, pointer: str) -> Mapping[str, Any]:
    data = api.read(f"contacts/{contact_id}")
    if data is None:  # v1 answers 200 with `data: null` for an unknown contact (§1.4)
        raise _Stop(invalid(f"contact {contact_id} not found",
                            FieldError(pointer, f"no contact with id {contact_id}")))
    return _record(data, "the contact")


def _create_contact(api: _Api, fields: Mapping[str, Any]) -> dict[str, Any]:
    # v1 requires `type`; the definitions default it to "lead", as the upstream's own
    # auto-create does (§1.7), in case the caller's input arrives without defaults applied.
    fields = {"type": DEFAULT_CONTACT_TYPE, **fields, "phone": _phone(fields.get("phone"), api.ctx)}
    record = api.write("POST", "contacts", cm.contact_to_upstream(fields))
    return api.convert("contacts", _record(record, "the contact"))


def _put_contact(api: _Api, current: Mapping[str, Any], changes: Mapping[str, Any]) -> Any:
    # v1 PUT requires firstname, lastname and phone even for a partial update (§1.5).
    body = {key: current.get(key) for key in ("firstname", "lastname", "phone")}
    body.update(changes)
    return api.write("PUT", f"contacts/{current.get('id')}", body)


def _update_contact(api: _Api, contact_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Read-merge-write under the contact's lock, so concurrent group edits aren't lost."""
    if "phone" in fields:
        fields = {**fields, "phone": _phone(fields.get("phone"), api.ctx)}
    with api.lock("contact", contact_id):
        current = _get_contact(api, contact_id, "/id")
        record = _put_contact(api, current, cm.contact_to_upstream(fields))
    return api.convert("contacts", _record(record, "the contact"))


def op_update_contact(api: _Api, params: _In, data: _In) -> Outcome:
    return success(_update_contact(api, _id(data, "id"), data))


def _find_by_phone(api: _Api, e164: str) -> Mapping[str, Any] | None:
    """The newest contact (normalised) whose phone normalises to `e164`.

    v1 has no search (§1.5), so this scans `/contacts`: total/500 requests (10,000 contacts =
    20 calls against a 60/min budget). Pages are newest first, so a contact created during the
    scan can only be seen twice, never skipped; one deleted during it may shift an unseen one.
    """
    page: int | None = 1
    while page is not None:
        listing = _page(api, "contacts", {"page": page, "per_page": SCAN_PAGE_SIZE})
        contacts: list[Mapping[str, Any]] = listing["items"]
        for contact in contacts:
            if _same_phone(contact.get("phone"), e164, api.ctx):
                return contact
        page = listing["next_page"] if listing["items"] else None
    return None


def op_find_contact_by_phone(api: _Api, params: _In, data: _In) -> Outcome:
    found = _find_by_phone(api, _phone(data.get("phone"), api.ctx))
    return success({"found": found is not None, "contact": found})


def op_upsert_contact(api: _Api, params: _In, data: _In) -> Outcome:
    e164 = _phone(data.get("phone"), api.ctx)
    fields = {**data, "phone": e164}
    # The lock makes find-then-create atomic among our workers: two form posts with the same
    # phone create one contact.
    with api.lock("phone", e164):
        found = _find_by_phone(api, e164)
        if found is None:
            return success({"created": True, "contact": _create_contact(api, fields)})
        contact_id = cm.to_int_id(found.get("id"))
        if contact_id is None:
            raise _Stop(Outcome(OutcomeKind.UPSTREAM_ERROR, "the upstream contact has no id"))
        fields.pop("id", None)
        return success({"created": False, "contact": _update_contact(api, contact_id, fields)})


def _change_group(api: _Api, data: Mapping[str, Any], add: bool) -> Outcome:
    """No membership endpoint in v1: edit the contact's `group_id` array (§1.5)."""
    contact_id, group_id = _id(data, "contact_id"), _id(data, "group_id")
    with api.lock("contact", contact_id):
        current = _get_contact(api, contact_id, "/contact_id")
        groups = api.convert("contacts", current)["group_ids"]
        if (str(group_id) in groups) == add:
            return success(api.convert("contacts", current))  # nothing to change: no PUT
        if add:
            # The upstream stores any integer here unchecked; make sure the group exists.
            _record(_must_exist(api, f"groups/{group_id}", "/group_id"), "the group")
        ids = [int(g) for g in groups if g != str(group_id)] + ([group_id] if add else [])
        record = _put_contact(api, current, {"group_id": ids})
    return success(api.convert("contacts", _record(record, "the contact")))


def _must_exist(api: _Api, path: str, pointer: str) -> Any:
    outcome = api.request("GET", path, side_effect=False)
    if outcome.kind is OutcomeKind.INVALID and outcome.http_status == 404:
        raise _Stop(invalid(outcome.message, FieldError(pointer, outcome.message)))
    return _data(_ok(outcome))


def op_add_contact_to_group(api: _Api, params: _In, data: _In) -> Outcome:
    return _change_group(api, data, add=True)


def op_remove_contact_from_group(api: _Api, params: _In, data: _In) -> Outcome:
    return _change_group(api, data, add=False)


# --- messages ---------------------------------------------------------------------------------


def _send(api: _Api, path: str, payload: dict[str, Any], e164: str, hints: Any) -> dict[str, Any]:
    # The upstream resolves contact.country by name (`get_country_id_by_name`), so a name
    # ("Germany") fills the new contact's country; the region code is only a fallback.
    country = country_name_of(e164) or region_of(e164)
    contact = cm.contact_hints_to_upstream(hints, country)
    if contact is not None:
        payload["contact"] = contact
    return dict(_record(api.write("POST", path, payload), "the send result"))


def op_send_text(api: _Api, params: _In, data: _In) -> Outcome:
    e164 = _phone(data.get("phone"), api.ctx)
    payload = {"phone_number": format_digits(e164), "message_body": data.get("text")}
    result = _send(api, "messages/send", payload, e164, data.get("contact"))
    return _sent(result.get("message_id"), result.get("contact_id"), e164)


def op_send_media(api: _Api, params: _In, data: _In) -> Outcome:
    errors = ct.check_media_url(data.get("media_url"), data.get("media_type"))
    if errors:
        raise _Stop(invalid(f"media can't be sent: {errors[0].message}", *errors))
    e164 = _phone(data.get("phone"), api.ctx)
    payload = {"phone_number": format_digits(e164), "media_type": data["media_type"],
               "media_url": data["media_url"]}
    payload.update({k: data[k] for k in ("caption", "filename") if data.get(k)})
    result = _send(api, "messages/media", payload, e164, data.get("contact"))
    return _sent(result.get("message_id"), result.get("contact_id"), e164)


def _templates(api: _Api, fresh: bool) -> tuple[list[Mapping[str, Any]], bool]:
    """The connection's templates and whether they came from the cache."""
    cached = None if fresh else api.ctx.cache.get(TEMPLATES_CACHE_KEY)
    if isinstance(cached, list):
        return cached, True
    templates: list[Mapping[str, Any]] = []
    page: int | None = 1
    while page is not None:
        listing = _page(api, "templates", {"page": page, "per_page": SCAN_PAGE_SIZE})
        templates.extend(listing["items"])
        page = listing["next_page"] if listing["items"] else None
    api.ctx.cache.set(TEMPLATES_CACHE_KEY, templates, CACHE_TTL_S)
    return templates, False


def op_send_template(api: _Api, params: _In, data: _In) -> Outcome:
    e164 = _phone(data.get("phone"), api.ctx)
    template, errors = ct.resolve_template(lambda fresh: _templates(api, fresh), data)
    if template is None:
        language = data.get("language") or ct.DEFAULT_LANGUAGE
        raise _Stop(invalid(f"template {data.get('template_name')!r} ({language}) "
                            "can't be sent as given: " + "; ".join(e.message for e in errors),
                            *errors))
    payload = {"phone_number": format_digits(e164), **ct.template_payload(template, data)}
    result = _send(api, "messages/template", payload, e164, data.get("contact"))
    # No top-level message_id here: the wamid sits in Meta's own answer (§1.7).
    messages = (result.get("whatsapp_response") or {}).get("messages") or [{}]
    first = messages[0] if isinstance(messages[0], Mapping) else {}
    contact = result.get("contact") or {}
    return _sent(first.get("id"), contact.get("id"), e164)


def op_send_message(api: _Api, params: _In, data: _In) -> Outcome:
    """Text inside the 24 h window, else the template (`corbital_window`)."""
    return cw.send_message(api.ctx, data,
                           send_text=lambda d: op_send_text(api, params, d),
                           send_template=lambda d: op_send_template(api, params, d))


_Operation = Callable[[_Api, _In, _In], Outcome]

OPERATIONS: Mapping[str, _Operation] = {
    "list": op_list,
    "get": op_get,
    "create": op_create,
    "update": op_update,
    "delete": op_delete,
    "update_contact": op_update_contact,
    "find_contact_by_phone": op_find_contact_by_phone,
    "upsert_contact": op_upsert_contact,
    "add_contact_to_group": op_add_contact_to_group,
    "remove_contact_from_group": op_remove_contact_from_group,
    "send_text": op_send_text,
    "send_media": op_send_media,
    "send_template": op_send_template,
    "send_message": op_send_message,
}


class CorbitalProvider:
    name = "corbital"

    def operations(self) -> frozenset[str]:
        return frozenset(OPERATIONS)

    def execute(
        self, operation: str, params: Mapping[str, Any], data: Mapping[str, Any], ctx: CallContext
    ) -> Outcome:
        handler = OPERATIONS.get(operation)
        if handler is None:
            return invalid(f"the corbital provider has no operation {operation!r}")
        try:
            return handler(_Api(ctx), params, data)
        except _Stop as stop:
            return stop.outcome

    def probe(self, ctx: CallContext) -> ProbeResult:
        """A live call (`GET statuses?per_page=1`), then one read per ability-gated resource."""
        details = {"api_version": "v1"}
        try:
            api = _Api(ctx)
        except _Stop as stop:
            return ProbeResult(stop.outcome, frozenset(), details)
        abilities = set(ASSUMED_WRITES)
        for resource in ("statuses", *PROBED_READS):
            outcome = api.request("GET", resource, side_effect=False, params={"per_page": 1})
            if resource == "statuses" and speaks_v2(ctx.exchanges[-1].body):
                # The same base answers in the v2 dialect: say so; without an explicit
                # api_version the caller re-probes as v2.
                refused = Outcome(OutcomeKind.HALTED, "this tenant answers in Corbital API v2; "
                                  "leave api_version out or set it to v2",
                                  http_status=outcome.http_status)
                return ProbeResult(refused, frozenset(),
                                   {"api_version": "v2", "provider": V2_PROVIDER})
            if outcome.ok:
                abilities.add(f"{resource}.read")
            elif outcome.kind is OutcomeKind.THROTTLED and resource != "statuses":
                # The live test passed; a tight tenant limit must not fail the connection.
                # Unprobed reads are assumed, like writes, until a 403 says otherwise.
                unverified = [r for r in PROBED_READS if f"{r}.read" not in abilities]
                abilities.update(f"{r}.read" for r in unverified)
                details["unverified"] = ", ".join(f"{r}.read" for r in unverified)
                break
            elif outcome.kind is not OutcomeKind.SCOPE_MISSING:
                return ProbeResult(outcome, frozenset(), details)
        return ProbeResult(success({"abilities": sorted(abilities)}), frozenset(abilities), details)
