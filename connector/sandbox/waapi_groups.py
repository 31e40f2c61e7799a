"""waapi emulator client actions for WhatsApp groups and contact cards (upstream-apis.md §4).

Bodies follow waapi's OpenAPI (n8n-nodes-waapi, the reference's source): `create-group
{groupName, groupParticipants[]}` answering `data.data.gid._serialized` and
`missingParticipants` (numbers not on WhatsApp), `get-group-info {chatId}`,
`add-group-participant` / `remove-group-participant {chatId, participant}`, `get-chats {offset,
limit}` (groups, then the chats our sends opened) and `send-vcard {chatId, vCard{firstname,
lastname, displayname, organization, website, internationalnumber, waid}}`. The per-participant
result of an add/remove (`{code, message}`, 409 when already a member) is our inference [INF].
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from flask import Response

from connector.sandbox.accounts import Account
from connector.sandbox.waapi_replies import inner, inner_error, number_id, sent

PERSON = re.compile(r"^\d{6,20}@c\.us$")
GROUP = re.compile(r"^\d{6,30}@g\.us$")


def _wid(serialized: str) -> dict[str, str]:
    user, server = serialized.split("@", 1)
    return {"server": server, "user": user, "_serialized": serialized}


def _groups(account: Account) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = account.tables.setdefault("groups", {})
    return found


def _payload(instance: dict[str, Any], data: Any) -> Response:
    """The documented nesting: `data: {status, instanceId, data: <payload>}`."""
    return inner(instance, {"status": "success", "instanceId": instance["id"], "data": data})


def _group(account: Account, instance: dict[str, Any], body: dict[str, Any]
           ) -> dict[str, Any] | Response:
    chat_id = str(body.get("chatId", ""))
    if not GROUP.match(chat_id):
        return inner_error(instance, f"invalid chatId {chat_id!r}: expected <id>@g.us")
    group = _groups(account).get(chat_id)
    return group if group is not None else inner_error(instance, f"group {chat_id} not found")


def _create_group(account: Account, instance: dict[str, Any], body: dict[str, Any]) -> Response:
    name, wanted = body.get("groupName"), body.get("groupParticipants")
    if not isinstance(name, str) or not name.strip():
        return inner_error(instance, "groupName is required")
    if not isinstance(wanted, list) or not wanted or not all(
            PERSON.match(str(p)) for p in wanted):
        return inner_error(instance, "groupParticipants must be a non-empty list of <number>@c.us")
    missing = [p for p in wanted if number_id(account, p.split("@")[0]) is None]
    gid = f"120363{secrets.randbelow(10**12):012d}@g.us"
    now = int(time.time())
    participants = {instance["me"]: {"isAdmin": True, "isSuperAdmin": True}}
    participants.update({p: {"isAdmin": False, "isSuperAdmin": False}
                         for p in wanted if p not in missing})
    _groups(account)[gid] = {
        "id": gid, "subject": name, "owner": instance["me"], "createdAtTimestamp": now,
        "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now)),
        "inviteCode": secrets.token_urlsafe(16), "participants": participants}
    return _payload(instance, {"gid": _wid(gid), "missingParticipants": missing})


def _group_info(account: Account, instance: dict[str, Any], body: dict[str, Any]) -> Response:
    group = _group(account, instance, body)
    if isinstance(group, Response):
        return group
    return _payload(instance, {
        "chatId": _wid(group["id"]), "owner": _wid(group["owner"]), "subject": group["subject"],
        "createdAt": group["createdAt"], "createdAtTimestamp": group["createdAtTimestamp"],
        "inviteCode": group["inviteCode"],
        "inviteCodeLink": f"https://chat.whatsapp.com/{group['inviteCode']}",
        "participants": [{"id": _wid(p), **roles} for p, roles in group["participants"].items()]})


def _change_participant(add: bool) -> Callable[[Account, dict[str, Any], dict[str, Any]],
                                               Response]:
    def handler(account: Account, instance: dict[str, Any], body: dict[str, Any]) -> Response:
        group = _group(account, instance, body)
        if isinstance(group, Response):
            return group
        participant = str(body.get("participant", ""))
        if not PERSON.match(participant) or number_id(account, participant) is None:
            return inner_error(instance, f"participant {participant!r} is not a WhatsApp user")
        members = group["participants"]
        if (participant in members) == add:
            result = {"code": 409 if add else 404,
                      "message": "already a participant" if add else "not a participant"}
        elif add:
            members[participant] = {"isAdmin": False, "isSuperAdmin": False}
            result = {"code": 200, "message": "added"}
        else:
            del members[participant]
            result = {"code": 200, "message": "removed"}
        return _payload(instance, {"participant": participant, **result})

    return handler


def _get_chats(account: Account, instance: dict[str, Any], body: dict[str, Any]) -> Response:
    chats = [{"id": _wid(g["id"]), "name": g["subject"], "isGroup": True, "isReadOnly": False,
              "unreadCount": 0, "timestamp": g["createdAtTimestamp"], "archived": False,
              "pinned": False, "isMuted": False} for g in _groups(account).values()]
    people = dict.fromkeys(s["to"] for s in account.sent if PERSON.match(str(s["to"])))
    chats += [{"id": _wid(p), "name": None, "isGroup": False, "isReadOnly": False,
               "unreadCount": 0, "timestamp": 0, "archived": False, "pinned": False,
               "isMuted": False} for p in people]
    chats.sort(key=lambda c: -int(c["timestamp"]))
    offset, limit = int(body.get("offset") or 0), int(body.get("limit") or 20)
    return _payload(instance, chats[max(offset, 0): max(offset, 0) + max(limit, 1)])


def _send_vcard(account: Account, instance: dict[str, Any], body: dict[str, Any]) -> Response:
    card = body.get("vCard")
    if not isinstance(card, dict) or not card.get("firstname") or not (
            card.get("internationalnumber") or card.get("waid")):
        return inner_error(instance, "vCard needs firstname and internationalnumber")
    name = card.get("displayname") or f"{card['firstname']} {card.get('lastname') or ''}".strip()
    return sent(account, instance, "vcard", body, str(name))


ActionHandler = Callable[[Account, dict[str, Any], dict[str, Any]], Response]
ACTIONS: dict[str, ActionHandler] = {
    "create-group": _create_group,
    "get-group-info": _group_info,
    "add-group-participant": _change_participant(add=True),
    "remove-group-participant": _change_participant(add=False),
    "get-chats": _get_chats,
    "send-vcard": _send_vcard,
}
