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
from connector.providers.dialect import sent as _sent
from connector.providers.dialect import unexpected as _unexpected
from connector.providers.phone_index import PhoneIndex, stored_e164
from connector.providers.phones import country_name_of, format_digits, region_of
from connector.redis_keys import CACHE_TTL_S

SCAN_PAGE_SIZE = 500
"""Page size for full scans (contact search by phone, template lookup); v1 enforces no max."""

CHECK_PAGE_SIZE = 10
"""Newest contacts read to tell a phone new to a complete phone index from one a contact made
elsewhere since has (only contacts the index doesn't know yet are normalised). A contact made
elsewhere hides from this page only behind 10 newer ones created in the same second, and the
index's trust expires (`PHONE_INDEX_TRUST_S`) into a full scan."""

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
        self.index = PhoneIndex(ctx.cache, ctx.default_region)

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
    data = api.read(resource, query)
    page = cm.page_from_upstream(data, resource, api.ctx.default_region)
    if page is None:
        raise _Stop(_unexpected(None, "a list"))
    if resource == "contacts":  # trigger polls and list calls keep the phone index fresh
        api.index.learn([item for item in data["data"] if isinstance(item, Mapping)])
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
    if resource == "groups":
        api.ctx.cache.delete(_group_key(record_id))  # before: a failed delete only costs a read
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
    record = _record(api.write("POST", "contacts", cm.contact_to_upstream(fields)), "the contact")
    api.index.remember([record])
    return api.convert("contacts", record)


def _put_contact(api: _Api, current: Mapping[str, Any], changes: Mapping[str, Any]) -> Any:
    # v1 PUT requires firstname, lastname and phone even for a partial update (§1.5).
    body = {key: current.get(key) for key in ("firstname", "lastname", "phone")}
    body.update(changes)
    return api.write("PUT", f"contacts/{current.get('id')}", body)


def _merge(api: _Api, current: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """Write `fields` over `current` (the caller holds the contact's lock); no PUT when every
    field already has its value."""
    changes = cm.contact_to_upstream(fields)
    if all(current.get(key) == value for key, value in changes.items()):
        return api.convert("contacts", current)
    record = _record(_put_contact(api, current, changes), "the contact")
    api.index.remember([record])  # the phone may have changed, or been stored in E.164 now
    return api.convert("contacts", record)


def _update_contact(api: _Api, contact_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Read-merge-write under the contact's lock, so concurrent group edits aren't lost."""
    if "phone" in fields:
        fields = {**fields, "phone": _phone(fields.get("phone"), api.ctx)}
    with api.lock("contact", contact_id):
        return _merge(api, _get_contact(api, contact_id, "/id"), fields)


def op_update_contact(api: _Api, params: _In, data: _In) -> Outcome:
    return success(_update_contact(api, _id(data, "id"), data))


# --- finding contacts by phone (no search in v1: a verified index, else a scan) ---------------


def _contact_page(api: _Api, page: int, per_page: int) -> dict[str, Any]:
    """One page of `/contacts` as the upstream sent it (`raw_page`)."""
    listing = cm.raw_page(api.read("contacts", {"page": page, "per_page": per_page}))
    if listing is None:
        raise _Stop(_unexpected(None, "a list"))
    return listing


def _has_phone(api: _Api, record: Any, e164: str) -> bool:
    return isinstance(record, Mapping) and \
        stored_e164(record.get("phone"), api.ctx.default_region) == e164


def _scan(api: _Api, e164: str) -> Mapping[str, Any] | None:
    """The newest contact whose phone normalises to `e164` (as the upstream sent it), by reading
    `/contacts` 500 at a time and indexing every contact on the way.

    total/500 requests (10,000 contacts = 20 calls against a 60/min budget). Pages are newest
    first, so a contact created during the scan can only be seen twice, never skipped; one
    deleted during it may shift an unseen one, which is why the index is marked complete only
    when the scan saw at least as many contacts as the first page's total.
    """
    seen: set[str] = set()
    total: int | None = None
    page: int | None = 1
    while page is not None:
        listing = _contact_page(api, page, SCAN_PAGE_SIZE)
        total = listing["total"] if total is None else total
        for record, phone in api.index.remember(listing["items"]):
            if phone == e164:
                return record
            seen.add(str(record.get("id")))
        page = listing["next_page"] if listing["items"] else None
    if len(seen) >= (total or 0):
        api.index.mark_complete()
    return None


def _unindexed(api: _Api, e164: str, complete: bool) -> Mapping[str, Any] | None:
    """A phone the index doesn't know. While the index is `complete`, only contacts made since
    the last look can have it, and v1 lists newest first: one small page of the newest
    contacts answers (those not in the index are indexed). Otherwise, or when that page holds
    nothing known (more new contacts than it shows), a full scan."""
    if complete:
        listing = _contact_page(api, 1, CHECK_PAGE_SIZE)
        new, known = api.index.learn(listing["items"])
        for record, phone in new:
            if phone == e164:
                return record
        if known or listing["next_page"] is None:
            return None
    return _scan(api, e164)


def _stale(api: _Api, e164: str, record: Any) -> None:
    """The indexed contact is gone (`data: null`) or has another phone now."""
    api.index.forget(e164)
    if isinstance(record, Mapping):
        api.index.remember([record])


def _find_by_phone(api: _Api, e164: str) -> Mapping[str, Any] | None:
    """The contact whose phone normalises to `e164`, as the upstream sent it, or None.

    An index hit costs one read (it is verified); a stale hit falls back to a full scan,
    which refreshes the index."""
    contact_id, complete = api.index.lookup(e164)
    if contact_id is None:
        return _unindexed(api, e164, complete)
    record = api.read(f"contacts/{quote(contact_id, safe='')}")
    if _has_phone(api, record, e164):
        return dict(record)
    _stale(api, e164, record)
    return _scan(api, e164)


def op_find_contact_by_phone(api: _Api, params: _In, data: _In) -> Outcome:
    found = _find_by_phone(api, _phone(data.get("phone"), api.ctx))
    contact = None if found is None else api.convert("contacts", found)
    return success({"found": found is not None, "contact": contact})


def _contact_id(record: Mapping[str, Any]) -> int:
    contact_id = cm.to_int_id(record.get("id"))
    if contact_id is None:
        raise _Stop(Outcome(OutcomeKind.UPSTREAM_ERROR, "the upstream contact has no id"))
    return contact_id


def op_upsert_contact(api: _Api, params: _In, data: _In) -> Outcome:
    e164 = _phone(data.get("phone"), api.ctx)
    fields = {**{k: v for k, v in data.items() if k != "id"}, "phone": e164}
    # The phone lock makes find-then-create atomic among our workers: two form posts with the
    # same phone create one contact, since the second reads the index entry the first wrote.
    with api.lock("phone", e164):
        contact_id, complete = api.index.lookup(e164)
        if contact_id is not None:
            with api.lock("contact", contact_id):
                current = api.read(f"contacts/{quote(contact_id, safe='')}")
                if _has_phone(api, current, e164):
                    return success({"created": False, "contact": _merge(api, current, fields)})
            _stale(api, e164, current)
            found = _scan(api, e164)
        else:
            found = _unindexed(api, e164, complete)
        if found is not None:
            contact = _update_contact(api, _contact_id(found), fields)
            return success({"created": False, "contact": contact})
        try:
            return success({"created": True, "contact": _create_contact(api, fields)})
        except _Stop as stop:
            if not _phone_taken(stop.outcome):
                raise
            # The upstream holds this exact phone (unique per tenant, §1.5) though neither the
            # index nor the newest contacts showed it: a full scan finds it and mends the index.
            found = _scan(api, e164)
            if found is None:
                raise
        return success({"created": False,
                        "contact": _update_contact(api, _contact_id(found), fields)})


def _phone_taken(outcome: Outcome) -> bool:
    return outcome.kind is OutcomeKind.INVALID and any(
        error.pointer == "/phone" for error in outcome.field_errors)


def _change_group(api: _Api, data: Mapping[str, Any], add: bool) -> Outcome:
    """No membership endpoint in v1: edit the contact's `group_id` array (§1.5)."""
    contact_id, group_id = _id(data, "contact_id"), _id(data, "group_id")
    with api.lock("contact", contact_id):
        current = _get_contact(api, contact_id, "/contact_id")
        groups = api.convert("contacts", current)["group_ids"]
        if (str(group_id) in groups) == add:
            return success(api.convert("contacts", current))  # nothing to change: no PUT
        if add:
            _check_group(api, group_id)
        ids = [int(g) for g in groups if g != str(group_id)] + ([group_id] if add else [])
        record = _put_contact(api, current, {"group_id": ids})
    return success(api.convert("contacts", _record(record, "the contact")))


def _check_group(api: _Api, group_id: int) -> None:
    """The upstream stores any integer in `group_id` unchecked (§1.5), so an add makes sure
    the group exists. A group seen within `CACHE_TTL_S` is trusted without a read (one call
    of a form workflow's five): the tenant refuses to delete a group any contact is in, and
    our own delete forgets it; a group deleted empty in another tool within that minute is
    the window this leaves."""
    key = _group_key(group_id)
    if api.ctx.cache.get(key):
        return
    _record(_must_exist(api, f"groups/{group_id}", "/group_id"), "the group")
    api.ctx.cache.set(key, True, CACHE_TTL_S)


def _group_key(group_id: int) -> str:
    return f"group:{group_id}"


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
    errors = ct.check_send_media(data)
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
