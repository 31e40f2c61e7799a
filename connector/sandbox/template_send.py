"""`sendTemplateMessage()`: template lookup, parameter checks, header media, Meta-shaped answer.

The phone number is validated as 8-15 *characters* and never normalised (so `+` counts and a
15-digit number with `+` fails `max:15`); only an APPROVED template with that exact name and
language is usable; the success body nests Meta's reply and has no top-level `message_id` (§1.7).
"""

from __future__ import annotations

import re
import time
from typing import Any

from werkzeug.datastructures import FileStorage

from connector.sandbox import messaging as m
from connector.sandbox.state import Store, Tenant
from connector.sandbox.table import Row
from connector.sandbox.validation import Rule, is_present

MEDIA_HEADERS = ("IMAGE", "VIDEO", "DOCUMENT")
BODY_FIELDS = 10
BUTTON_FIELDS = 3

RULES: dict[str, list[Rule]] = {
    "phone_number": ["required", "string", "min:8", "max:15"],
    "template_name": ["required", "string"],
    "template_language": ["required", "string", "min:2", "max:10"],
    "from_phone_number_id": ["sometimes", "string"],
    "contact": ["sometimes", "array"],
    "contact.first_name": ["sometimes", "string", "max:255"],
    "contact.last_name": ["sometimes", "string", "max:255"],
    "contact.email": ["sometimes", "email", "max:255"],
    "contact.country": ["sometimes", "string", "max:100"],
    "contact.language_code": ["sometimes", "string", "max:10"],
    "contact.groups": ["sometimes", "string"],
    **{f"header_{kind}_url": ["sometimes", "url"] for kind in ("image", "video", "document")},
    **{f"header_{kind}_file": ["sometimes", "file"] for kind in ("image", "video", "document")},
    "header_document_name": ["sometimes", "string", "max:255"],
    "header_field_1": ["sometimes", "string"],
    **{f"field_{i}": ["sometimes", "string"] for i in range(1, BODY_FIELDS + 1)},
    **{f"button_{i}": ["sometimes", "string"] for i in range(BUTTON_FIELDS)},
    "copy_code": ["sometimes", "string", "max:100"],
}


def send(store: Store, tenant: Tenant, data: dict[str, Any], host_url: str) -> dict[str, Any]:
    """Everything after basic validation; returns `data` of the 200 or raises `m.Refusal`."""
    phone, name, language = data["phone_number"], data["template_name"], data["template_language"]
    template = _approved(tenant, name, language)
    if template is None:
        message = f"Template '{name}' not found or not approved for language '{language}'"
        raise m.refuse(404, "Template not found", errors={"template": [message]})
    missing = missing_fields(template, data)
    if missing:
        raise m.Refusal(
            422,
            {
                "status": "error",
                "message": "Template validation failed",
                "errors": {"template_fields": missing},
            },
        )
    media = None
    if template["header_data_format"] in MEDIA_HEADERS:
        media = _header_media(template, data, host_url)
    row, created = m.resolve_contact(tenant, phone, data.get("contact", []))
    m.require_connection(tenant, 503, m.NOT_CONNECTED_MESSAGE)
    params = _parameters(data, row)
    wamid = m.new_wamid(phone)
    chat = m.chat_id(tenant, phone, row)
    payload = {"template_name": template["template_name"], "language": template["language"]}
    payload |= {**params, "header_media": media}
    store.record_sent(tenant, m.sent_entry("template", phone, row, wamid, chat, payload))
    return {
        "contact": {
            "id": row["id"],
            "phone": row["phone"],
            "first_name": row["firstname"] or "",
            "last_name": row["lastname"] or "",
            "email": row["email"] or "",
            "created": created,
        },
        "template": {
            "template_name": name,
            "language": language,
            "sent": True,
            "header_format": template["header_data_format"],
            "has_media": bool(media and media["filename"]),
        },
        "whatsapp_response": {
            "messaging_product": "whatsapp",
            "contacts": [{"input": phone, "wa_id": re.sub(r"\D", "", phone)}],
            "messages": [{"id": wamid}],
        },
        "media_info": media,
    }


def missing_fields(template: Row, data: dict[str, Any]) -> list[str]:
    """`validateTemplateRequirements()`: presence only (`$request->has()`), header then body."""
    missing = []
    header = template["header_data_format"]
    if header == "TEXT" and template["header_params_count"] > 0:
        if not is_present(data, "header_field_1"):
            missing.append("header_field_1 (Header text parameter required)")
    elif header in MEDIA_HEADERS:
        kind = header.lower()
        if not is_present(data, f"header_{kind}_url") and not _has_file(
            data, f"header_{kind}_file"
        ):
            missing.append(f"header_{kind}_url or header_{kind}_file (Header {kind} required)")
    for i in range(1, (template["body_params_count"] or 0) + 1):
        if not is_present(data, f"field_{i}"):
            missing.append(f"field_{i} (Body parameter {i} required)")
    return missing


def _approved(tenant: Tenant, name: str, language: str) -> Row | None:
    # A MySQL `=` under the default collation: case-insensitive.
    return tenant.table("templates").first(
        lambda r: (
            str(r["template_name"]).lower() == name.lower()
            and str(r["language"]).lower() == language.lower()
            and r["status"] == "APPROVED"
        )
    )


def _has_file(data: dict[str, Any], key: str) -> bool:
    value = data.get(key)
    return isinstance(value, FileStorage) and bool(value.filename)


def _header_media(template: Row, data: dict[str, Any], host_url: str) -> dict[str, Any]:
    """`handleTemplateHeaderMedia()`: upload or URL, extension and size checks, local copy."""
    kind = template["header_data_format"].lower()
    allowed, limit_mb = m.MEDIA_RULES[kind]
    upload = data.get(f"header_{kind}_file")
    if isinstance(upload, FileStorage) and upload.filename:
        ext = m.url_extension("/" + upload.filename)
        if ext not in allowed:
            raise _media_error(
                f"Invalid file extension for header {kind}",
                f"Invalid file extension. Allowed: {', '.join(allowed)}",
            )
        if len(upload.read()) / (1024 * 1024) > limit_mb:
            raise _media_error(
                f"File size exceeds limit for header {kind}",
                f"File size exceeds limit. Max allowed is {limit_mb} MB",
            )
        stem = m.url_stem("/" + upload.filename)
    else:
        url = str(data.get(f"header_{kind}_url") or "")
        if not url or m.unreachable(url):
            raise _media_error(
                "Cannot access header media URL", "The provided media URL is not accessible"
            )
        ext = m.url_extension(url)
        if ext and ext not in allowed:
            raise _media_error(
                f"Invalid file extension in URL for header {kind}",
                f"Invalid file extension in URL. Allowed: {', '.join(allowed)}",
            )
        if m.oversize(url):
            raise _media_error(
                f"File size exceeds limit for header {kind}",
                f"File size exceeds limit. Max allowed is {limit_mb} MB",
            )
        stem = m.url_stem(url) or "template_media"
    name = f"template_header_{int(time.time())}_{m.slug(stem)}" + (f".{ext}" if ext else "")
    return {
        "filename": f"whatsapp-templates/{name}",
        "media_url": f"{host_url}storage/whatsapp-templates/{name}",
        "media_type": kind,
    }


def _media_error(message: str, detail: str) -> m.Refusal:
    return m.refuse(422, message, errors={"header_media": [detail]})


def _parameters(data: dict[str, Any], row: Row) -> dict[str, list[str]]:
    """`extractAndParseTemplateParameters()`: present fields in order, merge fields expanded."""

    def values(keys: list[str]) -> list[str]:
        return [m.merge_fields(str(data[k] or ""), row) for k in keys if is_present(data, k)]

    return {
        "header_params": values(["header_field_1"]),
        "body_params": values([f"field_{i}" for i in range(1, BODY_FIELDS + 1)]),
        "button_params": values([f"button_{i}" for i in range(BUTTON_FIELDS)]),
    }
