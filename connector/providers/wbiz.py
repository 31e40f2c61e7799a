"""The WBIZ dialect (wbiz.in, on the WhatsApp Cloud API): operations -> HTTP calls.

URL = base (user-supplied, `https://api.wbiz.in/api/`) + `v1/...`; one Bearer key per WhatsApp
Business Account with `scope:verb` scopes (upstream-apis.md §5). Our groups are WBIZ tags, so a
group id is the tag's name. Shapes live in `wbiz_mapping.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from connector.engine.outcome import FieldError, Outcome, OutcomeKind, invalid, success
from connector.providers import corbital_window as cw
from connector.providers import wbiz_campaigns, wbiz_library, wbiz_media, wbiz_push
from connector.providers import wbiz_mapping as wm
from connector.providers.base import CallContext, ProbeResult
from connector.providers.dialect import (
    BearerApi,
    In,
    Operation,
    Stop,
    TableDialect,
    body_of,
    phone,
    record,
    same_phone,
    sent,
)

DEFAULT_PAGE_SIZE = 50
SEARCH_PAGE_SIZE = 100

PROBED_READS = (("contacts:read", "v1/contacts"), ("templates:read", "v1/templates"),
                ("tags:read", "v1/tags"), ("events:read", "v1/events"),
                ("inbox:read", "v1/conversations"), ("fields:read", "v1/custom-fields"),
                ("flows:read", "v1/flows"),
                # The seed gates these lists with the section's write scope.
                ("quick_replies:write", "v1/quick-replies"),
                ("interactive:write", "v1/interactive"))
ASSUMED_WRITES = ("contacts:write", "tags:write", "messages:send", "campaigns:read",
                  "campaigns:write", "templates:write", "fields:write", "flows:write",
                  "media:write")

# Our resource -> WBIZ path and converter (groups are tags, §7.2).
LISTS = {"contacts": "v1/contacts", "groups": "v1/tags", "templates": "v1/templates"}


class _Api(BearerApi):
    def __init__(self, ctx: CallContext) -> None:
        super().__init__(ctx, ctx.connection.base_url, wm.WBIZ_ERROR_RULES)

    def lock_contact(self, contact_id: str) -> Any:
        return self.ctx.lock(f"contact:{self.ctx.connection.id}:{contact_id}")


def _convert(resource: str, raw: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
    if resource == "contacts":
        return wm.contact_from_upstream(raw, ctx.default_region)
    if resource == "groups":
        return wm.tag_from_upstream(raw)
    return wm.template_from_upstream(raw)


def _items(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = body.get("data")
    if not isinstance(items, list):
        raise Stop(Outcome(OutcomeKind.UPSTREAM_ERROR, "the upstream answered without a list"))
    return [i for i in items if isinstance(i, Mapping)]


def op_list(api: _Api, params: In, data: In) -> Outcome:
    resource = str(params.get("resource"))
    page, per_page = int(data.get("page") or 1), int(data.get("per_page") or DEFAULT_PAGE_SIZE)
    query = {} if resource == "groups" else {"page": page, "limit": per_page}
    body = api.get(LISTS[resource], query)
    items = [_convert(resource, i, api.ctx) for i in _items(body)]
    if resource == "groups":  # tags come in one list: page it here
        total, items = len(items), items[(page - 1) * per_page: page * per_page]
        more = page * per_page < total
    else:
        total, more = int(body.get("total") or 0), bool(body.get("hasMore"))
    return success({"items": items, "page": page, "per_page": per_page, "total": total,
                    "next_page": page + 1 if more else None})


def op_get(api: _Api, params: In, data: In) -> Outcome:
    resource = str(params.get("resource"))
    body = api.get(f"{LISTS[resource]}/{data['id']}")
    return success(_convert(resource, record(body.get("data"), "the record"), api.ctx))


def op_create_group(api: _Api, params: In, data: In) -> Outcome:
    body = api.send("POST", "v1/tags", {"name": data["name"]})
    return success(wm.tag_from_upstream(record(body.get("data"), "the tag")))


def op_delete_group(api: _Api, params: In, data: In) -> Outcome:
    api.send("DELETE", "v1/tags/" + quote(wm.tag_name(str(data["id"])), safe=""))
    return success({"id": str(data["id"]), "deleted": True})


def _contact(api: _Api, contact_id: Any) -> Mapping[str, Any]:
    return record(api.get(f"v1/contacts/{contact_id}").get("data"), "the contact")


def _patch_contact(api: _Api, contact_id: Any, fields: Mapping[str, Any]) -> dict[str, Any]:
    with api.lock_contact(str(contact_id)):
        current = _contact(api, contact_id)
        body = api.send("PATCH", f"v1/contacts/{contact_id}",
                        wm.contact_to_upstream(fields, current))
    return wm.contact_from_upstream(record(body.get("data"), "the contact"), api.ctx.default_region)


def op_update_contact(api: _Api, params: In, data: In) -> Outcome:
    fields = {k: v for k, v in data.items() if k != "id"}
    if "phone" in fields:
        fields["phone"] = phone(fields["phone"], api.ctx)
    return success(_patch_contact(api, data["id"], fields))


def _find(api: _Api, e164: str) -> dict[str, Any] | None:
    body = api.get("v1/contacts", {"search": e164[1:], "limit": SEARCH_PAGE_SIZE})
    for raw in _items(body):
        if same_phone(raw.get("phone"), e164, api.ctx):
            return wm.contact_from_upstream(raw, api.ctx.default_region)
    return None


def op_find_contact_by_phone(api: _Api, params: In, data: In) -> Outcome:
    found = _find(api, phone(data.get("phone"), api.ctx))
    return success({"found": found is not None, "contact": found})


def op_upsert_contact(api: _Api, params: In, data: In) -> Outcome:
    """`POST /v1/contacts` upserts by phone itself: 201 created, 200 existing (then patched)."""
    e164 = phone(data.get("phone"), api.ctx)
    fields = {**data, "phone": e164}
    outcome = api.request("POST", "v1/contacts", side_effect=True,
                          json=wm.contact_to_upstream(fields))
    raw = record(body_of(outcome).get("data"), "the contact")
    if outcome.http_status == 201:
        return success({"created": True,
                        "contact": wm.contact_from_upstream(raw, api.ctx.default_region)})
    changes = {k: v for k, v in fields.items() if k != "phone"}
    contact = _patch_contact(api, raw.get("id"), changes) if changes else \
        wm.contact_from_upstream(raw, api.ctx.default_region)
    return success({"created": False, "contact": contact})


def _change_tag(api: _Api, data: In, add: bool) -> Outcome:
    contact_id, tag = data["contact_id"], wm.tag_name(str(data["group_id"]))
    with api.lock_contact(str(contact_id)):
        current = _contact(api, contact_id)
        tags = [str(t) for t in current.get("tags") or []]
        if (tag in tags) == add:
            return success(wm.contact_from_upstream(current, api.ctx.default_region))
        tags = [*tags, tag] if add else [t for t in tags if t != tag]
        body = api.send("PATCH", f"v1/contacts/{contact_id}", {"tags": tags})
    return success(wm.contact_from_upstream(record(body.get("data"), "the contact"),
                                            api.ctx.default_region))


def op_add_contact_to_group(api: _Api, params: In, data: In) -> Outcome:
    return _change_tag(api, data, add=True)


def op_remove_contact_from_group(api: _Api, params: In, data: In) -> Outcome:
    return _change_tag(api, data, add=False)


def _send(api: _Api, path: str, payload: dict[str, Any], e164: str) -> Outcome:
    body = api.send("POST", f"v1/messages/{path}", {"to": e164, **payload})
    data = body.get("data")
    result: Mapping[str, Any] = data if isinstance(data, Mapping) else body
    return sent(result.get("wamid") or result.get("id"), result.get("contactId"), e164)


def op_send_text(api: _Api, params: In, data: In) -> Outcome:
    return _send(api, "text", {"body": data["text"]}, phone(data.get("phone"), api.ctx))


def op_send_media(api: _Api, params: In, data: In) -> Outcome:
    """By `link`, or by `mediaId`: a file uploaded with `upload_media` (seed: "by mediaId or
    public link")."""
    source = {"mediaId": data["media_id"]} if data.get("media_id") else \
        {"link": data["media_url"]}
    payload = {"type": data["media_type"], **source}
    payload.update({k: data[k] for k in ("caption", "filename") if data.get(k)})
    return _send(api, "media", payload, phone(data.get("phone"), api.ctx))


def op_send_template(api: _Api, params: In, data: In) -> Outcome:
    # WBIZ takes positional body variables only (§5): refuse what it has no field for rather
    # than drop it silently.
    errors = [FieldError(f"/{name}", f"WBIZ templates take body variables only; remove {name}")
              for name in ("header_params", "button_params", "header_media_url") if data.get(name)]
    if errors:
        raise Stop(invalid("the template can't be sent as given on WBIZ", *errors))
    payload = {"template": data["template_name"], "language": data.get("language") or "en",
               "variables": list(data.get("body_params") or [])}
    return _send(api, "template", payload, phone(data.get("phone"), api.ctx))


def op_send_location(api: _Api, params: In, data: In) -> Outcome:
    payload = {k: data[k] for k in ("latitude", "longitude", "name", "address") if k in data}
    return _send(api, "location", payload, phone(data.get("phone"), api.ctx))


def op_send_buttons(api: _Api, params: In, data: In) -> Outcome:
    payload = {"kind": "buttons", "body": data["text"],
               "buttons": [{"id": b["id"], "title": b["title"]} for b in data["buttons"]]}
    return _send(api, "interactive", payload, phone(data.get("phone"), api.ctx))


def op_bulk_upsert_contacts(api: _Api, params: In, data: In) -> Outcome:
    """`POST /v1/contacts/bulk` in chunks of 500: a 1,000-row import is 2 calls, not 1,000."""
    rows = []
    for index, row in enumerate(data["contacts"]):
        e164 = phone(row.get("phone"), api.ctx, f"/contacts/{index}/phone")
        rows.append(wm.contact_to_upstream({**row, "phone": e164}))
    counts = {"created": 0, "updated": 0, "skipped": 0}
    calls = 0
    for start in range(0, len(rows), wm.BULK_MAX_ROWS):
        chunk = rows[start:start + wm.BULK_MAX_ROWS]
        body = api.send("POST", "v1/contacts/bulk", {"contacts": chunk})
        calls += 1
        for result in _items(body):
            outcome = str(result.get("result") or result.get("status") or "")
            if outcome in counts:
                counts[outcome] += 1
    return success({**counts, "total": len(rows), "requests": calls})


def op_send_message(api: _Api, params: In, data: In) -> Outcome:
    """Text inside the 24 h window, else the template (`corbital_window`)."""
    return cw.send_message(api.ctx, data, send_text=lambda d: op_send_text(api, params, d),
                           send_template=lambda d: op_send_template(api, params, d))


OPERATIONS: Mapping[str, Operation[_Api]] = {
    "send_message": op_send_message,
    "list": op_list,
    "get": op_get,
    "create_group": op_create_group,
    "delete_group": op_delete_group,
    "update_contact": op_update_contact,
    "find_contact_by_phone": op_find_contact_by_phone,
    "upsert_contact": op_upsert_contact,
    "add_contact_to_group": op_add_contact_to_group,
    "remove_contact_from_group": op_remove_contact_from_group,
    "send_text": op_send_text,
    "send_media": op_send_media,
    "send_template": op_send_template,
    "send_location": op_send_location,
    "send_buttons": op_send_buttons,
    "bulk_upsert_contacts": op_bulk_upsert_contacts,
    **wbiz_library.OPERATIONS,
    **wbiz_media.OPERATIONS,
    **wbiz_campaigns.OPERATIONS,
    **wbiz_push.OPERATIONS,
}


class WbizProvider(TableDialect):
    name = "wbiz"
    OPERATIONS = OPERATIONS
    API = _Api

    def probe(self, ctx: CallContext) -> ProbeResult:
        """`GET v1/me` (any valid key), then the plan's rate limit from its headers and the
        key's scopes: listed by `me.key.scopes` when present [INF], else probed by reads."""
        api = _Api(ctx)
        outcome = api.request("GET", "v1/me", side_effect=False)
        if not outcome.ok:
            return ProbeResult(outcome, frozenset())
        details: dict[str, Any] = {}
        per_minute = wm.header(ctx.exchanges[-1].headers, "x-ratelimit-limit")
        if per_minute and per_minute.isdigit():
            details["rate_limit"], details["rate_window_s"] = wm.governor_limit(int(per_minute))
        me = outcome.output.get("data") if isinstance(outcome.output, dict) else None
        key = me.get("key") if isinstance(me, Mapping) else None
        scopes = key.get("scopes") if isinstance(key, Mapping) else None
        if isinstance(scopes, list):
            abilities = {str(s) for s in scopes}
        else:
            abilities = set(ASSUMED_WRITES)
            for scope, path in PROBED_READS:
                read = api.request("GET", path, side_effect=False, params={"limit": 1})
                if read.ok:
                    abilities.add(scope)
                elif read.kind is not OutcomeKind.SCOPE_MISSING:
                    return ProbeResult(read, frozenset(), details)
        return ProbeResult(success({"abilities": sorted(abilities)}), frozenset(abilities),
                           details)
