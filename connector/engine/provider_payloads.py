"""Parsing what WBIZ and waapi push, into the same trigger items as the Corbital platform push.

- WBIZ (upstream-apis.md §5): webhooks and `/v1/events` items are `{id, type|event, createdAt,
  data}` with types `message.received` and `message.status`.
- waapi (§4): `{event, instanceId, data:{message, ack?}}` with events `message`, `message_ack`
  (ack -1 failed, 1 sent, 2 delivered, 3 read, 4 played), and the client-state events `ready`,
  `disconnected`, `qr`, `authenticated`, `auth_failure`, `change_state`.

Pure, like `platform_payloads.parse`: returns a `Parsed`; anything unrecognised is counted as
ignored. "played" is reported as read (it implies read; the trigger's statuses are Meta's).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from connector.engine.platform_payloads import Parsed, StatusEvent, parse

WAAPI_ACKS = {-1: "failed", 1: "sent", 2: "delivered", 3: "read", 4: "read"}
WAAPI_STATES = ("ready", "disconnected", "qr", "authenticated", "auth_failure", "change_state",
                "loading_screen")
INSTANCE_TRIGGER = "instance_status_changed"


def _when(raw: Any) -> datetime:
    if isinstance(raw, int | float) or (isinstance(raw, str) and raw.isdigit()):
        try:
            return datetime.fromtimestamp(int(raw), UTC)
        except (ValueError, OverflowError):
            return datetime.now(UTC)
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            pass
    return datetime.now(UTC)


def _e164(raw: Any) -> str:
    digits = "".join(ch for ch in str(raw or "").split("@")[0] if ch.isdigit())
    return "+" + digits if digits else str(raw or "")


def _status(parsed: Parsed, message_id: str, status: str, at: datetime, recipient: Any,
            error: dict[str, Any] | None) -> None:
    dedupe = f"{message_id}:{status}"
    parsed.statuses.append(StatusEvent(message_id, status, at, error, dedupe))
    parsed.add("message_status_changed", dedupe, {
        "id": dedupe, "message_id": message_id, "status": status,
        "recipient": _e164(recipient) if recipient else None, "timestamp": at.isoformat(),
        "error_code": error.get("code") if error and isinstance(error.get("code"), int) else None,
        "error_title": error.get("title") if error else None, "run_id": None})


def _inbound(parsed: Parsed, message_id: str, sender: str, at: datetime, kind: str,
             text: Any, name: Any) -> None:
    parsed.add("inbound_message", message_id, {
        "id": message_id, "from": sender, "name": name if isinstance(name, str) else None,
        "type": kind, "text": text if isinstance(text, str) else None,
        "timestamp": at.isoformat()})
    parsed.inbound.append((sender, at))


def parse_wbiz(payload: Any, region: str | None = None) -> Parsed:
    """One webhook delivery, or one `/v1/events` page (`{data: [events]}`), or one event."""
    parsed = Parsed()
    page = payload.get("data") if isinstance(payload, Mapping) else None
    events: list[Any] = page if isinstance(page, list) else [payload]
    for event in events:
        if not isinstance(event, Mapping) or not isinstance(event.get("data"), Mapping):
            parsed.ignored += 1
            continue
        kind, data = event.get("type") or event.get("event"), event["data"]
        at = _when(data.get("timestamp") or event.get("createdAt"))
        wamid = data.get("wamid") or data.get("messageId")
        if kind == "message.received" and wamid and data.get("from"):
            _inbound(parsed, str(wamid), _e164(data["from"]), at, str(data.get("type") or "text"),
                     data.get("text") or data.get("body"), data.get("name"))
        elif kind == "message.status" and wamid and data.get("status") in (
                "sent", "delivered", "read", "failed"):
            error = data.get("error") if isinstance(data.get("error"), Mapping) else None
            _status(parsed, str(wamid), str(data["status"]), at, data.get("to"),
                    dict(error) if error else None)
        else:
            parsed.ignored += 1
    return parsed


def parse_waapi(payload: Any, region: str | None = None) -> Parsed:
    parsed = Parsed()
    if not isinstance(payload, Mapping):
        parsed.ignored += 1
        return parsed
    event, instance = str(payload.get("event") or ""), str(payload.get("instanceId") or "")
    raw = payload.get("data")
    data: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    found = data.get("message")
    message: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    ident = message.get("id")
    message_id = ident.get("_serialized") if isinstance(ident, Mapping) else ident
    at = _when(message.get("timestamp") or message.get("t"))
    if event == "message" and message_id and not message.get("fromMe"):
        _inbound(parsed, str(message_id), _e164(message.get("from")), at,
                 "text" if message.get("type") == "chat" else str(message.get("type")),
                 message.get("body"), message.get("notifyName"))
    elif event == "message_ack" and message_id:
        ack = data.get("ack", message.get("ack"))
        status = WAAPI_ACKS.get(ack) if isinstance(ack, int) else None
        if status is None:  # 0 = pending: nothing to report yet
            parsed.ignored += 1
            return parsed
        error = {"code": None, "title": "WhatsApp reported an error (ack -1)"} if ack == -1 \
            else None
        _status(parsed, str(message_id), status, at, message.get("to"), error)
    elif event in WAAPI_STATES:
        state = str(data.get("status") or event)
        at = _when(data.get("timestamp"))
        event_id = f"{instance}:{event}:{int(at.timestamp())}"
        parsed.add(INSTANCE_TRIGGER, event_id, {
            "id": event_id, "instance_id": instance, "event": event, "status": state,
            "timestamp": at.isoformat()})
    else:
        parsed.ignored += 1
    return parsed


Parser = Callable[[Any, str | None], Parsed]

PARSERS: Mapping[str, Parser] = {
    "corbital": parse,
    "corbital_v2": parse,
    "wbiz": parse_wbiz,
    "waapi": parse_waapi,
}


def parser_for(provider: str) -> Parser:
    """The push parser of a provider (the Corbital one for providers that forward Meta's)."""
    return PARSERS.get(provider, parse)
