"""Parsing what the Corbital platform pushes to `/hooks/platform/{token}` (reference §1.8):

- model webhooks `{event, model, data:{id, attributes}, original, timestamp}` on contacts;
- forwarded Meta payloads `{object, entry:[{changes:[{field:"messages", value:{messages,
  statuses, contacts}}]}]}` (§6): inbound messages and message statuses.

Pure: returns trigger items keyed by trigger, status events and inbound times; the service
writes them. Anything unrecognised is counted as ignored, never an error (the platform would
retry it three times for nothing).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connector.providers.corbital_mapping import contact_from_upstream
from connector.providers.phones import InvalidPhone, normalize_phone

STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}
"""Statuses arrive out of order (§6); the final one is the highest ranked: a failure beats a
read receipt, a read implies delivered."""

MODEL_EVENTS = {"created": "contact_created", "updated": "contact_updated_push",
                "deleted": "contact_deleted"}

Item = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class StatusEvent:
    message_id: str
    status: str
    at: datetime
    error: dict[str, Any] | None
    dedupe: str


@dataclass
class Parsed:
    items: dict[str, list[Item]] = field(default_factory=dict)
    statuses: list[StatusEvent] = field(default_factory=list)
    inbound: list[tuple[str, datetime]] = field(default_factory=list)  # (phone E.164, at)
    ignored: int = 0

    def add(self, trigger_key: str, dedupe: str, data: dict[str, Any]) -> None:
        self.items.setdefault(trigger_key, []).append((dedupe, data))


def _phone(raw: Any, region: str | None) -> str:
    digits = str(raw or "")
    try:
        return normalize_phone(digits if digits.startswith("+") else "+" + digits, region)
    except InvalidPhone:
        return digits


def _time(raw: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(str(raw)), UTC)
    except (TypeError, ValueError, OverflowError):
        return datetime.now(UTC)


def parse(payload: Any, region: str | None = None) -> Parsed:
    parsed = Parsed()
    if not isinstance(payload, Mapping):
        parsed.ignored += 1
    elif isinstance(payload.get("entry"), list):
        for entry in payload["entry"]:
            for change in (entry or {}).get("changes") or []:
                if isinstance(change, Mapping) and change.get("field") == "messages":
                    _meta_value(change.get("value") or {}, region, parsed)
                else:
                    parsed.ignored += 1
    elif "model" in payload:
        _model(payload, region, parsed)
    else:
        parsed.ignored += 1
    return parsed


def _meta_value(value: Mapping[str, Any], region: str | None, parsed: Parsed) -> None:
    names = {str(c.get("wa_id")): (c.get("profile") or {}).get("name")
             for c in value.get("contacts") or [] if isinstance(c, Mapping)}
    for message in value.get("messages") or []:
        if not isinstance(message, Mapping) or not message.get("id"):
            parsed.ignored += 1
            continue
        sender, at = _phone(message.get("from"), region), _time(message.get("timestamp"))
        kind = str(message.get("type") or "unknown")
        parsed.add("inbound_message", str(message["id"]), {
            "id": str(message["id"]), "from": sender, "name": names.get(str(message.get("from"))),
            "type": kind, "text": _text(message, kind), "timestamp": at.isoformat()})
        parsed.inbound.append((sender, at))
    for status in value.get("statuses") or []:
        name = (status or {}).get("status") if isinstance(status, Mapping) else None
        if name not in STATUS_RANK or not status.get("id"):
            parsed.ignored += 1
            continue
        errors = [e for e in status.get("errors") or [] if isinstance(e, Mapping)]
        error = None
        if errors:
            first = errors[0]
            details = (first.get("error_data") or {}).get("details")
            error = {"code": first.get("code"), "title": first.get("title") or first.get("message"),
                     "details": details}
        at, dedupe = _time(status.get("timestamp")), f"{status['id']}:{name}"
        parsed.statuses.append(StatusEvent(str(status["id"]), name, at, error, dedupe))
        recipient = status.get("recipient_id")
        parsed.add("message_status_changed", dedupe, {
            "id": dedupe, "message_id": str(status["id"]), "status": name,
            "recipient": _phone(recipient, region) if recipient else None,
            "timestamp": at.isoformat(),
            "error_code": error["code"] if error and isinstance(error["code"], int) else None,
            "error_title": error["title"] if error else None, "run_id": None})


def _text(message: Mapping[str, Any], kind: str) -> str | None:
    body = message.get(kind)
    if kind == "text" and isinstance(body, Mapping):
        return body.get("body")
    if isinstance(body, Mapping):
        for key in ("caption", "text", "title"):
            if isinstance(body.get(key), str):
                return str(body[key])
        reply = body.get("button_reply") or body.get("list_reply")
        if isinstance(reply, Mapping):
            return reply.get("title")
    return None


def _model(payload: Mapping[str, Any], region: str | None, parsed: Parsed) -> None:
    model = str(payload.get("model") or "")
    change = str(payload.get("event") or "").lower().replace(".", "_").split("_")[-1]
    trigger_key = MODEL_EVENTS.get(change)
    raw = payload.get("data")
    data: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    nested = data.get("attributes")
    attributes: Mapping[str, Any] = nested if isinstance(nested, Mapping) else data
    if not model.endswith("Contact") or trigger_key is None or not attributes.get("id"):
        parsed.ignored += 1
        return
    contact = contact_from_upstream(attributes, region)
    digest = hashlib.sha256(json.dumps(dict(attributes), sort_keys=True,
                                       default=str).encode()).hexdigest()[:12]
    event_id = f"{contact['id']}:{change}" + ("" if change != "updated" else f":{digest}")
    parsed.add(trigger_key, event_id, {"event_id": event_id, **contact})


def rank(status: str) -> int:
    return STATUS_RANK.get(status, 0)
