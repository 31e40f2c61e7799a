"""The Corbital v2 dialect (newer WAB2C / white-label builds): v1's vocabulary, v2's manners.

What differs from v1 (upstream-apis.md §2): PATCH partial updates, contact search, group
membership endpoints, `/messages/text {phone, message}` and `language` on templates, `scope:verb`
scopes and coded errors (`INSUFFICIENT_SCOPE`...). Records keep v1's field names, so the v1
converters in `corbital_mapping.py` and the template checks in `corbital_templates.py` are shared.
The v2 envelope is unconfirmed (§8.1); we read `{success, data, meta}` and `{error: {code,
message}}`, and the emulator speaks that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from connector.engine.classify import ErrorRules
from connector.engine.outcome import FieldError, Outcome, OutcomeKind, invalid, success
from connector.providers import corbital_mapping as cm
from connector.providers import corbital_templates as ct
from connector.providers import corbital_window as cw
from connector.providers.base import CallContext, ProbeResult
from connector.providers.dialect import (
    SCOPE_PATTERN,
    BearerApi,
    In,
    Operation,
    Stop,
    TableDialect,
    phone,
    record,
    same_phone,
    sent,
)
from connector.providers.phones import country_name_of, region_of
from connector.redis_keys import CACHE_TTL_S

MAX_PER_PAGE = 100
"""v2 clamps `per_page` to 100 (§2)."""

TEMPLATES_CACHE_KEY = "v2:templates"

RESOURCES = frozenset({"contacts", "statuses", "sources", "groups", "templates", "messagebots",
                       "templatebots"})
PROBED_READS = (("contacts", "contacts:read"), ("groups", "groups:read"),
                ("sources", "sources:read"), ("templates", "templates:read"))
# Bots are not in the v2 reference (§2; §7.2 says "same [INF]"): a build without them answers
# 404, which leaves the ability out instead of failing the connection.
OPTIONAL_READS = (("messagebots", "messagebots:read"), ("templatebots", "templatebots:read"))
ASSUMED_WRITES = ("contacts:write", "statuses:write", "sources:write", "groups:write",
                  "messages:send")

CORBITAL_V2_ERROR_RULES = ErrorRules(
    # 403 INSUFFICIENT_SCOPE: "The token lacks the required scope: contacts:write" (§2).
    scope_message_pattern=SCOPE_PATTERN,
    halt_reasons=(
        ("feature_limit_exceeded", "plan limit reached (contacts or conversations)"),
        ("contact_opted_out", "the contact opted out"),
        ("feature_not_available", "the tenant's plan does not include this feature"),
    ),
    config_errors=(
        ("whatsapp_not_configured", "the tenant's WhatsApp number is not connected; connect it "
         "in the tenant's settings"),
    ),
    field_names={**cm.CORBITAL_ERROR_RULES.field_names, "message": "text"},
)


class _Api(BearerApi):
    def __init__(self, ctx: CallContext) -> None:
        tenant = ctx.connection.tenant
        if not tenant:
            raise Stop(invalid("a Corbital connection needs its tenant slug",
                               FieldError("/tenant", "the tenant slug is missing")))
        prefix = ctx.connection.base_url.rstrip("/") + "/" + quote(tenant, safe="")
        super().__init__(ctx, prefix, CORBITAL_V2_ERROR_RULES)

    def data(self, body: Mapping[str, Any], what: str) -> Mapping[str, Any]:
        return record(body.get("data"), what)

    def convert(self, resource: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        return cm.FROM_UPSTREAM[resource](raw, self.ctx.default_region)

    def page(self, resource: str, query: Mapping[str, Any]) -> dict[str, Any]:
        body = self.get(resource, query)
        items, meta = body.get("data"), body.get("meta")
        if not isinstance(items, list) or not isinstance(meta, Mapping):
            raise Stop(Outcome(OutcomeKind.UPSTREAM_ERROR, "the upstream answered without a list"))
        page = int(meta.get("current_page") or 1)
        last = int(meta.get("last_page") or page)
        return {"items": [self.convert(resource, i) for i in items if isinstance(i, Mapping)],
                "page": page, "per_page": int(meta.get("per_page") or 0),
                "total": int(meta.get("total") or 0),
                "next_page": page + 1 if page < last else None}


def _resource(params: In) -> str:
    resource = params.get("resource")
    if resource not in RESOURCES:
        raise Stop(invalid(f"unknown Corbital v2 resource {resource!r}"))
    return str(resource)


def _body(resource: str, data: In) -> dict[str, Any]:
    convert = cm.TO_UPSTREAM.get(resource, cm.named_to_upstream)
    return convert({k: v for k, v in data.items() if k != "id"})


def op_list(api: _Api, params: In, data: In) -> Outcome:
    query = {k: data[k] for k in ("page", "per_page") if data.get(k) is not None}
    if "per_page" in query:
        query["per_page"] = min(int(query["per_page"]), MAX_PER_PAGE)
    return success(api.page(_resource(params), query))


def op_get(api: _Api, params: In, data: In) -> Outcome:
    resource = _resource(params)
    return success(api.convert(resource, api.data(api.get(f"{resource}/{data['id']}"), "a record")))


def op_create(api: _Api, params: In, data: In) -> Outcome:
    resource = _resource(params)
    fields = dict(data)
    if resource == "contacts":
        fields = {"type": "lead", **fields, "phone": phone(data.get("phone"), api.ctx)}
    body = api.send("POST", resource, _body(resource, fields))
    return success(api.convert(resource, api.data(body, "the record")))


def op_update(api: _Api, params: In, data: In) -> Outcome:
    resource = _resource(params)
    fields = dict(data)
    if "phone" in fields:
        fields["phone"] = phone(fields["phone"], api.ctx)
    body = api.send("PATCH", f"{resource}/{data['id']}", _body(resource, fields))
    return success(api.convert(resource, api.data(body, "the record")))


def op_delete(api: _Api, params: In, data: In) -> Outcome:
    api.send("DELETE", f"{_resource(params)}/{data['id']}")
    return success({"id": str(data["id"]), "deleted": True})


def op_update_contact(api: _Api, params: In, data: In) -> Outcome:
    return op_update(api, {"resource": "contacts"}, data)


def _find(api: _Api, e164: str) -> dict[str, Any] | None:
    listing = api.page("contacts", {"search": e164[1:], "per_page": MAX_PER_PAGE})
    matches = [c for c in listing["items"] if same_phone(c.get("phone"), e164, api.ctx)]
    return matches[0] if matches else None


def op_find_contact_by_phone(api: _Api, params: In, data: In) -> Outcome:
    found = _find(api, phone(data.get("phone"), api.ctx))
    return success({"found": found is not None, "contact": found})


def op_upsert_contact(api: _Api, params: In, data: In) -> Outcome:
    e164 = phone(data.get("phone"), api.ctx)
    with api.ctx.lock(f"phone:{api.ctx.connection.id}:{e164}"):
        found = _find(api, e164)
        if found is None:
            created = op_create(api, {"resource": "contacts"}, {**data, "phone": e164})
            return success({"created": True, "contact": created.output})
        fields = {k: v for k, v in data.items() if k != "phone"}
        updated = op_update(api, {"resource": "contacts"}, {**fields, "id": found["id"]})
    return success({"created": False, "contact": updated.output})


def op_add_contact_to_group(api: _Api, params: In, data: In) -> Outcome:
    api.send("POST", f"groups/{data['group_id']}/contacts", {"contact_ids": [data["contact_id"]]})
    return op_get(api, {"resource": "contacts"}, {"id": data["contact_id"]})


def op_remove_contact_from_group(api: _Api, params: In, data: In) -> Outcome:
    api.send("DELETE", f"groups/{data['group_id']}/contacts/{data['contact_id']}")
    return op_get(api, {"resource": "contacts"}, {"id": data["contact_id"]})


def _send(api: _Api, path: str, payload: dict[str, Any], data: In) -> Outcome:
    e164 = phone(data.get("phone"), api.ctx)
    contact = cm.contact_hints_to_upstream(data.get("contact"),
                                           country_name_of(e164) or region_of(e164))
    if contact is not None:
        payload["contact"] = contact
    result = api.data(api.send("POST", f"messages/{path}", {"phone": e164, **payload}),
                      "the send result")
    return sent(result.get("message_id"), result.get("contact_id"), e164)


def op_send_text(api: _Api, params: In, data: In) -> Outcome:
    return _send(api, "text", {"message": data["text"]}, data)


def op_send_media(api: _Api, params: In, data: In) -> Outcome:
    errors = ct.check_send_media(data)
    if errors:
        raise Stop(invalid(f"media can't be sent: {errors[0].message}", *errors))
    payload = {"media_type": data["media_type"], "media_url": data["media_url"]}
    payload.update({k: data[k] for k in ("caption", "filename") if data.get(k)})
    return _send(api, "media", payload, data)


def _templates(api: _Api, fresh: bool) -> tuple[list[Mapping[str, Any]], bool]:
    cached = None if fresh else api.ctx.cache.get(TEMPLATES_CACHE_KEY)
    if isinstance(cached, list):
        return cached, True
    templates: list[Mapping[str, Any]] = []
    page: int | None = 1
    while page is not None:
        listing = api.page("templates", {"page": page, "per_page": MAX_PER_PAGE})
        templates.extend(listing["items"])
        page = listing["next_page"] if listing["items"] else None
    api.ctx.cache.set(TEMPLATES_CACHE_KEY, templates, CACHE_TTL_S)
    return templates, False


def op_send_template(api: _Api, params: In, data: In) -> Outcome:
    template, errors = ct.resolve_template(lambda fresh: _templates(api, fresh), data)
    if template is None:
        raise Stop(invalid(f"template {data.get('template_name')!r} can't be sent as given: "
                           + "; ".join(e.message for e in errors), *errors))
    payload = ct.template_payload(template, data)
    payload["language"] = payload.pop("template_language", template.get("language"))
    return _send(api, "template", payload, data)


def op_send_message(api: _Api, params: In, data: In) -> Outcome:
    """Text inside the 24 h window, else the template (`corbital_window`)."""
    return cw.send_message(api.ctx, data, send_text=lambda d: op_send_text(api, params, d),
                           send_template=lambda d: op_send_template(api, params, d))


OPERATIONS: Mapping[str, Operation[_Api]] = {
    "send_message": op_send_message,
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
}


class CorbitalV2Provider(TableDialect):
    name = "corbital_v2"
    OPERATIONS = OPERATIONS
    API = _Api

    def probe(self, ctx: CallContext) -> ProbeResult:
        """`GET statuses?per_page=1` (the v1 probe's first call), then one read per scope; the
        bot reads only add their scope when they answer."""
        details = {"api_version": "v2"}
        try:
            api = _Api(ctx)
        except Stop as stop:
            return ProbeResult(stop.outcome, frozenset(), details)
        abilities = set(ASSUMED_WRITES)
        for resource, scope in (("statuses", "statuses:read"), *PROBED_READS):
            outcome = api.request("GET", resource, side_effect=False, params={"per_page": 1})
            if outcome.ok:
                abilities.add(scope)
            elif outcome.kind is not OutcomeKind.SCOPE_MISSING:
                return ProbeResult(outcome, frozenset(), details)
        for resource, scope in OPTIONAL_READS:
            if api.request("GET", resource, side_effect=False, params={"per_page": 1}).ok:
                abilities.add(scope)
        return ProbeResult(success({"abilities": sorted(abilities)}), frozenset(abilities), details)
