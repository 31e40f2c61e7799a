"""`/messages/send|template|media`, step for step as `MessageController` (reference §1.7).

Each route keeps the upstream's order of checks, because the order decides what a client sees:
template lookup and parameter checks come *before* contact resolution, while a media URL is
downloaded *before* its extension is checked (so an unreachable `.jpg` gets the empty 200, not the
422). One ability, `messages.send`, gates all three routes (§1.3).
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, request

from connector.sandbox import messaging as m
from connector.sandbox import template_send
from connector.sandbox.envelopes import bare, validation_failed
from connector.sandbox.inputs import request_input
from connector.sandbox.pipeline import guarded
from connector.sandbox.state import Tenant, current_store
from connector.sandbox.timestamps import datetime_string, now_s
from connector.sandbox.validation import Rule, validate

bp = Blueprint("messages", __name__)

CONTACT_RULES: dict[str, list[Rule]] = {
    "contact": ["sometimes", "array"],
    "contact.first_name": ["sometimes", "string", "max:255"],
    "contact.last_name": ["sometimes", "string", "max:255"],
    "contact.email": ["sometimes", "email", "max:191"],
    "contact.country": ["sometimes", "string", "max:100"],
    "contact.groups": ["sometimes", "string"],
}
SEND_RULES: dict[str, list[Rule]] = {
    "phone_number": ["required", "string"],
    "message_body": ["required", "string", "max:4096"],
    **CONTACT_RULES,
}
MEDIA_RULES: dict[str, list[Rule]] = {
    "phone_number": ["required", "string", "min:10", "max:15"],
    "media_type": ["required", "string", "in:image,document,video,audio"],
    "media_url": ["nullable", "url", "required_without:media_file"],
    "media_file": ["nullable", "file", "required_without:media_url"],
    "caption": ["sometimes", "string", "max:1024"],
    "filename": ["sometimes", "string", "max:255"],
    **CONTACT_RULES,
}


@bp.post("/messages/send")
@guarded("messages.send")
def send_text(tenant: Tenant) -> Response:
    data = request_input(request)
    errors = validate(data, SEND_RULES)
    if errors:
        return validation_failed(errors)
    phone = m.clean_phone(data["phone_number"])
    store = current_store()
    with store.lock:
        try:
            row, created = m.resolve_contact(tenant, phone, data.get("contact"))
            m.require_connection(tenant, 422, m.NOT_CONFIGURED_MESSAGE)
        except m.Refusal as refusal:
            return bare(refusal.body, refusal.status)
        text = m.merge_fields(data["message_body"], row)
        wamid = m.new_wamid(phone)
        chat = m.chat_id(tenant, phone, row)
        payload = {"message": text}
        store.record_sent(tenant, m.sent_entry("text", phone, row, wamid, chat, payload))
        body = {
            "message_id": wamid,
            "contact_id": row["id"],
            "phone": row["phone"],
            "message": text,
            "status": "sent",
            "sent_at": datetime_string(now_s()),
            "chat_id": chat,
            "contact_created": created,
        }
    return _sent_ok("Message sent successfully", body)


@bp.post("/messages/template")
@guarded("messages.send")
def send_template(tenant: Tenant) -> Response:
    data = request_input(request)
    errors = validate(data, template_send.RULES)
    if errors:
        return validation_failed(errors)
    store = current_store()
    with store.lock:
        try:
            body = template_send.send(store, tenant, data, request.host_url)
        except m.Refusal as refusal:
            return bare(refusal.body, refusal.status)
    return _sent_ok("Template sent successfully", body)


@bp.post("/messages/media")
@guarded("messages.send")
def send_media(tenant: Tenant) -> Response:
    data = request_input(request)
    errors = validate(data, MEDIA_RULES)
    if errors:
        return validation_failed(errors)
    phone = m.clean_phone(data["phone_number"])
    media_type = data["media_type"]
    allowed, limit_mb = m.MEDIA_RULES[media_type]
    upload = data.get("media_file")
    try:
        if upload is not None and upload.filename:
            media_url, stored = _store_upload(upload, media_type, allowed, limit_mb)
        else:
            media_url = data["media_url"]
            if m.unreachable(media_url):
                # `return null` after a failed download: Laravel sends an empty 200 (§1.7 bug).
                return Response(b"", status=200, content_type="text/html; charset=UTF-8")
            stored = _check_download(media_url, media_type, allowed, limit_mb)
    except m.Refusal as refusal:
        return bare(refusal.body, refusal.status)
    store = current_store()
    with store.lock:
        try:
            row, created = m.resolve_contact(tenant, phone, data.get("contact", []))
            m.require_connection(tenant, 422, m.NOT_CONFIGURED_MESSAGE)
        except m.Refusal as refusal:
            return bare(refusal.body, refusal.status)
        caption = m.merge_fields(data["caption"], row) if data.get("caption") else ""
        wamid = m.new_wamid(phone)
        chat = m.chat_id(tenant, phone, row)
        chat_message = tenant.next_chat_message_id()
        payload = {
            "media_type": media_type,
            "media_url": media_url,
            "caption": caption,
            "filename": data.get("filename") or "",
            "stored_as": stored,
        }
        store.record_sent(tenant, m.sent_entry("media", phone, row, wamid, chat, payload))
        body = {
            "message_id": wamid,
            "contact_id": row["id"],
            "phone": row["phone"],
            "media_type": media_type,
            "media_url": media_url,
            "caption": caption,
            "filename": data.get("filename") or "",
            "status": "sent",
            "sent_at": datetime_string(now_s()),
            "chat_id": chat,
            "chat_message_id": chat_message,
            "contact_created": created,
        }
    return _sent_ok("Media message sent successfully", body)


def _store_upload(
    upload: Any, media_type: str, allowed: tuple[str, ...], limit_mb: int
) -> tuple[str, str]:
    ext = m.url_extension("/" + (upload.filename or ""))
    if ext not in allowed:
        raise m.refuse(
            422, f"Invalid file extension for {media_type}. Allowed: {', '.join(allowed)}"
        )
    size = len(upload.read())
    if size / (1024 * 1024) > limit_mb:
        raise m.refuse(
            422, f"File size exceeds limit for {media_type}. Max allowed is {limit_mb} MB"
        )
    name = f"{int(time.time())}_{m.slug(m.url_stem('/' + upload.filename))}.{ext}"
    return request.host_url + "storage/whatsapp-attachments/" + name, "whatsapp-attachments/" + name


def _check_download(url: str, media_type: str, allowed: tuple[str, ...], limit_mb: int) -> str:
    ext = m.url_extension(url)
    if ext not in allowed:
        # `.jpg` is not in the image list (only jpeg, png): a real upstream quirk (§1.7).
        raise m.refuse(
            422, f"Invalid file extension for {media_type}. Allowed: {', '.join(allowed)}"
        )
    if m.oversize(url):
        raise m.refuse(
            422, f"File size exceeds limit for {media_type}. Max allowed is {limit_mb} MB"
        )
    stem = m.slug(m.url_stem(url)) or "whatsapp_file"
    return f"whatsapp-attachments/{int(time.time())}_{stem}" + (f".{ext}" if ext else "")


def _sent_ok(message: str, data: dict[str, Any]) -> Response:
    return bare({"status": "success", "message": message, "data": data}, 200)
