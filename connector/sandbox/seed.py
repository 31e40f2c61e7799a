"""Seed rows every new tenant starts with, shaped like the upstream models (reference §1.6).

Statuses New (default) and Active, sources API and Website (the names message auto-create looks
for, §1.7), five templates covering each send path and each non-approved state, and one bot of
each kind. `buttons_data` and the bot `*_params` columns are JSON *strings*, as upstream.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from connector.sandbox.state import Tenant

STATUSES = (("New", "#3b82f6", True), ("Active", "#22c55e", False))
SOURCES = ("API", "Website")

TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        "template_name": "welcome", "language": "en", "status": "APPROVED",
        "category": "MARKETING", "header_data_format": "", "header_data_text": None,
        "header_params_count": 0, "body_data": "Hello {{1}}, welcome to {{2}}!",
        "body_params_count": 2, "footer_data": "Reply STOP to opt out", "footer_params_count": 0,
        "buttons": [{"type": "QUICK_REPLY", "text": "Get started"}],
    },
    {
        "template_name": "order_update", "language": "en", "status": "APPROVED",
        "category": "UTILITY", "header_data_format": "TEXT", "header_data_text": "Order {{1}}",
        "header_params_count": 1, "body_data": "Your order is now {{1}}.",
        "body_params_count": 1, "footer_data": None, "footer_params_count": 0,
        "buttons": [{"type": "URL", "text": "Track order", "url": "https://shop.example/track"}],
    },
    {
        "template_name": "promo_image", "language": "en", "status": "APPROVED",
        "category": "MARKETING", "header_data_format": "IMAGE", "header_data_text": None,
        "header_params_count": 0, "body_data": "Our new collection is here, {{1}}!",
        "body_params_count": 1, "footer_data": None, "footer_params_count": 0,
        "buttons": [{"type": "URL", "text": "Shop now", "url": "https://shop.example/new"}],
        "header_file_url": "https://cdn.example/promo.png",
    },
    {
        "template_name": "old_offer", "language": "en", "status": "PAUSED",
        "category": "MARKETING", "header_data_format": "", "header_data_text": None,
        "header_params_count": 0, "body_data": "Last chance: {{1}} off everything.",
        "body_params_count": 1, "footer_data": None, "footer_params_count": 0, "buttons": [],
    },
    {
        "template_name": "draft_news", "language": "en", "status": "PENDING",
        "category": "MARKETING", "header_data_format": "TEXT", "header_data_text": "News",
        "header_params_count": 0, "body_data": "This month at {{1}}: {{2}}.",
        "body_params_count": 2, "footer_data": None, "footer_params_count": 0, "buttons": [],
    },
)  # fmt: skip


def seed_tenant(tenant: Tenant) -> None:
    """Insert the seed rows; callers hold the store lock."""
    for name, color, default in STATUSES:
        tenant.table("statuses").insert(
            {"tenant_id": tenant.id, "name": name, "color": color, "isdefault": default}
        )
    for name in SOURCES:
        tenant.table("sources").insert({"tenant_id": tenant.id, "name": name})
    by_name = {}
    for spec in TEMPLATES:
        row = tenant.table("templates").insert(template_row(tenant, spec))
        by_name[spec["template_name"]] = row
    tenant.table("messagebots").insert(_message_bot(tenant))
    tenant.table("templatebots").insert(_template_bot(tenant, by_name["welcome"]["id"]))


def template_row(tenant: Tenant, spec: dict[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in spec.items() if k != "buttons"}
    # Meta template ids are 15-16 digit integers; derive one that is stable per tenant and name.
    meta_id = 100_000_000_000_000 + zlib.crc32(f"{tenant.slug}/{spec['template_name']}".encode())
    return {
        "tenant_id": tenant.id,
        "template_id": meta_id,
        **fields,
        "buttons_data": json.dumps(spec["buttons"]),
        "header_file_url": spec.get("header_file_url"),
        "header_variable_value": None,
        "body_variable_value": None,
    }


def _message_bot(tenant: Tenant) -> dict[str, Any]:
    return {
        "tenant_id": tenant.id, "name": "Greeting bot", "rel_type": "lead",
        "reply_text": "Hi {contact_first_name}! How can we help you today?",
        "reply_type": 1, "trigger": "hi,hello,hey", "bot_header": "Welcome",
        "bot_footer": "Powered by WhatsMark", "button1": "Pricing", "button1_id": "pricing",
        "button2": "Support", "button2_id": "support", "button3": None, "button3_id": None,
        "button_name": None, "button_url": None, "addedfrom": tenant.admin_user_id,
        "is_bot_active": 1, "sending_count": 0, "filename": None,
    }  # fmt: skip


def _template_bot(tenant: Tenant, template_local_id: int) -> dict[str, Any]:
    return {
        "tenant_id": tenant.id, "name": "Welcome template bot", "rel_type": "lead",
        "template_id": template_local_id, "header_params": "[]",
        "body_params": json.dumps(["{contact_first_name}", "Acme"]), "footer_params": "[]",
        "filename": None, "trigger": "start,join", "reply_type": 1, "is_bot_active": 1,
        "sending_count": 0,
    }  # fmt: skip
