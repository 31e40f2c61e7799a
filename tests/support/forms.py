"""Form products' webhook requests, built from the shapes in crm-forms.md §B, and the
workflow that turns one into contact + group + welcome message (test arrangement only)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

SECRET = "whsec_test_0123456789"


@dataclass
class HookRequest:
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def _json(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def typeform(name: str, phone: str, submission: str | None = None,
             secret: str | None = SECRET) -> HookRequest:
    first = name.split()[0]
    body = _json({
        "event_id": submission or f"01HX7{uuid.uuid4().hex[:10].upper()}",
        "event_type": "form_response",
        "form_response": {
            "form_id": "lT4Z3j", "token": uuid.uuid4().hex, "submitted_at": "2025-05-01T10:00:00Z",
            "hidden": {"utm_source": "ig"},
            "definition": {"id": "lT4Z3j", "title": "Lead", "fields": [
                {"id": "JwWg", "title": "What's your first name?", "type": "short_text",
                 "ref": "first_name"},
                {"id": "Pq9x", "title": "WhatsApp number", "type": "phone_number",
                 "ref": "phone"}]},
            "answers": [
                {"type": "text", "text": first,
                 "field": {"id": "JwWg", "type": "short_text", "ref": "first_name"}},
                {"type": "email", "email": "ana@example.com",
                 "field": {"id": "SMEU", "type": "email", "ref": "email"}},
                {"type": "phone_number", "phone_number": phone,
                 "field": {"id": "Pq9x", "type": "phone_number", "ref": "phone"}},
            ]}})
    headers = {}
    if secret:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        headers["Typeform-Signature"] = "sha256=" + base64.b64encode(digest).decode()
    return HookRequest(body, "application/json", headers)


def tally(name: str, phone: str, submission: str | None = None,
          secret: str | None = SECRET) -> HookRequest:
    response_id = submission or uuid.uuid4().hex[:6]
    body = _json({
        "eventId": str(uuid.uuid4()), "eventType": "FORM_RESPONSE",
        "createdAt": "2025-05-01T10:00:00.000Z",
        "data": {"responseId": response_id, "submissionId": response_id,
                 "respondentId": "dwQKYm", "formId": "VwbNEw", "formName": "Lead form",
                 "createdAt": "2025-05-01T10:00:00.000Z",
                 "fields": [
                     {"key": "question_3E1qKx", "label": "Name", "type": "INPUT_TEXT",
                      "value": name},
                     {"key": "question_w4Q0Zd", "label": "WhatsApp",
                      "type": "INPUT_PHONE_NUMBER", "value": phone},
                     {"key": "question_mOq9Ka", "label": "utm", "type": "HIDDEN_FIELDS",
                      "value": "ig"}]}})
    headers = {}
    if secret:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        headers["Tally-Signature"] = base64.b64encode(digest).decode()
    return HookRequest(body, "application/json", headers)


def jotform(name: str, phone: str, submission: str | None = None) -> HookRequest:
    first, _, last = name.partition(" ")
    raw_request = {"slug": "submit/230112345678901", "q3_fullName": {"first": first,
                                                                      "last": last},
                   "q4_email": "ana@example.com", "q5_phoneNumber": {"full": phone},
                   "event_id": str(int(time.time() * 1000))}
    boundary = "----JotformBoundary" + uuid.uuid4().hex[:12]
    parts = {"formID": "230112345678901",
             "submissionID": submission or str(5_900_000_000 + uuid.uuid4().int % 10**9),
             "formTitle": "Lead", "ip": "203.0.113.9",
             "pretty": f"Full Name:{name}, E-mail:ana@example.com, Phone Number:{phone}",
             "username": "acme", "type": "WEB", "rawRequest": json.dumps(raw_request)}
    chunks = []
    for key, value in parts.items():
        chunks.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{key}\"\r\n\r\n"
                      f"{value}\r\n")
    chunks.append(f"--{boundary}--\r\n")
    return HookRequest("".join(chunks).encode(), f"multipart/form-data; boundary={boundary}")


def elementor(name: str, phone: str, submission: str | None = None) -> HookRequest:
    pairs = [("form[id]", "a1b2c3d"), ("form[name]", "Lead"),
             ("fields[name][id]", "name"), ("fields[name][type]", "text"),
             ("fields[name][title]", "Name"), ("fields[name][value]", name),
             ("fields[name][raw_value]", name), ("fields[name][required]", "1"),
             ("fields[phone][id]", "phone"), ("fields[phone][type]", "tel"),
             ("fields[phone][title]", "WhatsApp"), ("fields[phone][value]", phone),
             ("fields[phone][raw_value]", phone), ("fields[phone][required]", "1"),
             ("meta[date][title]", "Date"), ("meta[date][value]", "May 1, 2025"),
             ("meta[page_url][title]", "Page URL"),
             ("meta[page_url][value]", f"https://acme.example/contact?v={submission or ''}"),
             ("meta[remote_ip][title]", "Remote IP"), ("meta[remote_ip][value]", "203.0.113.9")]
    return HookRequest(urlencode(pairs).encode(), "application/x-www-form-urlencoded")


def webflow(name: str, phone: str | int, submission: str | None = None,
            secret: str | None = SECRET, timestamp_ms: int | None = None) -> HookRequest:
    body = _json({"triggerType": "form_submission",
                  "payload": {"name": "Contact Us", "siteId": "65427cf400e02b306eaa049c",
                              "formId": "65429eadebe8a9f3a30f62d0",
                              "id": submission or uuid.uuid4().hex[:24],
                              "submittedAt": "2025-05-01T10:00:00.000Z",
                              "data": {"Name": name, "Email": "ana@example.com",
                                       "Phone Number": phone}}})
    headers = {}
    if secret:
        stamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
        signature = hmac.new(secret.encode(), stamp.encode() + b":" + body,
                             hashlib.sha256).hexdigest()
        headers = {"x-webflow-timestamp": stamp, "x-webflow-signature": signature}
    return HookRequest(body, "application/json", headers)


def google_forms(name: str, phone: str, submission: str | None = None,
                 secret: str | None = SECRET) -> HookRequest:
    """What our Apps Script template posts (`UrlFetchApp.fetch`, signed with
    `Utilities.computeHmacSha256Signature`, hex)."""
    body = _json({"source": "google_forms", "form_id": "1FAIpQLSf-lead",
                  "response_id": submission or f"2_ABaOnud{uuid.uuid4().hex[:16]}",
                  "submitted_at": "2025-05-01T10:00:00Z",
                  "answers": {"Name": name, "WhatsApp": phone}})
    headers = {}
    if secret:
        headers["X-Signature"] = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return HookRequest(body, "application/json", headers)


@dataclass(frozen=True)
class Product:
    name: str
    build: Any
    name_expr: str
    phone_expr: str
    verify: dict[str, Any] | None
    region: str | None = None


PRODUCTS = {
    "typeform": Product("typeform", typeform, "form.fields.first_name", "form.fields.phone",
                        {"scheme": "typeform", "secret": SECRET}),
    "tally": Product("tally", tally, "form.fields.name", "form.fields.whatsapp",
                     {"scheme": "tally", "secret": SECRET}),
    "jotform": Product("jotform", jotform, "form.fields.fullName", "form.fields.phoneNumber",
                       None, "BR"),
    "elementor": Product("elementor", elementor, "form.fields.name", "form.fields.phone", None),
    "webflow": Product("webflow", webflow, "form.fields.name", "form.fields.phone_number",
                       {"scheme": "webflow", "secret": SECRET}),
    "google_forms": Product("google_forms", google_forms, "form.fields.name",
                            "form.fields.whatsapp",
                            {"scheme": "hmac", "secret": SECRET, "header": "X-Signature",
                             "encoding": "hex"}, "BR"),
}


def welcome_definition(connection_id: str, product: Product, group_id: str, *,
                       status_id: str = "1", source_id: str = "2") -> dict[str, Any]:
    """Normalise the phone, upsert the contact with status and source, put it in the group,
    send the welcome template (or the text inside the 24 h window)."""
    trigger: dict[str, Any] = {"kind": "form", "product": product.name}
    if product.verify:
        trigger["verify"] = dict(product.verify)
    definition: dict[str, Any] = {
        "name": f"{product.name} lead", "connection_id": connection_id, "trigger": trigger,
        "steps": [
            {"name": "contact", "action": "upsert_contact",
             "input": {"phone": f"{{{{ phone({product.phone_expr}) }}}}",
                       "first_name": f"{{{{ first_name({product.name_expr}) }}}}",
                       # the upstream requires a last name; one-word names get "-"
                       "last_name": f"{{{{ default(last_name({product.name_expr}), '-') }}}}",
                       "status_id": status_id, "source_id": source_id}},
            {"name": "group", "action": "add_contact_to_group",
             "input": {"contact_id": "{{ steps.contact.contact.id }}", "group_id": group_id}},
            {"name": "welcome", "action": "send_message",
             "input": {"phone": "{{ steps.contact.contact.phone }}",
                       "text": f"Hi {{{{ first_name({product.name_expr}) }}}}, thanks for "
                               "writing!",
                       "template_name": "welcome",
                       "body_params": [f"{{{{ first_name({product.name_expr}) }}}}", "Acme"]}},
        ]}
    if product.region:
        definition["default_region"] = product.region
    return definition
