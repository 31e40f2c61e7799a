"""WBIZ operations on campaigns (broadcasts to tags) and the inbox (conversations, messages).

Paths: the seed page and upstream-apis.md §5. Our groups are WBIZ tags, so a campaign audience
is a list of group ids. Pause, resume and cancel are one command each (`POST
/v1/campaigns/:id/<command>`); a command the campaign's state does not allow is the upstream's
4xx, reported as invalid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from connector.engine.outcome import Outcome, success
from connector.providers import wbiz_mapping as wm
from connector.providers.dialect import DEFAULT_PAGE_SIZE, BearerApi, In, Operation, body_of, record
from connector.providers.wbiz_library import client, items_of, mapping

COUNTERS = ("sent", "delivered", "read", "failed")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def campaign_from_upstream(raw: Mapping[str, Any]) -> dict[str, Any]:
    template = mapping(raw.get("template"))
    return {"id": str(raw.get("id")), "name": raw.get("name"), "status": raw.get("status"),
            "template_name": template.get("name"), "language": template.get("language"),
            "audience_total": raw.get("audienceTotal"),
            **{name: _int(raw.get(name)) for name in COUNTERS},
            "created_at": raw.get("createdAt")}


def conversation_from_upstream(raw: Mapping[str, Any], region: str | None) -> dict[str, Any]:
    contact = mapping(raw.get("contact"))
    contact_id = contact.get("id")
    return {"id": str(raw.get("id")),
            "contact_id": None if contact_id is None else str(contact_id),
            "phone": wm.contact_from_upstream({"phone": contact.get("phone")}, region)["phone"],
            "name": contact.get("name"), "status": raw.get("status"),
            "unread_count": _int(raw.get("unreadCount")),
            "last_message_at": raw.get("lastMessageAt")}


def message_from_upstream(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": str(raw.get("id")), "direction": raw.get("direction"), "kind": raw.get("kind"),
            "body": raw.get("body"), "status": raw.get("status"),
            "created_at": raw.get("createdAt")}


def _audience(data: In) -> dict[str, Any]:
    return {"kind": "tags", "tags": [wm.tag_name(str(g)) for g in data["group_ids"]]}


def _page(api: BearerApi, path: str, data: In, query: Mapping[str, Any]) -> dict[str, Any]:
    """A page of an upstream-paged list (`page`, `limit`; `total`, `hasMore`), unconverted."""
    page, per_page = int(data.get("page") or 1), int(data.get("per_page") or DEFAULT_PAGE_SIZE)
    body = api.get(path, {**query, "page": page, "limit": per_page})
    return {"items": items_of(body), "page": page, "per_page": per_page,
            "total": _int(body.get("total")),
            "next_page": page + 1 if body.get("hasMore") else None}


def _status_query(data: In) -> dict[str, Any]:
    return {"status": data["status"]} if data.get("status") else {}


def op_list_campaigns(api: BearerApi, params: In, data: In) -> Outcome:
    listing = _page(api, "v1/campaigns", data, _status_query(data))
    return success({**listing, "items": [campaign_from_upstream(i) for i in listing["items"]]})


def op_get_campaign(api: BearerApi, params: In, data: In) -> Outcome:
    body = api.get(f"v1/campaigns/{quote(str(data['id']), safe='')}")
    return success(campaign_from_upstream(record(body.get("data"), "the campaign")))


def op_create_campaign(api: BearerApi, params: In, data: In) -> Outcome:
    payload = {"name": data["name"],
               "template": {"name": data["template_name"],
                            "language": data.get("language") or "en"},
               "audience": _audience(data), "schedule": {"mode": "now"}}
    body = client(api).send("POST", "v1/campaigns", payload)
    return success(campaign_from_upstream(record(body.get("data"), "the campaign")))


def command(name: str) -> Operation[BearerApi]:
    def op(api: BearerApi, params: In, data: In) -> Outcome:
        body = client(api).send("POST", f"v1/campaigns/{quote(str(data['id']), safe='')}/{name}")
        return success(campaign_from_upstream(record(body.get("data"), "the campaign")))
    return op


def op_preview_campaign_audience(api: BearerApi, params: In, data: In) -> Outcome:
    """`POST v1/campaigns/audience-preview`: a read, though it is a POST."""
    outcome = client(api).request("POST", "v1/campaigns/audience-preview", side_effect=False,
                                  json={"audience": _audience(data)})
    body = record(body_of(outcome).get("data"), "the audience")
    return success({"total": _int(body.get("total")),
                    "opted_in_total": _int(body.get("optedInTotal")),
                    "sample": [wm.contact_from_upstream(c, api.ctx.default_region)
                               for c in body.get("sample") or [] if isinstance(c, Mapping)]})


def op_list_conversations(api: BearerApi, params: In, data: In) -> Outcome:
    listing = _page(api, "v1/conversations", data, _status_query(data))
    region = api.ctx.default_region
    return success({**listing, "items": [conversation_from_upstream(i, region)
                                         for i in listing["items"]]})


def op_list_conversation_messages(api: BearerApi, params: In, data: In) -> Outcome:
    path = f"v1/conversations/{quote(str(data['conversation_id']), safe='')}/messages"
    listing = _page(api, path, data, {})
    return success({**listing, "items": [message_from_upstream(i) for i in listing["items"]]})


OPERATIONS: Mapping[str, Operation[BearerApi]] = {
    "list_campaigns": op_list_campaigns,
    "get_campaign": op_get_campaign,
    "create_campaign": op_create_campaign,
    "pause_campaign": command("pause"),
    "resume_campaign": command("resume"),
    "cancel_campaign": command("cancel"),
    "preview_campaign_audience": op_preview_campaign_audience,
    "list_conversations": op_list_conversations,
    "list_conversation_messages": op_list_conversation_messages,
}
