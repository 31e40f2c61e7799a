"""Workspaces and their API keys (stored as SHA-256 hashes; the plaintext is shown once)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.ids import new_id
from connector.security import generate_api_key, hash_api_key
from connector.store.models import ApiKey, Workspace


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


def workspace_for_key(session: Session, plaintext: str) -> tuple[Workspace, ApiKey] | None:
    # The hash is the lookup: a unique index on a 256-bit digest needs no constant-time compare.
    key = session.scalars(
        select(ApiKey).where(ApiKey.key_hash == hash_api_key(plaintext),
                             ApiKey.revoked_at.is_(None))
    ).first()
    if key is None:
        return None
    workspace = session.get(Workspace, key.workspace_id)
    return (workspace, key) if workspace else None


def find_workspace(session: Session, id_or_name: str) -> Workspace | None:
    workspace = session.get(Workspace, id_or_name)
    if workspace:
        return workspace
    return session.scalars(select(Workspace).where(Workspace.name == id_or_name)).first()
