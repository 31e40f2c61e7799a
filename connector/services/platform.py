"""The per-connection platform webhook: its secret URL, and turning what arrives into trigger
items, message statuses attached to the sending run, and each contact's last inbound time.

Everything one request carries is written in one transaction before we answer 2xx (the platform
retries only three times, reference §1.8).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connector.engine.provider_payloads import parser_for
from connector.engine.push_records import find_run, record_parsed, show_on_run
from connector.errors import NotFound
from connector.ids import new_token
from connector.runtime import Runtime
from connector.services.hooks import enqueue_deliveries
from connector.store.connections import get_connection
from connector.store.models import Connection
from connector.store.trigger_models import MessageDelivery, PlatformEndpoint

log = logging.getLogger(__name__)

INGEST_ATTEMPTS = 3
"""Concurrent requests about the same message may collide on a unique key: retry the whole
request (every write in it is idempotent)."""

LINK_WINDOW_S = 7 * 86400
"""Statuses that arrived before their run was settled are linked by the sweep for this long."""


def token_hash(token: str) -> str:
    """How a platform URL token is stored (only its hash is kept)."""
    return hashlib.sha256(token.encode()).hexdigest()


def endpoint_url(rt: Runtime, token: str) -> str:
    return f"{rt.settings.public_base_url.rstrip('/')}/hooks/platform/{token}"


def store_endpoint(session: Session, connection_id: str, token: str) -> None:
    """Make `token` the connection's platform URL token (an earlier one stops working)."""
    endpoint = session.get(PlatformEndpoint, connection_id)
    if endpoint is None:
        session.add(PlatformEndpoint(connection_id=connection_id, token_hash=token_hash(token)))
    else:
        endpoint.token_hash = token_hash(token)


def rotate_endpoint(rt: Runtime, workspace_id: str, connection_id: str) -> dict[str, Any]:
    """A new secret URL for the connection (the old one stops working). Shown once."""
    token = new_token(24)
    with rt.db.session() as session:
        if get_connection(session, workspace_id, connection_id) is None:
            raise NotFound(f"no connection {connection_id!r} in this workspace")
        store_endpoint(session, connection_id, token)
    return {"connection": connection_id, "url": endpoint_url(rt, token), "token": token}


def ingest(rt: Runtime, token: str, payload: Any) -> dict[str, int]:
    for attempt in range(1, INGEST_ATTEMPTS + 1):
        try:
            return _ingest(rt, token, payload)
        except IntegrityError:
            if attempt == INGEST_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _ingest(rt: Runtime, token: str, payload: Any) -> dict[str, int]:
    with rt.db.session() as session:
        endpoint = session.scalar(select(PlatformEndpoint).where(
            PlatformEndpoint.token_hash == token_hash(token)))
        if endpoint is None:
            raise NotFound("no platform webhook with this URL; create one with POST "
                           "/v1/connections/{id}/platform-hook")
        connection = session.get(Connection, endpoint.connection_id)
        assert connection is not None
        parse_push = parser_for(connection.provider)  # WBIZ and waapi push their own shapes
        parsed = parse_push(payload, (connection.options or {}).get("default_region"))
        recorded = record_parsed(session, rt.catalog.triggers,
                                 workspace_id=connection.workspace_id,
                                 connection_id=connection.id, parsed=parsed)
    enqueue_deliveries(rt, recorded.delivery_ids)
    from connector.services.trigger_work import start_workflows

    start_workflows(rt, recorded.items)
    return {"items": len(recorded.items), "duplicates": recorded.duplicates,
            "ignored": parsed.ignored}


def link_pending_statuses(rt: Runtime, limit: int = 500) -> int:
    """Attach statuses that arrived before their run had settled (output not yet written)."""
    since = datetime.now(UTC) - timedelta(seconds=LINK_WINDOW_S)
    linked = 0
    with rt.db.session() as session:
        pending = list(session.scalars(select(MessageDelivery).where(
            MessageDelivery.run_id.is_(None), MessageDelivery.updated_at >= since).limit(limit)))
        for delivery in pending:
            run_id = find_run(session, delivery.connection_id, delivery.message_id)
            if run_id:
                delivery.run_id = run_id
                show_on_run(session, delivery)
                linked += 1
    return linked
