"""WBIZ emulator events: the `/v1/events` log with its opaque cursor, and signed webhook sends.

Every event the emulator records (a send's `message.status` "sent", an inbound message, a status
driven through the admin API) is appended to the account's log and POSTed to each active webhook
subscribed to its type, the same `{id, type, createdAt, data}` object in both (the seed: the feed
"carries the same events as webhooks").

Feed: oldest first; `nextCursor` is opaque (base64 of a log position, never an event id) and is
always present, so a client saves it even from an empty page; `?since=` with a cursor the
emulator never issued is a 400. The seed documents no `hasMore`, so none is sent.

Signing: the header and algorithm are unconfirmed upstream (reference §8.9). By default we sign
like Meta signs the Cloud API webhooks WBIZ itself receives, `X-Hub-Signature-256:
sha256=<hex HMAC-SHA256(secret, raw body)>`; an account setting `webhook_signature:
"standard_webhooks"` signs with the Standard Webhooks headers instead (webhook_signing.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from flask import current_app

from connector.sandbox.accounts import Account
from connector.webhook_signing import sign_headers

EVENT_TYPES = ("message.received", "message.status")
FEED_LIMIT_DEFAULT, FEED_LIMIT_MAX = 50, 100
ATTEMPT_DELAYS_S = (0.0, 1.0, 2.0)
TIMEOUT_S = 10.0
HUB_HEADER = "X-Hub-Signature-256"
CURSOR_PREFIX = "wbiz-feed:"
ERROR_TITLES = {131047: "Re-engagement message", 131026: "Message undeliverable"}
SENDER_KEY = "wbiz_sandbox_sender"


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


# --- the feed -----------------------------------------------------------------------------------


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    number = text.removeprefix(CURSOR_PREFIX)
    return int(number) if text.startswith(CURSOR_PREFIX) and number.isdigit() else None


def feed_page(account: Account, since: str | None, limit: int) -> dict[str, Any] | None:
    """One page after `since` (from the oldest event without it); None for a foreign cursor."""
    events: list[dict[str, Any]] = account.tables["events"]
    start = 0 if not since else decode_cursor(since)
    if start is None or start > len(events):
        return None
    chunk = events[start:start + min(max(limit, 1), FEED_LIMIT_MAX)]
    return {"data": chunk, "nextCursor": encode_cursor(start + len(chunk))}


# --- recording ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    url: str
    body: bytes
    headers: dict[str, str]
    entry: dict[str, Any]  # the account's delivery log entry, updated by the sender


class Sender:
    """One thread per emulator app; webhook POSTs leave in the order events were recorded.
    `lock` guards the delivery records it updates (read them under it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._outbox: queue.Queue[Delivery] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def send_later(self, delivery: Delivery) -> None:
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="wbiz-webhooks",
                                                daemon=True)
                self._thread.start()
        self._outbox.put(delivery)

    def _run(self) -> None:
        while True:
            delivery = self._outbox.get()
            for delay in ATTEMPT_DELAYS_S:
                time.sleep(delay)
                status = _post(delivery)
                with self.lock:
                    delivery.entry["attempts"].append(status)
                    delivery.entry["status"] = status
                if status is not None and status < 300:
                    break


def current_sender() -> Sender:
    found = current_app.extensions.get(SENDER_KEY)
    if found is None:
        found = current_app.extensions.setdefault(SENDER_KEY, Sender())
    sender: Sender = found
    return sender


def webhooks(account: Account) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = account.tables.setdefault("webhooks", {})
    return found


def deliveries(account: Account) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = account.tables.setdefault("webhook_deliveries", [])
    return found


def _post(delivery: Delivery) -> int | None:
    try:
        return requests.post(delivery.url, data=delivery.body, headers=delivery.headers,
                             timeout=TIMEOUT_S).status_code
    except requests.RequestException:
        return None


def signed_headers(account: Account, secret: str, event_id: str, body: bytes) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "WBIZ-Webhooks/1.0"}
    if account.settings.get("webhook_signature") == "standard_webhooks":
        headers.update(sign_headers(secret, event_id, int(time.time()), body))
    else:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers[HUB_HEADER] = f"sha256={digest}"
    return headers


def dispatch(account: Account, sender: Sender, event: dict[str, Any],
             webhook_ids: tuple[str, ...] | None = None) -> None:
    """Queue `event` to every active webhook subscribed to its type (or to `webhook_ids`)."""
    body = json.dumps(event).encode()
    for hook in webhooks(account).values():
        wanted = hook["id"] in webhook_ids if webhook_ids is not None else \
            hook["active"] and event["type"] in hook["events"]
        if not wanted:
            continue
        entry = {"eventId": event["id"], "type": event["type"], "webhookId": hook["id"],
                 "url": hook["url"], "attempts": [], "status": None}
        deliveries(account).append(entry)
        sender.send_later(Delivery(hook["url"], body,
                                   signed_headers(account, hook["secret"], event["id"], body),
                                   entry))


def record(account: Account, sender: Sender, kind: str, data: dict[str, Any]) -> None:
    """Append one event to the feed and send it to the subscribed webhooks.

    A `sent` status is followed by the account's `auto_statuses` (e.g. `["delivered", "read"]`;
    `failed` carries `auto_error_code`), as WhatsApp would report them later.
    """
    events = account.tables["events"]
    event = {"id": f"evt_{len(events) + 1:08d}", "type": kind, "createdAt": iso(time.time()),
             "data": data}
    events.append(event)
    dispatch(account, sender, event)
    if kind == "message.status" and data.get("status") == "sent":
        for name in account.settings.get("auto_statuses") or []:
            if name == "sent":
                continue
            record(account, sender, kind, status_data(
                data["wamid"], name, data.get("to"), account.settings.get("auto_error_code")))


def status_data(wamid: str, status: str, to: Any, error_code: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"wamid": wamid, "to": to, "status": status}
    if status == "failed" and error_code is not None:
        data["error"] = {"code": int(error_code),
                         "title": ERROR_TITLES.get(int(error_code), "Message failed")}
    return data
