"""Idempotency-Key records: the first answer to a keyed POST, replayed for the same request.

The row is inserted *before* the request is handled (the primary key is the lock), so two
concurrent requests with one key can't both cause the effect.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from connector.store.db import Database
from connector.store.models import IdempotencyRecord, utcnow


def reserve(db: Database, workspace_id: str, key: str,
            request_hash: str) -> IdempotencyRecord | None:
    """Insert an in-flight record; returns the existing record when the key is taken."""
    try:
        with db.session() as session:
            session.add(IdempotencyRecord(workspace_id=workspace_id, key=key,
                                          request_hash=request_hash))
        return None
    except IntegrityError:
        with db.session() as session:
            return session.get(IdempotencyRecord, (workspace_id, key))


def complete(db: Database, workspace_id: str, key: str, status_code: int,
             response: dict[str, Any], headers: dict[str, str]) -> None:
    with db.session() as session:
        record = session.get(IdempotencyRecord, (workspace_id, key))
        if record is not None:
            record.status_code, record.response = status_code, response
            record.headers, record.completed = headers, True


def release(db: Database, workspace_id: str, key: str) -> None:
    """Forget an in-flight key whose request failed before causing any effect."""
    with db.session() as session:
        session.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.workspace_id == workspace_id, IdempotencyRecord.key == key,
            IdempotencyRecord.completed.is_(False)))


def purge_expired(db: Database, ttl_s: int) -> int:
    with db.session() as session:
        result = session.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.created_at < utcnow() - timedelta(seconds=ttl_s)))
        return int(result.rowcount)  # type: ignore[attr-defined]
