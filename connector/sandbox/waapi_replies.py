"""The waapi action envelope and the pieces every emulated client action shares.

HTTP 200 with the outer `status: "success"` and the verdict in `data.status` (upstream-apis.md
§4): `inner` and `inner_error` build it, `sent` records a message, `number_id` plays
`get-number-id` (None when the number is not on WhatsApp).
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

from flask import Response, request

from connector.sandbox.accounts import Account, json_answer

CHAT_ID = re.compile(r"^\d{6,20}@(c|g)\.us$")


def inner(instance: dict[str, Any], data: dict[str, Any]) -> Response:
    """The action envelope: HTTP 200, outer success, the verdict in `data.status`."""
    return json_answer({"status": "success", "instanceId": instance["id"], "data": data,
                        "links": {"self": request.path}}, 200)


def inner_error(instance: dict[str, Any], message: str) -> Response:
    return inner(instance, {"status": "error", "message": message})


def sent(account: Account, instance: dict[str, Any], kind: str, body: dict[str, Any],
         text: str) -> Response:
    chat_id = str(body.get("chatId", ""))
    if not CHAT_ID.match(chat_id):
        return inner_error(instance, f"invalid chatId {chat_id!r}: expected <number>@c.us")
    key = secrets.token_hex(10).upper()
    serialized = f"true_{chat_id}_{key}"
    account.record_send(kind, chat_id, serialized, body)
    return inner(instance, {"status": "success", "instanceId": instance["id"], "_data": {
        "id": {"fromMe": True, "remote": chat_id, "id": key, "_serialized": serialized},
        "body": text, "type": kind, "t": int(time.time()), "from": instance["me"],
        "to": chat_id, "ack": 1}})


def number_id(account: Account, number: str) -> dict[str, Any] | None:
    digits = re.sub(r"\D", "", number)
    if not digits or digits in account.settings["unregistered"]:
        return None
    return {"server": "c.us", "user": digits, "_serialized": f"{digits}@c.us"}
