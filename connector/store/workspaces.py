"""Workspaces and their API keys (stored as SHA-256 hashes; the plaintext is shown once)."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from connector.ids import new_id
from connector.security import generate_api_key, hash_api_key
from connector.store.models import ApiKey, Workspace, utcnow


def create_workspace(session: Session, name: str) -> Workspace:
    workspace = Workspace(id=new_id("wsp"), name=name)
    session.add(workspace)
    session.flush()
    return workspace


def create_api_key(session: Session, workspace_id: str,
                   name: str = "default") -> tuple[ApiKey, str]:
    """Returns the row and the plaintext key, which is never stored or shown again."""
    plaintext, prefix = generate_api_key()
    key = ApiKey(id=new_id("key"), workspace_id=workspace_id, name=name, prefix=prefix,
                 key_hash=hash_api_key(plaintext))
    session.add(key)
    session.flush()
    return key, plaintext


class KeyIdentity(NamedTuple):
    """Who an API key speaks for."""

    workspace_id: str
    workspace_name: str
    api_key_id: str


_KEY_IDENTITY = (
    select(ApiKey.id, Workspace.id, Workspace.name)
    .join(Workspace, Workspace.id == ApiKey.workspace_id)
    .where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))
)


def identity_for_key_hash(session: Session, key_hash: str) -> KeyIdentity | None:
    # The hash is the lookup: a unique index on a 256-bit digest needs no constant-time compare.
    row = session.execute(_KEY_IDENTITY, {"key_hash": key_hash}).first()
    return None if row is None else KeyIdentity(workspace_id=row[1], workspace_name=row[2],
                                                api_key_id=row[0])


def revoke_api_key(session: Session, key_id: str) -> ApiKey | None:
    """Mark a key revoked (kept for the record); None when there is no such key."""
    key = session.get(ApiKey, key_id)
    if key is not None and key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def find_workspace(session: Session, id_or_name: str) -> Workspace | None:
    workspace = session.get(Workspace, id_or_name)
    if workspace:
        return workspace
    return session.scalars(select(Workspace).where(Workspace.name == id_or_name)).first()
