"""Building the `CallContext` of one connection: the one place that wires a provider call to
the rate governor, the locks and the cache (actions, probes and trigger polls share it)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from connector.providers.base import CallContext, ConnectionInfo
from connector.runtime import Runtime
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
                       last_inbound=lambda e164: _last_inbound(rt, connection.id, e164))


def _last_inbound(rt: Runtime, connection_id: str, e164: str) -> datetime | None:
    with rt.db.session() as session:
        return last_inbound(session, connection_id, e164)
