"""The trigger catalog as the API shows it, a connection's trigger feed, and its poll state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from connector.catalog import ProviderEntry, TriggerDefinition
from connector.errors import NotFound
from connector.runtime import Runtime
from connector.store.connections import get_connection
from connector.store.models import Connection, utcnow
from connector.store.trigger_items import item_view, list_items
from connector.store.trigger_models import TriggerState

SAMPLE_ID = "tri_sample"


def _connection(rt: Runtime, workspace_id: str, connection_id: str) -> Connection:
    with rt.db.session() as session:
        connection = get_connection(session, workspace_id, connection_id)
    if connection is None:
        raise NotFound(f"no connection {connection_id!r} in this workspace")
    return connection


def _definition(rt: Runtime, key: str) -> TriggerDefinition:
    definition = rt.catalog.triggers.get(key)
    if definition is None:
        raise NotFound(f"no trigger {key!r}; GET /v1/catalog/triggers lists them")
    return definition


def describe(definition: TriggerDefinition, connection: Connection | None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "key": definition.key, "kind": definition.kind, "title": definition.title,
        "description": definition.description, "event": definition.event,
        "dedupe_key": definition.dedupe_key, "ordering": definition.ordering,
        "providers": {name: _binding_view(entry) for name, entry in definition.providers.items()},
        "item_schema": definition.item_schema, "sample": definition.sample,
    }
    if connection is not None:
        entry = definition.provider(connection.provider)
        missing = sorted(set(entry.abilities) - set(connection.abilities)) if entry else []
        view["available"] = entry is not None and not missing
        view["missing_abilities"] = missing
        if entry is None:
            view["unavailable_reason"] = f"not supported by provider {connection.provider!r}"
        elif missing:
            view["unavailable_reason"] = f"the token lacks {', '.join(missing)}"
    return view


def _binding_view(entry: ProviderEntry) -> dict[str, Any]:
    view: dict[str, Any] = {"abilities": list(entry.abilities)}
    if entry.poll is not None:  # a push trigger that can also be polled (an event feed)
        view["poll"] = {"strategy": entry.poll.strategy, "abilities": list(entry.poll.abilities)}
    return view


def describe_all(rt: Runtime, workspace_id: str, connection_id: str | None) -> list[dict[str, Any]]:
    connection = _connection(rt, workspace_id, connection_id) if connection_id else None
    return [describe(d, connection) for _, d in sorted(rt.catalog.triggers.items())]


def feed(rt: Runtime, workspace_id: str, connection_id: str, key: str, *, limit: int,
         cursor: str | None, sample: bool) -> list[dict[str, Any]]:
    """Items newest first. Reading the feed of a poll trigger keeps it polled (a feed
    consumer, e.g. a Zapier polling trigger); `sample` gives the definition's sample."""
    definition = _definition(rt, key)
    connection = _connection(rt, workspace_id, connection_id)
    if sample:
        return [{"id": SAMPLE_ID, "event": definition.event, "trigger": key,
                 "connection_id": connection.id, "created_at": None,
                 "data": dict(definition.sample)}]
    with rt.db.session() as session:
        if definition.polled_on(connection.provider):
            _mark_feed_read(session, connection.id, key)
        rows = list_items(session, connection.id, key, limit=limit, cursor=cursor)
    return [item_view(item) for item in rows]


def _mark_feed_read(session: Any, connection_id: str, key: str) -> None:
    moved = session.execute(update(TriggerState).where(
        TriggerState.connection_id == connection_id, TriggerState.trigger_key == key).values(
        feed_read_at=utcnow()))
    if moved.rowcount == 0:
        session.add(TriggerState(connection_id=connection_id, trigger_key=key, version=0,
                                 poll_count=0, feed_read_at=utcnow()))


def poll_state(rt: Runtime, workspace_id: str, connection_id: str, key: str) -> dict[str, Any]:
    _definition(rt, key)
    connection = _connection(rt, workspace_id, connection_id)
    with rt.db.session() as session:
        state = session.get(TriggerState, (connection.id, key))
    if state is None:
        return {"trigger": key, "connection": connection.id, "polls": 0}
    return {"trigger": key, "connection": connection.id, "polls": state.poll_count,
            "last_poll": state.last_poll, "last_gap": state.last_gap,
            "feed_read_at": state.feed_read_at.isoformat() if state.feed_read_at else None}
