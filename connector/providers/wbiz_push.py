"""WBIZ push sources as dialect operations: one page of the `/v1/events` feed, and the webhook
subscriptions (`/v1/webhooks`) that push the same events.

`GET v1/events?limit=&since=<cursor>` (upstream-apis.md §5, scope `events:read`) carries the
same events as the webhooks, oldest first; `nextCursor` is opaque and is what the next poll
passes as `since`. The seed documents no "more" flag, so `has_more` is only read when the
upstream sends a boolean `hasMore`; otherwise the poller treats a short page as the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from connector.engine.outcome import Outcome, OutcomeKind, success
from connector.providers.dialect import BearerApi, In, Operation, Stop, record

EVENTS_PAGE_MAX = 100
"""The feed's largest page (the emulator clamps `limit` to it, as WBIZ's other lists do)."""


def op_read_events(api: BearerApi, params: In, data: In) -> Outcome:
    """Events after `data.since` (from the oldest kept without it): `{items, next_cursor,
    has_more}`, items exactly as WBIZ sent them (the push parser reads them)."""
    query: dict[str, Any] = {"limit": min(int(data.get("limit") or EVENTS_PAGE_MAX),
                                          EVENTS_PAGE_MAX)}
    if data.get("since"):
        query["since"] = str(data["since"])
    body = api.get("v1/events", query)
    items = body.get("data")
    if not isinstance(items, list):
        raise Stop(Outcome(OutcomeKind.UPSTREAM_ERROR, "the events feed answered without a list"))
    cursor = body.get("nextCursor")
    more = body.get("hasMore")
    return success({"items": [dict(i) for i in items if isinstance(i, Mapping)],
                    "next_cursor": str(cursor) if cursor else None,
                    "has_more": more if isinstance(more, bool) else None})


# --- webhook subscriptions (`/v1/webhooks`, scope webhooks:manage) ------------------------------

WEBHOOK_EVENTS = ("message.received", "message.status")
"""What a subscription made by the connector listens to: every event the triggers map."""
WEBHOOK_FIELDS = ("url", "events", "active")


def _webhook(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": str(raw.get("id")), "url": raw.get("url"),
            "events": [str(e) for e in raw.get("events") or []],
            "active": bool(raw.get("active", True)), "created_at": raw.get("createdAt"),
            "updated_at": raw.get("updatedAt")}


def _path(data: In) -> str:
    return "v1/webhooks/" + quote(str(data["id"]), safe="")


def op_list_webhooks(api: BearerApi, params: In, data: In) -> Outcome:
    items = api.get("v1/webhooks").get("data")
    if not isinstance(items, list):
        raise Stop(Outcome(OutcomeKind.UPSTREAM_ERROR, "the webhooks answer has no list"))
    return success({"items": [_webhook(i) for i in items if isinstance(i, Mapping)]})


def op_get_webhook(api: BearerApi, params: In, data: In) -> Outcome:
    return success(_webhook(record(api.get(_path(data)).get("data"), "the webhook")))


def op_create_webhook(api: BearerApi, params: In, data: In) -> Outcome:
    """The subscription plus `secret`, which WBIZ shows only in this answer: the caller must
    store it (services/push_signing.py does, encrypted) and never put it in a run record."""
    body = {"url": data["url"], "events": list(data.get("events") or WEBHOOK_EVENTS),
            "active": data.get("active", True)}
    raw = record(api.send("POST", "v1/webhooks", body).get("data"), "the webhook")
    if not raw.get("secret"):
        raise Stop(Outcome(OutcomeKind.UPSTREAM_ERROR,
                           "the webhook was created but its signing secret was not returned"))
    return success({**_webhook(raw), "secret": str(raw["secret"])})


def op_update_webhook(api: BearerApi, params: In, data: In) -> Outcome:
    changes = {name: data[name] for name in WEBHOOK_FIELDS if name in data}
    raw = record(api.send("PATCH", _path(data), changes).get("data"), "the webhook")
    return success(_webhook(raw))


def op_delete_webhook(api: BearerApi, params: In, data: In) -> Outcome:
    api.send("DELETE", _path(data))
    return success({"id": str(data["id"]), "deleted": True})


def op_test_webhook(api: BearerApi, params: In, data: In) -> Outcome:
    raw = record(api.send("POST", _path(data) + "/test").get("data"), "the test event")
    return success({"id": str(data["id"]), "event_id": raw.get("eventId"),
                    "queued": bool(raw.get("queued", True))})


OPERATIONS: Mapping[str, Operation[BearerApi]] = {
    "read_events": op_read_events,
    "list_webhooks": op_list_webhooks,
    "get_webhook": op_get_webhook,
    "create_webhook": op_create_webhook,
    "update_webhook": op_update_webhook,
    "delete_webhook": op_delete_webhook,
    "test_webhook": op_test_webhook,
}
"""Merged into the WBIZ dialect's table (providers/wbiz.py)."""
