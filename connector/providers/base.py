"""The contract between the engine and a provider dialect.

A dialect turns an abstract operation (`create` on `contacts`, `send_template`, ...) into HTTP
calls through `CallContext.http`, and returns an `Outcome`. It never retries, sleeps or touches
Redis directly: the context hands it the rate governor, locks and a cache, so the engine owns
every policy and a dialect only owns the upstream's shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from connector.engine.outcome import Outcome
from connector.providers.http import Exchange, HttpClient


@dataclass(frozen=True)
class ConnectionInfo:
    """What a dialect needs to address one tenant. `token` is plaintext: never log or store it."""

    id: str
    provider: str
    base_url: str
    tenant: str | None
    token: str = field(repr=False)
    instance_id: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


class Cache(Protocol):
    def get(self, key: str) -> Any | None: ...
    def set(self, key: str, value: Any, ttl_s: float) -> None: ...


@dataclass
class CallContext:
    """Everything an operation may use. Built by the engine for one attempt of one run."""

    connection: ConnectionInfo
    http: HttpClient
    # Called with the HTTP method before every upstream request: waits for the rate governor
    # (or raises `GovernorWait`) and records that a write may be about to reach the upstream.
    before_request: Callable[[str], None]
    # lock(name) -> context manager holding a cross-process lock (Redis) on `name`.
    lock: Callable[[str], AbstractContextManager[None]]
    cache: Cache
    exchanges: list[Exchange] = field(default_factory=list)
    default_region: str | None = None
    # last_inbound(e164) -> when the contact last wrote to this connection (aware UTC), or
    # None; the engine fills it from the contact activity table (24 h window sends).
    last_inbound: Callable[[str], datetime | None] | None = None

    def call(self, method: str, url: str, **kwargs: Any) -> Exchange:
        """Send one request through the governor and keep its exchange for the run record."""
        self.before_request(method)
        exchange = self.http.request(method, url, **kwargs)
        self.exchanges.append(exchange)
        return exchange


@dataclass(frozen=True)
class ProbeResult:
    """Result of a connection test: `outcome.ok` and the abilities the token was seen to hold."""

    outcome: Outcome
    abilities: frozenset[str]
    details: Mapping[str, Any] = field(default_factory=dict)


class Provider(Protocol):
    name: str

    def operations(self) -> frozenset[str]:
        """Operation names this dialect implements (checked against definitions at load time)."""
        ...

    def probe(self, ctx: CallContext) -> ProbeResult: ...

    def execute(
        self, operation: str, params: Mapping[str, Any], data: Mapping[str, Any], ctx: CallContext
    ) -> Outcome:
        """Run `operation` with the definition's `params` and the validated action input `data`."""
        ...
