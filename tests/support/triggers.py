"""Trigger test helpers: a local REST-hook receiver that verifies signatures, and shortcuts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from connector.webhook_signing import verify

Responder = Callable[[int, dict[str, Any]], int]
"""(0-based request number, parsed body) -> HTTP status to answer."""


class Receiver:
    """A REST-hook target on 127.0.0.1: records every request, checks its signature."""

    def __init__(self, respond: Responder | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.secret: str | None = None
        self.respond = respond or (lambda n, body: 200)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = json.loads(raw)
                with receiver.lock:
                    n = len(receiver.requests)
                    receiver.requests.append({
                        "webhook_id": headers.get("webhook-id"), "body": body,
                        "verified": bool(receiver.secret) and verify(
                            receiver.secret or "", headers, raw, now=time.time())})
                status = receiver.respond(n, body)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def ids(self) -> list[str]:
        with self.lock:
            return [r["webhook_id"] for r in self.requests]

    def unique_items(self) -> list[dict[str, Any]]:
        """Bodies deduplicated on `webhook-id`, in arrival order (what a consumer keeps)."""
        seen: set[str] = set()
        out = []
        with self.lock:
            for r in self.requests:
                if r["webhook_id"] not in seen:
                    seen.add(r["webhook_id"])
                    out.append(r["body"])
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def subscribe(client: Any, workspace: dict[str, Any], connection: dict[str, Any],
              trigger: str, receiver: Receiver, **extra: Any) -> dict[str, Any]:
    body = {"connection": connection["id"], "trigger": trigger, "target_url": receiver.url,
            **extra}
    response = client.post("/v1/hooks", json=body, headers=workspace["headers"])
    assert response.status_code == 201, response.get_json()
    hook = response.get_json()
    receiver.secret = hook["secret"]
    return dict(hook)


def feed(client: Any, workspace: dict[str, Any], connection_id: str,
         trigger: str) -> list[dict[str, Any]]:
    """Every item of a feed, newest first, read page by page."""
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        body = client.get(f"/v1/connections/{connection_id}/triggers/{trigger}/items"
                          f"?limit=200&cursor={cursor}", headers=workspace["headers"]).get_json()
        items.extend(body["items"])
        if not body["next_cursor"]:
            return items
        cursor = body["next_cursor"]


def wait_until(check: Callable[[], bool], wait_s: float = 30.0, what: str = "condition") -> None:
    """Bounded wait for another process or thread (no timing assertion)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {wait_s} s")
