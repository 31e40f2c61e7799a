"""WBIZ emulator, inbox and campaigns: conversations with their messages, and the campaign list,
counters, pause / resume / cancel and audience preview (creation lives in wbiz.py).

Conversations are read off the account's event log, which already holds every inbound message
(`message.received`) and every send with its later statuses (`message.status`): one
conversation per phone, messages newest first, `unread` = inbound messages since our last
reply. Shapes are our inference from the seed's one-line descriptions [INF]; a campaign command
that its state does not allow (pausing a cancelled campaign) is 409 `invalid_state`.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, Response, request

from connector.sandbox.accounts import Account, json_answer
from connector.sandbox.wbiz import _page, error, invalid, scoped

bp = Blueprint("wbiz_inbox", __name__, url_prefix="/api/wbiz/<tenant>/v1")

SAMPLE_SIZE = 5
# command -> (states it applies to, state it leads to)
COMMANDS = {"pause": (("running", "scheduled"), "paused"),
            "resume": (("paused",), "running"),
            "cancel": (("running", "paused", "scheduled"), "cancelled")}
COUNTERS = ("sent", "delivered", "read", "failed")


def _digits(phone: Any) -> str:
    return re.sub(r"\D", "", str(phone or ""))


def conversations(account: Account) -> dict[str, dict[str, Any]]:
    """Conversation id -> conversation with its `messages` (oldest first), from the events."""
    bodies = {s["message_id"]: s for s in account.sent}
    found: dict[str, dict[str, Any]] = {}
    by_wamid: dict[str, dict[str, Any]] = {}
    for event in account.tables.get("events") or []:
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        kind, wamid = event.get("type"), str(data.get("wamid") or "")
        if kind == "message.status" and wamid in by_wamid:
            by_wamid[wamid]["status"] = data.get("status")
            continue
        if kind == "message.received":
            phone, message = data.get("from"), {
                "id": wamid, "direction": "inbound", "kind": data.get("type") or "text",
                "body": data.get("text"), "status": "received", "createdAt": event["createdAt"]}
        elif kind == "message.status" and data.get("status") == "sent":
            sent = bodies.get(wamid) or {}
            given = sent.get("payload")
            payload: dict[str, Any] = given if isinstance(given, dict) else {}
            phone, message = data.get("to"), {
                "id": wamid, "direction": "outbound", "kind": sent.get("kind") or "text",
                "body": payload.get("body") or payload.get("caption") or payload.get("template")
                or payload.get("bodyText"), "status": "sent", "createdAt": event["createdAt"]}
        else:
            continue
        phone = "+" + _digits(phone)
        cid = f"cv_{_digits(phone)}"
        conversation = found.pop(cid, None) or {"id": cid, "phone": phone, "messages": []}
        conversation["messages"].append(message)
        found[cid] = conversation  # re-inserted: the dict stays ordered by last activity
        by_wamid[wamid] = message
    return found


def _view(account: Account, conversation: dict[str, Any]) -> dict[str, Any]:
    messages = conversation["messages"]
    unread = 0
    for message in reversed(messages):
        if message["direction"] == "outbound":
            break
        unread += 1
    cid = account.tables["phones"].get(conversation["phone"])
    contact = account.tables["contacts"].get(cid) if cid else None
    return {"id": conversation["id"], "channel": "whatsapp", "status": "open",
            "contact": {"id": contact["id"] if contact else None,
                        "phone": conversation["phone"],
                        "name": contact["name"] if contact else None},
            "lastMessageAt": messages[-1]["createdAt"], "unreadCount": unread}


@bp.get("/conversations")
@scoped("inbox:read")
def list_conversations(account: Account) -> Response:
    status = request.args.get("status")
    rows = [_view(account, c) for c in reversed(conversations(account).values())]
    return _page([r for r in rows if not status or r["status"] == status])


@bp.get("/conversations/<cid>/messages")
@scoped("inbox:read")
def list_messages(account: Account, cid: str) -> Response:
    conversation = conversations(account).get(cid)
    if conversation is None:
        return error(404, "not_found", "Conversation not found")
    return _page(list(reversed(conversation["messages"])))


# --- campaigns -----------------------------------------------------------------------------------


def _campaign(row: dict[str, Any]) -> dict[str, Any]:
    return {**{name: 0 for name in COUNTERS}, "createdAt": None, **row}


@bp.get("/campaigns")
@scoped("campaigns:read")
def list_campaigns(account: Account) -> Response:
    status = request.args.get("status")
    rows = [_campaign(c) for c in reversed(account.tables["campaigns"].values())]
    return _page([c for c in rows if not status or c["status"] == status])


@bp.get("/campaigns/<cid>")
@scoped("campaigns:read")
def get_campaign(account: Account, cid: str) -> Response:
    row = account.tables["campaigns"].get(cid)
    if row is None:
        return error(404, "not_found", "Campaign not found")
    return json_answer({"data": _campaign(row)}, 200)


@bp.post("/campaigns/<cid>/<command>")
@scoped("campaigns:write")
def command_campaign(account: Account, cid: str, command: str) -> Response:
    row = account.tables["campaigns"].get(cid)
    if row is None or command not in COMMANDS:
        return error(404, "not_found", "Campaign not found" if row is None else
                     f"Unknown campaign command {command}")
    allowed, target = COMMANDS[command]
    if row["status"] not in allowed:
        return error(409, "invalid_state", f"the campaign is {row['status']}; only "
                     f"{' or '.join(allowed)} campaigns can {command}")
    row["status"] = target
    return json_answer({"data": _campaign(row)}, 200)


@bp.post("/campaigns/audience-preview")
@scoped("campaigns:write")
def audience_preview(account: Account) -> Response:
    body = request.get_json(silent=True)
    audience = body.get("audience") if isinstance(body, dict) else None
    kind = audience.get("kind") if isinstance(audience, dict) else None
    tags = set(audience.get("tags") or []) if isinstance(audience, dict) else set()
    if kind not in ("tags", "all") or (kind == "tags" and not tags):
        return invalid({"audience": "audience must be {kind: tags, tags: [...]} or {kind: all}"})
    matched = [c for c in reversed(account.tables["contacts"].values())
               if kind == "all" or tags & set(c["tags"])]
    return json_answer({"data": {
        "total": len(matched), "optedInTotal": sum(1 for c in matched if c.get("optedIn")),
        "sample": matched[:SAMPLE_SIZE]}}, 200)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
