"""The contract between the engine and a provider dialect.

A dialect turns an abstract operation (`create` on `contacts`, `send_template`, ...) into HTTP
calls through `CallContext.http`, and returns an `Outcome`. It never retries, sleeps or touches
Redis directly: the context hands it the rate governor, locks and a cache, so the engine owns
every policy and a dialect only owns the upstream's shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from connector.engine.outcome import Outcome, OutcomeKind
from connector.providers.http import Exchange, Fetched, FilePart, HttpClient


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
    """Per-connection JSON values with a TTL (Redis in the engine). The batch forms are one
    round trip each: a phone index reads and writes hundreds of entries per page."""

    def get(self, key: str) -> Any | None: ...
    def set(self, key: str, value: Any, ttl_s: float) -> None: ...
    def get_many(self, keys: Sequence[str]) -> list[Any | None]: ...
    def set_many(self, values: Mapping[str, Any], ttl_s: float) -> None: ...
    def delete(self, key: str) -> None: ...


class LockBusy(Exception):
    """`CallContext.lock` gave up waiting: another run holds the record (or held it and died;
    the lock then expires on its own). Nothing was done under it.

    The message names the lock's kind only: a lock name may hold a phone number."""

    RETRY_S = 2.0
    """The run tries again this much later: a lock is held for the length of one action, or
    until it expires (`LOCK_TTL_S`) after its holder died."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a {lock_kind(name)} lock stayed taken")
        self.name = name

    def outcome(self) -> Outcome:
        """A wait, not a failure (a throttle spends no attempt)."""
        return Outcome(OutcomeKind.THROTTLED, "another run is changing the same record; this "
                       "one runs when it is done", retry_after_s=self.RETRY_S)


def lock_kind(name: str) -> str:
    """What a lock name says about itself without its key (`phone:con_1:+49…` -> `phone`)."""
    return name.split(":", 1)[0]


@dataclass
class CallContext:
    """Everything an operation may use. Built by the engine for one attempt of one run."""

    connection: ConnectionInfo
    http: HttpClient
    # Called with the HTTP method before every upstream request: waits for the rate governor
    # (or raises `GovernorWait`) and records that a write may be about to reach the upstream.
    before_request: Callable[[str], None]
    # lock(name) -> context manager holding a cross-process lock (Redis) on `name`; raises
    # `LockBusy` when it can't be had within a bounded wait.
    lock: Callable[[str], AbstractContextManager[None]]
    cache: Cache
    exchanges: list[Exchange] = field(default_factory=list)
    default_region: str | None = None
    # last_inbound(e164) -> when the contact last wrote to this connection (aware UTC), or
    # None; the engine fills it from the contact activity table (24 h window sends).
    last_inbound: Callable[[str], datetime | None] | None = None
    # downloads() -> the SSRF-guarded client for files behind user-supplied URLs (never the
    # tenant's API); the engine builds it once per process and allow list.
    downloads: Callable[[], HttpClient] | None = None

    def call(self, method: str, url: str, **kwargs: Any) -> Exchange:
        """Send one request through the governor and keep its exchange for the run record."""
        self.before_request(method)
        exchange = self.http.request(method, url, **kwargs)
        self.exchanges.append(exchange)
        return exchange

    def upload(self, method: str, url: str, *, files: Sequence[FilePart],
               data: Mapping[str, str] | None = None,
               headers: Mapping[str, str] | None = None) -> Exchange:
        """`call` for a multipart/form-data request; the record keeps no file bytes."""
        self.before_request(method)
        exchange = self.http.request_form(method, url, files=files, data=data, headers=headers)
        self.exchanges.append(exchange)
        return exchange

    def download(self, url: str, *, max_bytes: int) -> Fetched:
        """GET a user-supplied file (at most `max_bytes`) through `downloads`: not the tenant,
        so no rate governor; its exchanges join the run record, without the bytes.

        Raises `connector.ssrf.UnsafeUrl` when a hop points at a refused address.
        """
        if self.downloads is None:
            raise RuntimeError("this call context was built without a download client")
        fetched = self.downloads().fetch(url, max_bytes=max_bytes)
        self.exchanges.extend(fetched.exchanges)
        return fetched


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
