"""WBIZ shapes: our normalised fields <-> WBIZ's, its error rules and its rate-limit headers.

Pure data and functions; `wbiz.py` does the calls. Facts: upstream-apis.md §5 and the seed page
`shared/seeds/wbiz-api-reference.txt`. WBIZ contacts have one `name`, `tags[]` (our groups, §7.2)
and `customFields{}`; they have no type, status, source or country, so those inputs are ignored.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from connector.engine.classify import ErrorRules
from connector.providers.dialect import SCOPE_PATTERN, join_name, split_name
from connector.providers.phones import InvalidPhone, normalize_phone

WBIZ_ERROR_RULES = ErrorRules(
    scope_message_pattern=SCOPE_PATTERN,
    halt_reasons=(
        ("not_entitled", "the WBIZ plan does not include this (account `entitled` is false)"),
        ("opted_out", "the contact opted out of messages"),
    ),
    config_errors=(
        ("no_phone_number", "the WBIZ account has no registered phone number; connect one in "
         "the WBIZ dashboard"),
    ),
    field_names={"to": "phone", "body": "text", "template": "template_name",
                 "variables": "body_params", "link": "media_url", "type": "media_type",
                 "mediaId": "media_id", "tags": "group_ids"},
)

BULK_MAX_ROWS = 500
"""`POST /v1/contacts/bulk` takes up to 500 contacts per call (§5)."""

RATE_WINDOW_S = 10
"""Plans allow a burst of a quarter of the per-minute limit per 10 s (Starter 60/min, burst 15,
§5); one sliding window of limit/6 per 10 s satisfies both windows."""

# Our contact fields stored in WBIZ `customFields` (it has no columns for them).
CUSTOM_FIELDS = ("company", "description", "city", "state", "zip", "address", "website")

_PLAIN_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._-]{0,63}$")
_ENCODED = "t:"


def tag_id(name: str) -> str:
    """Our group id for a tag: the name itself when it is a valid id ("vip"), else "t:" and
    the name in base32 ("vip customers" -> "t:OZUXAIDDOVZXI33NMVZHG"), which `tag_name` undoes."""
    if _PLAIN_TAG.match(name):
        return name
    return _ENCODED + base64.b32encode(name.encode()).decode().rstrip("=")


def tag_name(group_id: str) -> str:
    if not group_id.startswith(_ENCODED):
        return group_id
    encoded = group_id[len(_ENCODED):]
    try:
        return base64.b32decode(encoded + "=" * (-len(encoded) % 8)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return group_id


def governor_limit(per_minute: int) -> tuple[int, int]:
    """(requests, window seconds) for the governor from a plan's `X-RateLimit-Limit`."""
    return max(1, per_minute // 6), RATE_WINDOW_S


def header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None


def contact_to_upstream(fields: Mapping[str, Any], current: Mapping[str, Any] | None = None
                        ) -> dict[str, Any]:
    """A WBIZ contact body from our fields; `current` supplies the half of the name not given."""
    out: dict[str, Any] = {}
    if "first_name" in fields or "last_name" in fields:
        first, last = split_name((current or {}).get("name"))
        out["name"] = join_name(fields.get("first_name", first), fields.get("last_name", last))
    if "phone" in fields:
        out["phone"] = fields["phone"]
    if "email" in fields:
        out["email"] = fields["email"]
    if "group_ids" in fields:
        out["tags"] = [tag_name(str(t)) for t in fields["group_ids"]]
    custom = {k: fields[k] for k in CUSTOM_FIELDS if k in fields}
    if custom:
        out["customFields"] = {**dict((current or {}).get("customFields") or {}), **custom}
    return out


def contact_from_upstream(raw: Mapping[str, Any], region: str | None = None) -> dict[str, Any]:
    first, last = split_name(raw.get("name"))
    found = raw.get("customFields")
    custom: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    out: dict[str, Any] = {
        "id": str(raw.get("id")),
        "first_name": first,
        "last_name": last,
        "phone": _e164(raw.get("phone"), region),
        "email": raw.get("email"),
        "type": "contact",
        "status_id": None,
        "source_id": None,
        "group_ids": list(dict.fromkeys(tag_id(str(t)) for t in raw.get("tags") or [])),
        "country_id": None,
        "assigned_id": None,
        "created_at": raw.get("createdAt"),
        "updated_at": raw.get("updatedAt") or raw.get("createdAt"),
    }
    for name in CUSTOM_FIELDS:
        value = custom.get(name)
        out[name] = None if value is None else str(value)
    return out


def tag_from_upstream(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A tag is our group; its name is its id (`DELETE /v1/tags/:name`)."""
    return {"id": tag_id(str(raw.get("name"))), "name": str(raw.get("name")),
            "created_at": raw.get("createdAt"), "updated_at": raw.get("createdAt")}


_PLACEHOLDER = re.compile(r"\{\{\s*\d+\s*\}\}")


def template_from_upstream(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Meta `components[]` -> our template; parameter counts come from the `{{n}}` (§7.2)."""
    parts: dict[str, Mapping[str, Any]] = {}
    buttons: list[dict[str, Any]] = []
    for component in raw.get("components") or []:
        if not isinstance(component, Mapping):
            continue
        kind = str(component.get("type", "")).upper()
        parts[kind] = component
        if kind == "BUTTONS":
            buttons = [{k: b[k] for k in ("type", "text", "url") if b.get(k) is not None}
                       for b in component.get("buttons") or [] if isinstance(b, Mapping)]
    header, body = parts.get("HEADER"), parts.get("BODY") or {}
    header_text = header.get("text") if header else None
    return {
        "id": str(raw.get("id")),
        "meta_id": None if raw.get("metaId") is None else str(raw.get("metaId")),
        "name": raw.get("name"),
        "language": raw.get("language"),
        "category": raw.get("category"),
        "status": str(raw.get("status") or "").upper(),
        "header": None if header is None else {
            "format": header.get("format"), "text": header_text,
            "param_count": len(_PLACEHOLDER.findall(str(header_text or "")))},
        "body": str(body.get("text") or ""),
        "body_param_count": len(_PLACEHOLDER.findall(str(body.get("text") or ""))),
        "footer": (parts.get("FOOTER") or {}).get("text"),
        "buttons": buttons,
    }


def _e164(phone: Any, region: str | None) -> Any:
    if not isinstance(phone, str):
        return phone
    try:
        return normalize_phone(phone, region)
    except InvalidPhone:
        return phone
