"""The sandbox's whole world in memory: tenants and their tables, the request log, the sent list.

One re-entrant lock guards everything. Handlers hold it only while they read or change rows; the
emulated latency and injected delays sleep outside it (see `transport.py`), so a slow request never
stalls the others.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from connector.sandbox.faults import FaultBook
from connector.sandbox.ratelimit import FixedWindowLimiter
from connector.sandbox.table import Table, counter
from connector.sandbox.timestamps import iso_precise

EXTENSION_KEY = "corbital_sandbox"

# Config/config.php lists every ability; the routes use all but the three extra bot ones (§1.3).
ALL_ABILITIES: tuple[str, ...] = (
    "contacts.create", "contacts.read", "contacts.update", "contacts.delete",
    "statuses.create", "statuses.read", "statuses.update", "statuses.delete",
    "sources.create", "sources.read", "sources.update", "sources.delete",
    "groups.create", "groups.read", "groups.update", "groups.delete",
    "templates.read",
    "templatebots.read", "templatebots.delete",
    "messagebots.read", "messagebots.create", "messagebots.delete",
    "messages.send",
)  # fmt: skip

# Upstream defaults for a tenant's API settings (§1.2): every ability, 60 requests per 60 s.
DEFAULT_SETTINGS: dict[str, Any] = {"rate_limit_max": 60, "rate_limit_decay_s": 60.0}

SHARED_TABLES = ("statuses", "sources", "groups", "templates", "templatebots", "messagebots")


@dataclass
class Tenant:
    """One tenant: its API settings (the knobs tests turn) and its tables."""

    id: int
    slug: str
    token: str
    abilities: list[str]
    rate_limit_max: int | None
    rate_limit_decay_s: float
    admin_user_id: int
    tables: dict[str, Table]
    api_enabled: bool = True
    api_settings: bool = True
    whatsapp_connected: bool = True
    contact_limit: int | None = None
    conversation_limit_reached: bool = False
    # Lookup indexes over contacts (phone exact, phone suffix, lower-cased email) -> ids.
    phones: dict[str, set[int]] = field(default_factory=dict)
    suffixes: dict[str, set[int]] = field(default_factory=dict)
    emails: dict[str, set[int]] = field(default_factory=dict)
    chats: dict[tuple[str, str, int], int] = field(default_factory=dict)
    next_chat_id: Callable[[], int] = field(default_factory=counter)
    next_chat_message_id: Callable[[], int] = field(default_factory=counter)
    sent: list[dict[str, Any]] = field(default_factory=list)
    max_in_window: int = 0
    generated: int = 0

    def table(self, name: str) -> Table:
        return self.tables[name]

    def settings_view(self) -> dict[str, Any]:
        """What the admin API shows; the token itself is never echoed back."""
        return {
            "id": self.id,
            "slug": self.slug,
            "abilities": list(self.abilities),
            "rate_limit_max": self.rate_limit_max,
            "rate_limit_decay_s": self.rate_limit_decay_s,
            "api_enabled": self.api_enabled,
            "api_settings": self.api_settings,
            "whatsapp_connected": self.whatsapp_connected,
            "contact_limit": self.contact_limit,
            "conversation_limit_reached": self.conversation_limit_reached,
            "counts": {name: len(t) for name, t in self.tables.items()},
            "sent": len(self.sent),
        }


class Store:
    """Everything the sandbox knows; replace nothing in it without holding `lock`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.tenants: dict[str, Tenant] = {}
            self.allocators = {name: counter() for name in SHARED_TABLES}
            self.next_tenant_id = counter()
            self.next_user_id = counter()
            self.limiter = FixedWindowLimiter()
            self.faults = FaultBook()
            self.latency_ms = 0
            self.requests: list[dict[str, Any]] = []
            # Requests that arrived and have not been answered yet (tests time kills by it).
            self.inflight: dict[int, dict[str, Any]] = {}
            self.next_message_seq = counter()

    def create_tenant(self, slug: str, token: str, **settings: Any) -> Tenant:
        """Add an empty tenant (see `seed.seed_tenant`); unset settings take the defaults."""
        settings = {**DEFAULT_SETTINGS, "abilities": list(ALL_ABILITIES), **settings}
        tables = {name: Table(self.allocators[name]) for name in SHARED_TABLES}
        tables["contacts"] = Table(counter())
        tenant = Tenant(
            id=self.next_tenant_id(),
            slug=slug,
            token=token,
            admin_user_id=self.next_user_id(),
            tables=tables,
            **settings,
        )
        self.tenants[slug] = tenant
        return tenant

    def log_request(self, entry: dict[str, Any]) -> None:
        """Append a finished request; `seq` is its position, so `since` paging is a slice."""
        with self.lock:
            entry["seq"] = len(self.requests) + 1
            self.requests.append(entry)

    def requests_since(
        self, since: int, tenant: str | None, limit: int | None
    ) -> list[dict[str, Any]]:
        with self.lock:
            tail = self.requests[max(since, 0) :]
        rows = [e for e in tail if tenant is None or e["tenant"] == tenant]
        return rows if limit is None else rows[:limit]

    def record_sent(self, tenant: Tenant, entry: dict[str, Any]) -> dict[str, Any]:
        """Keep an accepted message for inspection (`GET /_admin/tenants/<slug>/messages`)."""
        entry["seq"] = self.next_message_seq()
        entry["time"] = iso_precise(time.time())
        tenant.sent.append(entry)
        return entry


def current_store() -> Store:
    """The store of the running sandbox app."""
    store: Store = current_app.extensions[EXTENSION_KEY]
    return store
