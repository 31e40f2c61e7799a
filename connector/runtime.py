"""The per-process runtime: settings plus the clients built from them, created lazily.

The API, each worker process, the scheduler, the CLI and the tests build one `Runtime` each;
nothing here opens a connection at import time (STYLE rule 3).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import redis

from connector.catalog import Catalog, load
from connector.config import Settings
from connector.engine.governor import RateGovernor
from connector.providers.base import LockBusy, lock_kind
from connector.providers.http import HttpClient
from connector.providers.registry import get_provider, known_operations
from connector.redis_keys import CACHE_TTL_S, LOCK_TTL_S, cache_key, lock_key
from connector.security import TokenCipher, load_or_create_key
from connector.store.db import Database

log = logging.getLogger(__name__)

LOCK_WAIT_S = 10.0


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def db(self) -> Database:
        return Database(self.settings.resolved_database_url)

    @cached_property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.settings.redis_url)

    @cached_property
    def catalog(self) -> Catalog:
        return load_catalog(Path(self.settings.definitions_path))

    @cached_property
    def cipher(self) -> TokenCipher:
        setting = self.settings.secret_key
        if not setting:
            setting = load_or_create_key(Path(self.settings.instance_path) / "secret.key")
        return TokenCipher.from_setting(setting)

    @cached_property
    def governor(self) -> RateGovernor:
        return RateGovernor(self.redis, margin_s=self.settings.governor_margin_s)

    @cached_property
    def http(self) -> HttpClient:
        return HttpClient(connect_timeout_s=self.settings.http_connect_timeout_s,
                          read_timeout_s=self.settings.http_read_timeout_s)

    def provider(self, name: str) -> Any:
        return get_provider(name)

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """A cross-process lock; it expires on its own if its holder dies.

        Raises:
            LockBusy: still taken after `LOCK_WAIT_S` (nothing ran under it).
        """
        lock = self.redis.lock(lock_key(name), timeout=LOCK_TTL_S, blocking_timeout=LOCK_WAIT_S)
        if not lock.acquire():
            raise LockBusy(name)
        try:
            yield
        finally:
            try:
                lock.release()
            except redis.exceptions.LockNotOwnedError:
                # Held past LOCK_TTL_S: the work under it is done, and raising now would lose
                # its result; the expiry is what a dead holder relies on.
                log.warning("lock.expired_while_held", extra={"lock": lock_kind(name)})

    def cache_for(self, connection_id: str) -> RedisCache:
        return RedisCache(self.redis, connection_id)

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.dispose()
        if "redis" in self.__dict__:
            self.redis.close()


# Loading validates every definition (~0.5 s); a process (or a test session) that builds several
# runtimes over the same unchanged files reuses the result. The key includes every file's mtime,
# so an edited definition is loaded again.
_catalogs: dict[tuple[str, tuple[tuple[str, int], ...]], Catalog] = {}


def load_catalog(root: Path) -> Catalog:
    folders = ("actions", "triggers", "schemas")
    files = sorted(p for folder in folders for p in (root / folder).rglob("*.json"))
    key = (str(root.resolve()), tuple((str(p), p.stat().st_mtime_ns) for p in files))
    if key not in _catalogs:
        _catalogs.clear()
        _catalogs[key] = load(root, known_operations=known_operations())
    return _catalogs[key]


class RedisCache:
    """The provider cache (`providers.base.Cache`), namespaced per connection."""

    def __init__(self, client: redis.Redis, connection_id: str) -> None:
        self._redis, self._connection_id = client, connection_id

    def get(self, key: str) -> Any | None:
        raw = self._redis.get(cache_key(self._connection_id, key))
        return None if raw is None else json.loads(raw)

    def set(self, key: str, value: Any, ttl_s: float = CACHE_TTL_S) -> None:
        self._redis.set(cache_key(self._connection_id, key), json.dumps(value),
                        px=int(ttl_s * 1000))

    def get_many(self, keys: Sequence[str]) -> list[Any | None]:
        if not keys:
            return []
        raws = self._redis.mget([cache_key(self._connection_id, key) for key in keys])
        return [None if raw is None else json.loads(raw) for raw in raws]

    def set_many(self, values: Mapping[str, Any], ttl_s: float = CACHE_TTL_S) -> None:
        if not values:
            return
        pipe = self._redis.pipeline(transaction=False)
        for key, value in values.items():
            pipe.set(cache_key(self._connection_id, key), json.dumps(value),
                     px=int(ttl_s * 1000))
        pipe.execute()

    def delete(self, key: str) -> None:
        self._redis.delete(cache_key(self._connection_id, key))
