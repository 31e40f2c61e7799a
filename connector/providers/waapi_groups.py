"""waapi operations on WhatsApp groups: group chats of the paired phone, not contact segments.

Client actions (upstream-apis.md §4; bodies from waapi's OpenAPI): `get-chats {offset, limit}`
(groups are the chats with `isGroup`), `get-group-info {chatId}`, `create-group {groupName,
groupParticipants[]}` and `add-` / `remove-group-participant {chatId, participant}`. Their
payload sits in the action's `data.data`. Membership changes read the group first, so a repeat
changes nothing and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from connector.engine.outcome import Outcome, OutcomeKind, success
from connector.providers.dialect import In, Operation, Stop, local_page, phone, unexpected
from connector.providers.phones import InvalidPhone, normalize_phone

if TYPE_CHECKING:
    from connector.providers.waapi import _Api

CHATS_PAGE = 100
CHATS_MAX_PAGES = 20
"""`list_whatsapp_groups` reads at most 2,000 chats (groups are found among all chats)."""


def _payload(data: Mapping[str, Any]) -> Any:
    """The action's payload: `data.data` as documented, else the data object itself."""
    return data["data"] if "data" in data else data


def _serialized(wid: Any) -> str | None:
    found = wid.get("_serialized") if isinstance(wid, Mapping) else wid
    return str(found) if found else None


def _phone_of(wid: Any) -> str | None:
    """`4915...@c.us` -> `+4915...` (a WhatsApp user id is the international number)."""
    serialized = _serialized(wid)
    if not serialized:
        return None
    raw = "+" + serialized.split("@", 1)[0]
    try:
        return normalize_phone(raw, None)
    except InvalidPhone:
        return raw


def _iso(timestamp: Any) -> str | None:
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp <= 0:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def group_summary(chat: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": _serialized(chat.get("id")), "name": chat.get("name"),
            "unread_count": int(chat.get("unreadCount") or 0),
            "archived": bool(chat.get("archived")),
            "last_message_at": _iso(chat.get("timestamp"))}


def group_from_upstream(info: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": _serialized(info.get("chatId")), "name": info.get("subject"),
            "owner_phone": _phone_of(info.get("owner")), "created_at": info.get("createdAt"),
            "invite_link": info.get("inviteCodeLink"),
            "participants": [{"phone": _phone_of(p.get("id")), "is_admin": bool(p.get("isAdmin")),
                              "is_super_admin": bool(p.get("isSuperAdmin"))}
                             for p in info.get("participants") or [] if isinstance(p, Mapping)]}


def _info(api: _Api, group_id: Any) -> Mapping[str, Any]:
    info = _payload(api.action("get-group-info", {"chatId": str(group_id)}, side_effect=False))
    if not isinstance(info, Mapping):
        raise Stop(unexpected(None, "the group's details"))
    return info


def op_list_whatsapp_groups(api: _Api, params: In, data: In) -> Outcome:
    groups: list[dict[str, Any]] = []
    for page in range(CHATS_MAX_PAGES):
        chats = _payload(api.action("get-chats", {"offset": page * CHATS_PAGE,
                                                  "limit": CHATS_PAGE}, side_effect=False))
        if not isinstance(chats, list):
            raise Stop(unexpected(None, "a list of chats"))
        groups += [group_summary(c) for c in chats if isinstance(c, Mapping) and c.get("isGroup")]
        if len(chats) < CHATS_PAGE:
            break
    return success(local_page(groups, data))


def op_get_whatsapp_group(api: _Api, params: In, data: In) -> Outcome:
    return success(group_from_upstream(_info(api, data["id"])))


def op_create_whatsapp_group(api: _Api, params: In, data: In) -> Outcome:
    """Numbers become chat ids first (a number not on WhatsApp is refused before the create)."""
    members = {}
    for index, raw in enumerate(data["participants"]):
        e164 = phone(raw, api.ctx, f"/participants/{index}")
        members[api.chat_id(e164, f"/participants/{index}")] = e164
    created = _payload(api.action("create-group", {"groupName": data["name"],
                                                   "groupParticipants": list(members)}))
    gid = _serialized(created.get("gid")) if isinstance(created, Mapping) else None
    if not gid:
        return Outcome(OutcomeKind.IN_DOUBT, "waapi accepted the group but returned no group "
                       "id; check the phone before creating it again")
    missing = {str(m) for m in created.get("missingParticipants") or []}
    return success({"id": gid, "name": data["name"],
                    "participants": [p for c, p in members.items() if c not in missing],
                    "missing_participants": [p for c, p in members.items() if c in missing]})


def _membership(add: bool) -> Operation[_Api]:
    action = "add-group-participant" if add else "remove-group-participant"

    def op(api: _Api, params: In, data: In) -> Outcome:
        e164 = phone(data.get("phone"), api.ctx)
        participant = api.chat_id(e164)
        current = {_serialized(p.get("id")) for p in _info(api, data["group_id"]).get(
            "participants") or [] if isinstance(p, Mapping)}
        changed = (participant in current) != add
        if changed:
            api.action(action, {"chatId": str(data["group_id"]), "participant": participant})
        return success({"group_id": str(data["group_id"]), "phone": e164, "member": add,
                        "changed": changed})

    return op


OPERATIONS: Mapping[str, Operation[_Api]] = {
    "list_whatsapp_groups": op_list_whatsapp_groups,
    "get_whatsapp_group": op_get_whatsapp_group,
    "create_whatsapp_group": op_create_whatsapp_group,
    "add_whatsapp_group_participant": _membership(add=True),
    "remove_whatsapp_group_participant": _membership(add=False),
}
