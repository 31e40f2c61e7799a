"""Corbital v1 shapes: our normalised fields <-> upstream fields, error rules, paginator reading.

Pure data and functions; `corbital.py` does the calls. Field facts: upstream-apis.md §1.4-§1.6.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from connector.engine.classify import ErrorRules
from connector.providers.phone_index import to_e164

RESOURCES = frozenset(
    {"contacts", "statuses", "sources", "groups", "templates", "templatebots", "messagebots"}
)
READ_ONLY_RESOURCES = frozenset({"templates", "templatebots", "messagebots"})
SINGULAR = {
    "contacts": "contact",
    "statuses": "status",
    "sources": "source",
    "groups": "group",
    "templates": "template",
    "templatebots": "template bot",
    "messagebots": "message bot",
}

# ours -> upstream, per resource; fields not listed keep their name.
_CONTACT_FIELDS = {"first_name": "firstname", "last_name": "lastname", "group_ids": "group_id"}
_STATUS_FIELDS = {"is_default": "isdefault"}
_ID_FIELDS = frozenset({"status_id", "source_id", "country_id", "assigned_id"})

CONTACT_OUTPUT_FIELDS = (
    "email", "company", "type", "description", "country_id", "city", "state", "zip", "address",
    "website", "assigned_id", "status_id", "source_id", "created_at", "updated_at",
)

CORBITAL_ERROR_RULES = ErrorRules(
    # §1.2 row 6: "Token does not have the required ability: contacts.read"
    scope_message_pattern=r"required ability:\s*(?P<ability>[A-Za-z0-9_.:-]+)",
    halt_reasons=(
        ("limit_reached", "plan limit reached (conversations)"),
        ("maximum number of contacts", "plan limit reached (contacts)"),
        ("api access is disabled", "API access is disabled for this tenant; enable it in the "
         "tenant's API settings"),
        ("opted out", "the contact opted out"),
    ),
    config_errors=(
        # §1.2 row 1: an unknown tenant answers 500 (sic); retrying can't help.
        ("invalid tenant subdomain", "the upstream does not know this tenant slug; check the "
         "connection's tenant"),
        ("api settings not found", "the tenant has no API settings; enable the API in the "
         "tenant's settings"),
        ("whatsapp connection is not configured", "the tenant's WhatsApp number is not "
         "connected; connect it in the tenant's settings"),
    ),
    field_names={
        "firstname": "first_name",
        "lastname": "last_name",
        "group_id": "group_ids",
        "isdefault": "is_default",
        "phone_number": "phone",
        "message_body": "text",
        "template": "template_name",
        "template_language": "language",
        "template_fields": "body_params",
        "header_field_1": "header_params.0",
        "header_image_url": "header_media_url",
        "header_video_url": "header_media_url",
        "header_document_url": "header_media_url",
    },
)


def to_int_id(value: Any) -> int | None:
    """Our string ids -> Corbital's integer ids; None when `value` is not a whole number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _str_id(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _e164_or_raw(phone: Any, region: str | None) -> Any:
    """Stored phones are free text (auto-created contacts hold bare digits, §1.7); show them
    as E.164 when they read as a number, else as stored."""
    if not isinstance(phone, str) or not phone.strip():
        return phone
    e164 = to_e164(phone, region)
    return phone if e164 is None else e164


def _int_list(value: Any) -> list[int]:
    """`group_id` is a JSON int array; older rows hold it as a JSON string, or null."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            return []
    if not isinstance(value, list):
        return []
    ids = (to_int_id(v) for v in value)
    return list(dict.fromkeys(i for i in ids if i is not None))


def contact_to_upstream(fields: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "id":
            continue
        upstream = _CONTACT_FIELDS.get(name, name)
        if name == "group_ids":
            out[upstream] = _int_list(value)
        elif name in _ID_FIELDS and value is not None:
            number = to_int_id(value)
            out[upstream] = number if number is not None else value
        else:
            out[upstream] = value
    return out


def contact_from_upstream(raw: Mapping[str, Any], region: str | None = None) -> dict[str, Any]:
    """`region`: the connection's default region, for phones stored in national form."""
    out: dict[str, Any] = {
        "id": _str_id(raw.get("id")),
        "first_name": raw.get("firstname"),
        "last_name": raw.get("lastname"),
        "phone": _e164_or_raw(raw.get("phone"), region),
    }
    for name in CONTACT_OUTPUT_FIELDS:
        value = raw.get(name)
        out[name] = _str_id(value) if name in _ID_FIELDS else value
    out["group_ids"] = [str(i) for i in _int_list(raw.get("group_id"))]
    return out


def contact_hints_to_upstream(hints: Any, country: str | None) -> dict[str, Any] | None:
    """A send's `contact` hints (used to auto-create an unknown contact, §1.7) or None."""
    if not isinstance(hints, Mapping) or not hints:
        return None
    out = {k: hints[k] for k in ("first_name", "last_name", "email") if hints.get(k)}
    groups = hints.get("groups")
    if groups:  # group *names*, comma-separated; the upstream finds or creates each
        out["groups"] = ",".join(map(str, groups)) if isinstance(groups, list) else str(groups)
    # The upstream reads contact.country unchecked and fails auto-create without it (§1.7).
    out["country"] = hints.get("country") or country or ""
    return out


def status_to_upstream(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {_STATUS_FIELDS.get(k, k): v for k, v in fields.items() if k != "id"}


def status_from_upstream(raw: Mapping[str, Any], region: str | None = None) -> dict[str, Any]:
    return {
        "id": _str_id(raw.get("id")),
        "name": raw.get("name"),
        "color": raw.get("color"),
        "is_default": _flag(raw.get("isdefault")),
        "created_at": raw.get("created_at"),
        "updated_at": raw.get("updated_at"),
    }


def named_to_upstream(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k != "id"}


def named_from_upstream(raw: Mapping[str, Any], region: str | None = None) -> dict[str, Any]:
    return {
        "id": _str_id(raw.get("id")),
        "name": raw.get("name"),
        "created_at": raw.get("created_at"),
        "updated_at": raw.get("updated_at"),
    }


def template_from_upstream(raw: Mapping[str, Any], region: str | None = None) -> dict[str, Any]:
    return {
        "id": _str_id(raw.get("id")),
        # Meta ids exceed JavaScript's safe integers: always a string (§1.6).
        "meta_id": _str_id(raw.get("template_id")),
        "name": raw.get("template_name"),
        "language": raw.get("language"),
        "category": raw.get("category"),
        "status": raw.get("status"),
        "header": {
            "format": (raw.get("header_data_format") or None),
            "text": raw.get("header_data_text"),
            "param_count": _count(raw.get("header_params_count")),
        },
        "body": raw.get("body_data") or "",
        "body_param_count": _count(raw.get("body_params_count")),
        "footer": raw.get("footer_data"),
        "buttons": _buttons(raw.get("buttons_data")),
    }


_MATCH_BY_REPLY_TYPE = {1: "exact", 2: "contains", 3: "first_message", 4: "fallback"}


def _bot(raw: Mapping[str, Any], kind: str) -> dict[str, Any]:
    trigger = raw.get("trigger")
    reply_type = to_int_id(raw.get("reply_type"))
    return {
        "id": _str_id(raw.get("id")),
        "kind": kind,
        "name": raw.get("name"),
        "triggers": [t.strip() for t in str(trigger or "").split(",") if t.strip()],
        "match": _MATCH_BY_REPLY_TYPE.get(reply_type) if reply_type is not None else None,
        "active": _flag(raw.get("is_bot_active")),
    }


def templatebot_from_upstream(raw: Mapping[str, Any], region: str | None = None) -> dict[str, Any]:
    return {**_bot(raw, "template"), "template_id": _str_id(raw.get("template_id"))}


def messagebot_from_upstream(raw: Mapping[str, Any], region: str | None = None) -> dict[str, Any]:
    return {**_bot(raw, "message"), "reply_text": raw.get("reply_text")}


# (upstream record, connection's default region) -> our record; only contacts use the region.
_FromUpstream = Callable[[Mapping[str, Any], str | None], dict[str, Any]]
_ToUpstream = Callable[[Mapping[str, Any]], dict[str, Any]]

FROM_UPSTREAM: Mapping[str, _FromUpstream] = {
    "contacts": contact_from_upstream,
    "statuses": status_from_upstream,
    "sources": named_from_upstream,
    "groups": named_from_upstream,
    "templates": template_from_upstream,
    "templatebots": templatebot_from_upstream,
    "messagebots": messagebot_from_upstream,
}
TO_UPSTREAM: Mapping[str, _ToUpstream] = {
    "contacts": contact_to_upstream,
    "statuses": status_to_upstream,
    "sources": named_to_upstream,
    "groups": named_to_upstream,
}


def raw_page(data: Any) -> dict[str, Any] | None:
    """A Laravel paginator (`data` of a list answer) -> `{items, page, per_page, total,
    next_page}` with the items as the upstream sent them.

    None when `data` is not a paginator (the Scribe docs show another shape, §1.4).
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("data"), list):
        return None
    page = _count(data.get("current_page")) or 1
    last_page = _count(data.get("last_page")) or page
    has_next = data.get("next_page_url") is not None or page < last_page
    return {
        "items": [item for item in data["data"] if isinstance(item, Mapping)],
        "page": page,
        "per_page": _count(data.get("per_page")),
        "total": _count(data.get("total")),
        "next_page": page + 1 if has_next else None,
    }


def page_from_upstream(
    data: Any, resource: str, region: str | None = None
) -> dict[str, Any] | None:
    """`raw_page` with the items in our normalised fields."""
    page = raw_page(data)
    if page is not None:
        convert = FROM_UPSTREAM[resource]
        page["items"] = [convert(item, region) for item in page["items"]]
    return page


def _flag(value: Any) -> bool:
    """Laravel booleans arrive as true/false, 1/0 or "1"/"0"."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true")
    return value is True or value == 1


def _count(value: Any) -> int:
    number = to_int_id(value)
    return number if number is not None else 0


def _buttons(value: Any) -> list[dict[str, Any]]:
    """`buttons_data` is a JSON string of `[{type, text, url?...}]` (§1.6); we keep those three."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            return []
    if not isinstance(value, list):
        return []
    return [
        {key: button[key] for key in ("type", "text", "url") if button.get(key) is not None}
        for button in value
        if isinstance(button, Mapping)
    ]
