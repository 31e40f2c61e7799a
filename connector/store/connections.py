"""Connection rows: one tenant account; the token column only ever holds ciphertext."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.store.models import Connection
from connector.store.paging import newest_first


def get_connection(session: Session, workspace_id: str, connection_id: str) -> Connection | None:
    connection = session.get(Connection, connection_id)
    if connection is None or connection.workspace_id != workspace_id:
        return None
    return connection


def list_connections(session: Session, workspace_id: str, *, limit: int,
                     cursor: str | None) -> list[Connection]:
    query = select(Connection).where(Connection.workspace_id == workspace_id)
    return newest_first(session, query, Connection.id, cursor=cursor,
                        limit=limit)


def drop_ability(session: Session, connection_id: str, ability: str) -> None:
    """A 403 named an ability the token lacks: forget it so the catalog and preflight know."""
    connection = session.get(Connection, connection_id, with_for_update=True)
    if connection is not None and ability in connection.abilities:
        connection.abilities = [a for a in connection.abilities if a != ability]


def mark_needs_token(session: Session, connection_id: str, detail: str) -> None:
    connection = session.get(Connection, connection_id)
    if connection is not None:
        connection.status, connection.status_detail = "needs_token", detail


def public_view(connection: Connection) -> dict[str, Any]:
    """What the API shows of a connection: never the token, not even encrypted."""
    return {
        "id": connection.id,
        "name": connection.name,
        "provider": connection.provider,
        "base_url": connection.base_url,
        "tenant": connection.tenant,
        "instance_id": connection.instance_id,
        "status": connection.status,
        "status_detail": connection.status_detail,
        "abilities": sorted(connection.abilities),
        "rate_limit": {"limit": connection.rate_limit, "window_s": connection.rate_window_s},
        "last_test": connection.last_test,
        "created_at": connection.created_at.isoformat() if connection.created_at else None,
    }
