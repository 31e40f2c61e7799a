"""Building the `CallContext` of one connection: the one place that wires a provider call to
the rate governor, the locks and the cache (actions, probes and trigger polls share it)."""

from __future__ import annotations

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
                 on_request: Callable[[str], None] | None = None) -> CallContext:
    """A context whose every request first waits for the connection's rate governor (or
    raises `GovernorWait`), then calls `on_request(method)` when given."""

    def before_request(method: str) -> None:
        rt.governor.acquire(connection.id, connection.rate_limit, connection.rate_window_s,
                            max_wait_s=rt.settings.governor_max_wait_s)
        if on_request is not None:
            on_request(method)

    return CallContext(connection=connection_info(connection, token), http=rt.http,
                       before_request=before_request, lock=rt.lock,
                       cache=rt.cache_for(connection.id),
                       default_region=(connection.options or {}).get("default_region"),
                       last_inbound=lambda e164: _last_inbound(rt, connection.id, e164))


def _last_inbound(rt: Runtime, connection_id: str, e164: str) -> datetime | None:
    with rt.db.session() as session:
        return last_inbound(session, connection_id, e164)
