"""Workspace API-key authentication for every `/v1` request.

A valid key is remembered by its hash for `Settings.api_key_cache_s` (10 s by default): the
lookup was a quarter of an action call's CPU (BENCHMARKS.md, overhead). A revoked key stops
working within that time; unknown keys are never cached, so a new key works at once.
"""

from __future__ import annotations

import threading
import time

from flask import Blueprint, current_app, g, request

from connector.api.inputs import runtime
from connector.errors import Unauthenticated
from connector.logs import log_context
from connector.security import hash_api_key
from connector.store.workspaces import KeyIdentity, identity_for_key_hash

CACHE_MAX_KEYS = 10_000


class KeyCache:
    """Valid keys by hash, each until its expiry (monotonic seconds); thread-safe."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, KeyIdentity]] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> KeyIdentity | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key_hash: str, identity: KeyIdentity) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            if len(self._entries) >= CACHE_MAX_KEYS:
                self._entries.clear()
            self._entries[key_hash] = (time.monotonic() + self.ttl_s, identity)


def _identity(plaintext: str) -> KeyIdentity | None:
    rt = runtime()
    cache: KeyCache = current_app.extensions["wa_api_key_cache"]
    key_hash = hash_api_key(plaintext)
    identity = cache.get(key_hash)
    if identity is None:
        with rt.db.session() as session:
            identity = identity_for_key_hash(session, key_hash)
        if identity is not None:
            cache.put(key_hash, identity)
    return identity


def require_workspace_key(bp: Blueprint) -> None:
    @bp.before_request
    def authenticate() -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthenticated("send the workspace API key as `Authorization: Bearer <key>`")
        identity = _identity(key.strip())
        if identity is None:
            raise Unauthenticated("the API key is unknown or revoked")
        g.workspace_id, g.workspace_name = identity.workspace_id, identity.workspace_name
        g.api_key_id = identity.api_key_id
        log_context.set({"workspace_id": identity.workspace_id})
