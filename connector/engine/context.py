"""Building the `CallContext` of one connection: the one place that wires a provider call to
the rate governor, the locks and the cache (actions, probes and trigger polls share it)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache

from connector.config import Settings
from connector.providers.base import CallContext, ConnectionInfo
from connector.providers.http import HttpClient
from connector.runtime import Runtime
from connector.ssrf import SsrfGuard, guarded_session
from connector.store.activity import last_inbound
from connector.store.models import Connection


def connection_info(connection: Connection, token: str) -> ConnectionInfo:
    return ConnectionInfo(id=connection.id, provider=connection.provider,
                          base_url=connection.base_url, tenant=connection.tenant, token=token,
                          instance_id=connection.instance_id, options=connection.options or {})


def call_context(rt: Runtime, connection: Connection, token: str, *,
                 on_request: Callable[[str], None] | None = None,
                 share: float = 1.0, max_wait_s: float | None = None) -> CallContext:
    """A context whose every request first waits for the connection's rate governor (or
    raises `GovernorWait`), then calls `on_request(method)` when given.

    `share` < 1 (background work such as syncs) is granted a slot only while the connection's
    window holds fewer than `share * rate_limit` requests of anyone, so actions keep the rest.
    """
    limit = connection.rate_limit
    if limit and share < 1.0:
        limit = max(1, math.floor(limit * share))
    wait_s = rt.settings.governor_max_wait_s if max_wait_s is None else max_wait_s

    def before_request(method: str) -> None:
        # `on_request` (the runner's "writing" mark, a DB commit) runs before the governor
        # grant, so nothing slow sits between the grant and the request: a slow commit after
        # the grant bunched requests past the tenant's window (BENCHMARKS.md, 20/s case).
        # The price: a worker killed while waiting for a slot leaves a conservative in_doubt.
        if on_request is not None:
            on_request(method)
        rt.governor.acquire(connection.id, limit, connection.rate_window_s, max_wait_s=wait_s)

    return CallContext(connection=connection_info(connection, token), http=rt.http,
                       before_request=before_request, lock=rt.lock,
                       cache=rt.cache_for(connection.id),
                       default_region=(connection.options or {}).get("default_region"),
                       last_inbound=lambda e164: _last_inbound(rt, connection.id, e164),
                       downloads=lambda: download_client(rt.settings))


DOWNLOAD_POOL_SIZE = 4
"""Keep-alive connections per file host: downloads are rare next to tenant calls."""


def download_client(settings: Settings) -> HttpClient:
    """The process's SSRF-guarded client for user-supplied file URLs (media uploads): every
    hop is vetted against `ssrf_allow_networks` when its socket opens."""
    return _download_client(settings.ssrf_allow_networks, settings.http_connect_timeout_s,
                            settings.http_read_timeout_s)


@lru_cache(maxsize=4)
def _download_client(allow_networks: tuple[str, ...], connect_timeout_s: float,
                     read_timeout_s: float) -> HttpClient:
    # Built on first use, not at import; one per allow list, so a changed setting takes effect.
    session = guarded_session(SsrfGuard(allow_networks), pool_maxsize=DOWNLOAD_POOL_SIZE,
                              max_retries=0)
    return HttpClient(session, connect_timeout_s=connect_timeout_s,
                      read_timeout_s=read_timeout_s)


def _last_inbound(rt: Runtime, connection_id: str, e164: str) -> datetime | None:
    with rt.db.session() as session:
        return last_inbound(session, connection_id, e164)
