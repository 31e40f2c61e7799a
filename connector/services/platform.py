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

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connector.engine.platform_payloads import StatusEvent, rank
from connector.engine.provider_payloads import parser_for
from connector.errors import NotFound
from connector.ids import new_token
from connector.runtime import Runtime
from connector.services.hooks import enqueue_deliveries
from connector.store.activity import record_inbound
from connector.store.connections import get_connection
from connector.store.models import Connection, Run
from connector.store.trigger_items import record_items
from connector.store.trigger_models import MessageDelivery, PlatformEndpoint, TriggerItem

log = logging.getLogger(__name__)

INGEST_ATTEMPTS = 3
"""Concurrent requests about the same message may collide on a unique key: retry the whole
request (every write in it is idempotent)."""

LINK_WINDOW_S = 7 * 86400
"""Statuses that arrived before their run was settled are linked by the sweep for this long."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def rotate_endpoint(rt: Runtime, workspace_id: str, connection_id: str) -> dict[str, Any]:
    """A new secret URL for the connection (the old one stops working). Shown once."""
    token = new_token(24)
    with rt.db.session() as session:
        if get_connection(session, workspace_id, connection_id) is None:
            raise NotFound(f"no connection {connection_id!r} in this workspace")
        endpoint = session.get(PlatformEndpoint, connection_id)
        if endpoint is None:
            session.add(PlatformEndpoint(connection_id=connection_id, token_hash=_hash(token)))
        else:
            endpoint.token_hash = _hash(token)
    url = f"{rt.settings.public_base_url.rstrip('/')}/hooks/platform/{token}"
    return {"connection": connection_id, "url": url, "token": token}


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
            PlatformEndpoint.token_hash == _hash(token)))
        if endpoint is None:
            raise NotFound("no platform webhook with this URL; create one with POST "
                           "/v1/connections/{id}/platform-hook")
        connection = session.get(Connection, endpoint.connection_id)
        assert connection is not None
        parse_push = parser_for(connection.provider)  # WBIZ and waapi push their own shapes
        parsed = parse_push(payload, (connection.options or {}).get("default_region"))
        counts = {"items": 0, "duplicates": 0, "ignored": parsed.ignored}
        delivery_ids: list[str] = []
        new_items: list[TriggerItem] = []
        for event in parsed.statuses:
            run_id = _apply_status(session, connection.id, event)
            if run_id:
                for dedupe, data in parsed.items.get("message_status_changed", []):
                    if dedupe == event.dedupe:
                        data["run_id"] = run_id
        for trigger_key, items in parsed.items.items():
            definition = rt.catalog.triggers[trigger_key]
            recorded = record_items(session, workspace_id=connection.workspace_id,
                                    connection_id=connection.id, trigger_key=trigger_key,
                                    event=definition.event, items=items)
            counts["items"] += len(recorded.items)
            counts["duplicates"] += recorded.duplicates
            delivery_ids.extend(recorded.delivery_ids)
            new_items.extend(recorded.items)
        for phone, at in parsed.inbound:
            record_inbound(session, connection_id=connection.id, phone_e164=phone, at=at)
    enqueue_deliveries(rt, delivery_ids)
    from connector.services.trigger_work import start_workflows

    start_workflows(rt, new_items)
    return counts


def _apply_status(session: Session, connection_id: str, event: StatusEvent) -> str | None:
    """Fold one status into the message's record; a repeat (same message + status) is ignored.
    Returns the run that sent the message, when known."""
    delivery = session.get(MessageDelivery, (connection_id, event.message_id),
                           with_for_update=True)
    entry = {"status": event.status, "at": event.at.isoformat(), "error": event.error}
    if delivery is None:
        delivery = MessageDelivery(connection_id=connection_id, message_id=event.message_id,
                                   status=event.status, error=event.error, history=[entry])
        session.add(delivery)
    elif any(h["status"] == event.status for h in delivery.history):
        return delivery.run_id
    else:
        delivery.history = [*delivery.history, entry]
        if rank(event.status) > rank(delivery.status):
            delivery.status, delivery.error = event.status, event.error
    if delivery.run_id is None:
        delivery.run_id = _find_run(session, connection_id, event.message_id)
    if delivery.run_id:
        _show_on_run(session, delivery)
    return delivery.run_id


def _find_run(session: Session, connection_id: str, message_id: str) -> str | None:
    # Runs keep the message id in their output (send_result); filtered by connection first.
    return session.scalar(select(Run.id).where(
        Run.connection_id == connection_id,
        Run.output["message_id"].as_string() == message_id).limit(1))


def _summary(status: str, error: dict[str, Any] | None) -> str:
    if status == "failed" and error:
        return f"failed ({error.get('code')}: {error.get('title')})"
    return status


def _show_on_run(session: Session, delivery: MessageDelivery) -> None:
    history = sorted(delivery.history, key=lambda h: (h["at"], rank(h["status"])))
    session.execute(update(Run).where(Run.id == delivery.run_id).values(delivery={
        "message_id": delivery.message_id, "status": delivery.status,
        "summary": _summary(delivery.status, delivery.error), "error": delivery.error,
        "history": history}))


def link_pending_statuses(rt: Runtime, limit: int = 500) -> int:
    """Attach statuses that arrived before their run had settled (output not yet written)."""
    since = datetime.now(UTC) - timedelta(seconds=LINK_WINDOW_S)
    linked = 0
    with rt.db.session() as session:
        pending = list(session.scalars(select(MessageDelivery).where(
            MessageDelivery.run_id.is_(None), MessageDelivery.updated_at >= since).limit(limit)))
        for delivery in pending:
            run_id = _find_run(session, delivery.connection_id, delivery.message_id)
            if run_id:
                delivery.run_id = run_id
                _show_on_run(session, delivery)
                linked += 1
    return linked
