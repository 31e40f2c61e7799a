"""What the three send routes share (reference §1.7, `MessageController`).

Contact resolution (suffix match, else auto-create a lead, else 404), the `contact.country` crash,
merge fields, wamids, chat rows, and the media rules of `get_meta_allowed_extension()`.
Media downloads are emulated by URL convention: a host or path containing `unreachable` cannot be
fetched, one containing `oversize` reports a Content-Length over the type's limit.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from connector.sandbox import contacts
from connector.sandbox.routes_contacts import CONTACT_LIMIT_MESSAGE
from connector.sandbox.state import Tenant
from connector.sandbox.table import Row
from connector.sandbox.validation import is_int_like

UNREACHABLE_MARK = "unreachable"
OVERSIZE_MARK = "oversize"
# Extensions (without the dot) and size limits in MB, from app/Helpers/WhatsappHelper.php (§1.7).
MEDIA_RULES: dict[str, tuple[tuple[str, ...], int]] = {
    "image": (("jpeg", "png"), 5),
    "video": (("mp4", "3gp"), 16),
    "audio": (("aac", "amr", "mp3", "m4a", "ogg"), 16),
    "document": (("pdf", "doc", "docx", "txt", "xls", "xlsx", "ppt", "pptx"), 100),
}
# `get_country_id_by_name()` reads the installation's country table; these ids are illustrative.
COUNTRY_IDS = {"germany": 82, "india": 102, "united kingdom": 235, "united states": 236}
MERGE_FIELDS = {
    "{contact_first_name}": "firstname",
    "{contact_last_name}": "lastname",
    "{contact_email}": "email",
    "{contact_phone_number}": "phone",
    "{contact_company}": "company",
}
CONVERSATION_LIMIT_MESSAGE = (
    "Conversation limit reached. Please upgrade your plan to continue messaging."
)
NOT_CONFIGURED_MESSAGE = "WhatsApp connection is not configured"
NOT_CONNECTED_MESSAGE = "WhatsApp is not connected"


@dataclass
class Refusal(Exception):
    """An early answer of a send route: HTTP status and the JSON body."""

    status: int
    body: dict[str, Any]


def refuse(status: int, message: str, **extra: Any) -> Refusal:
    return Refusal(status, {"status": "error", "message": message, **extra})


def clean_phone(raw: str) -> str:
    """`cleanPhoneNumber()`: drop everything but digits and '+', then one leading '+'."""
    cleaned = re.sub(r"[^\d+]", "", raw)
    return cleaned[1:] if cleaned.startswith("+") else cleaned


def resolve_contact(tenant: Tenant, phone: str, contact_data: Any) -> tuple[Row, bool]:
    """`findOrCreateContact()`: (row, created) or a Refusal."""
    found = contacts.find_by_phone_suffix(tenant, phone)
    if found is not None:
        return found, False
    if not contact_data:
        raise refuse(404, "Contact not found and auto-creation is disabled")
    if tenant.contact_limit is not None and len(tenant.table("contacts")) >= tenant.contact_limit:
        raise refuse(403, CONTACT_LIMIT_MESSAGE)
    if not isinstance(contact_data, dict) or "country" not in contact_data:
        # `$contactData['country']` is read unguarded; PHP's warning becomes an exception and the
        # catch-all answers 500 (§1.7 gotcha).
        raise refuse(500, "Failed to create contact")
    country = contact_data["country"]
    if country and not is_int_like(country):
        country = COUNTRY_IDS.get(str(country).lower())
    source = _first_named(tenant, "sources", "API")
    status = _first_named(tenant, "statuses", "New")
    row = contacts.insert(
        tenant,
        {
            "tenant_id": tenant.id,
            "firstname": contact_data.get("first_name") or "Unknown",
            "lastname": contact_data.get("last_name") or "",
            "email": contact_data.get("email"),
            "phone": phone,
            "country_id": country,
            "type": "lead",
            "source_id": source["id"] if source else 1,
            "status_id": status["id"] if status else 1,
            "addedfrom": None,
        },
    )
    if contact_data.get("groups"):
        group_ids = [_group_id(tenant, name) for name in str(contact_data["groups"]).split(",")]
        ids = list(dict.fromkeys(i for i in group_ids if i is not None))
        if ids:
            contacts.update(tenant, row, {"group_id": ids})
    return row, True


def require_connection(tenant: Tenant, status: int, message: str) -> None:
    """The WhatsApp-settings check (422 on send/media, 503 on template), then the plan limit."""
    if not tenant.whatsapp_connected:
        raise refuse(status, message)
    if tenant.conversation_limit_reached:
        raise refuse(403, CONVERSATION_LIMIT_MESSAGE, limit_reached=True)


def sent_entry(
    kind: str, phone: str, row: Row, wamid: str, chat: int, payload: dict[str, Any]
) -> dict[str, Any]:
    """A record for the tenant's sent list."""
    return {
        "kind": kind,
        "phone": phone,
        "contact_id": row["id"],
        "wamid": wamid,
        "chat_id": chat,
        "payload": payload,
    }


def merge_fields(text: str, row: Row) -> str:
    """`parseMessageText()` for the contact merge fields [INF: field names from the UI docs]."""
    for field, column in MERGE_FIELDS.items():
        if field in text:
            text = text.replace(field, str(row.get(column) or ""))
    return text


def new_wamid(phone: str) -> str:
    """A Cloud-API-shaped message id: base64 of the recipient and a random 9-byte hex tail."""
    digits = re.sub(r"\D", "", phone)[-15:].encode() or b"0"
    tail = secrets.token_hex(9).upper().encode()
    raw = b"\x1c\x18" + bytes([len(digits)]) + digits + b"\x15\x02\x00\x11\x18\x12" + tail + b"\x00"
    return "wamid." + base64.b64encode(raw).decode()


def chat_id(tenant: Tenant, phone: str, row: Row) -> int:
    """`createOrUpdateChatInteraction()`: one chat per (receiver, contact type, contact id)."""
    key = (phone, str(row["type"]), int(row["id"]))
    if key not in tenant.chats:
        tenant.chats[key] = tenant.next_chat_id()
    return tenant.chats[key]


def url_extension(url: str) -> str:
    """PHP `pathinfo(parse_url($url, PHP_URL_PATH), PATHINFO_EXTENSION)`, lower-cased."""
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def url_stem(url: str) -> str:
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


def slug(text: str) -> str:
    """Laravel `Str::slug($text, '_')`."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def unreachable(url: str) -> bool:
    parts = urlsplit(url)
    return UNREACHABLE_MARK in (parts.hostname or "") or UNREACHABLE_MARK in parts.path


def oversize(url: str) -> bool:
    parts = urlsplit(url)
    return OVERSIZE_MARK in (parts.hostname or "") or OVERSIZE_MARK in parts.path


def _first_named(tenant: Tenant, table: str, name: str) -> Row | None:
    rows = tenant.table(table)
    return rows.first(lambda r: str(r["name"]).lower() == name.lower()) or rows.first(
        lambda r: True
    )


def _group_id(tenant: Tenant, name: str) -> int | None:
    """`Group::firstOrCreate(['tenant_id' => ..., 'name' => $name])` for one trimmed name."""
    name = name.strip()
    if not name:
        return None
    groups = tenant.table("groups")
    found = groups.first(lambda r: str(r["name"]).lower() == name.lower())
    if found is None:
        found = groups.insert({"tenant_id": tenant.id, "name": name})
    return int(found["id"])
