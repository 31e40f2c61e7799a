"""Accounts of the newer emulators (Corbital v2, WBIZ, waapi): token, scopes, rate limit, state.

Each emulator owns one `AccountBook` (its accounts, one lock, a fixed-window limiter) and formats
the book's refusals in its own envelope. `admin_blueprint` gives every emulator the same side
door as the v1 sandbox's `/_admin/tenants`: create, change and inspect accounts, read what was sent.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from connector.sandbox.pipeline import bearer_token
from connector.sandbox.timestamps import iso_precise


@dataclass
class Account:
    """One emulated account. `settings` are the knobs tests turn; `tables` the emulator's rows."""

    slug: str
    token: str
    scopes: set[str]
    rate_limit_max: int | None
    rate_window_s: float
    settings: dict[str, Any]
    tables: dict[str, Any] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 1

    def new_id(self) -> int:
        value, self.next_id = self.next_id, self.next_id + 1
        return value

    def record_send(self, kind: str, to: str, message_id: str, payload: Any) -> None:
        self.sent.append({"seq": len(self.sent) + 1, "time": iso_precise(time.time()),
                          "kind": kind, "to": to, "message_id": message_id, "payload": payload})

    def view(self) -> dict[str, Any]:
        return {"slug": self.slug, "scopes": sorted(self.scopes),
                "rate_limit_max": self.rate_limit_max, "rate_window_s": self.rate_window_s,
                **self.settings}


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused before the handler: `kind` is unknown|auth|scope|throttled."""

    kind: str
    scope: str | None = None
    retry_after_s: int = 0
    limit: int | None = None
    reset_at: int = 0


@dataclass(frozen=True)
class Admission:
    account: Account
    remaining: int | None
    limit: int | None
    reset_at: int


class FixedWindows:
    """A fixed window per key opened by its first hit; refused hits are not counted."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (window end, hits)

    def hit(self, key: str, limit: int | None, window_s: float, now: float
            ) -> tuple[bool, int, float]:
        """(allowed, hits in the window, window end); a limit of None or 0 is unlimited."""
        end, hits = self._windows.get(key, (0.0, 0))
        if now >= end:
            end, hits = now + window_s, 0
        if limit and hits >= limit:
            return False, hits, end
        self._windows[key] = (end, hits + 1)
        return True, hits + 1, end

    def forget(self, prefix: str) -> None:
        for key in [k for k in self._windows if k.startswith(prefix)]:
            del self._windows[key]


class AccountBook:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self.windows = FixedWindows()

    def admit(self, slug: str, scope: str | None) -> Admission | Refusal:
        """Account exists, Bearer token matches, scope held, rate limit not reached (in order)."""
        g.ability = scope
        account = self.accounts.get(slug)
        if account is None:
            return Refusal("unknown")
        token = bearer_token(request.headers.get("Authorization"))
        if token is None or not hmac.compare_digest(token.encode(), account.token.encode()):
            g.auth = "missing" if token is None else "invalid"
            return Refusal("auth")
        g.auth = "ok"
        if scope is not None and scope not in account.scopes:
            return Refusal("scope", scope=scope)
        now = time.time()
        allowed, hits, end = self.windows.hit(f"{slug}:{token}", account.rate_limit_max,
                                              account.rate_window_s, now)
        reset_at = math.ceil(end)
        if not allowed:
            g.throttled = True
            return Refusal("throttled", retry_after_s=max(1, math.ceil(end - now)),
                           limit=account.rate_limit_max, reset_at=reset_at)
        g.accepted_at = now
        remaining = None if not account.rate_limit_max else max(account.rate_limit_max - hits, 0)
        return Admission(account, remaining, account.rate_limit_max, reset_at)


def json_answer(body: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def admin_blueprint(name: str, book: AccountBook,
                    create: Callable[[dict[str, Any]], Account]) -> Blueprint:
    """`/_admin/<name>/accounts` (POST create, GET/PATCH/DELETE one) and `/messages` (sent)."""
    bp = Blueprint(f"{name}_admin", __name__, url_prefix=f"/_admin/{name}")

    @bp.post("/accounts")
    def create_account() -> Response:
        body = request.get_json(force=True) or {}
        if not body.get("slug") or not body.get("token"):
            return json_answer({"message": "slug and token are required"}, 422)
        with book.lock:
            if body["slug"] in book.accounts:
                return json_answer({"message": "slug taken"}, 409)
            account = create(body)
            book.accounts[account.slug] = account
            return json_answer(account.view(), 201)

    @bp.route("/accounts/<slug>", methods=["GET", "PATCH", "DELETE"])
    def one_account(slug: str) -> Response:
        with book.lock:
            account = book.accounts.get(slug)
            if account is None:
                return json_answer({"message": "no such account"}, 404)
            if request.method == "DELETE":
                del book.accounts[slug]
                return json_answer({}, 204)
            body = request.get_json(silent=True) or {}
            for key, value in body.items():
                if key == "scopes":
                    account.scopes = set(value)
                elif key in ("rate_limit_max", "rate_window_s", "token"):
                    setattr(account, key, value)
                    book.windows.forget(f"{slug}:")  # a new limit starts a new window
                else:
                    account.settings[key] = value
            return json_answer(account.view(), 200)

    @bp.get("/accounts/<slug>/messages")
    def messages(slug: str) -> Response:
        with book.lock:
            account = book.accounts.get(slug)
            if account is None:
                return json_answer({"message": "no such account"}, 404)
            return json_answer({"messages": list(account.sent)}, 200)

    return bp
