"""Settings: read once from the environment, typed, with safe embedded defaults.

`Settings.from_env()` is the only place that reads `os.environ`; tests build `Settings` with
overrides instead (STYLE rule 4). Names carry their unit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# Unprefixed names are the conventional ones operators expect; everything else takes WA_.
UNPREFIXED = {
    "database_url": "DATABASE_URL",
    "redis_url": "REDIS_URL",
    "secret_key": "CONNECTOR_SECRET_KEY",
}


class ConfigError(ValueError):
    """A setting could not be parsed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    """SQLAlchemy URL; empty means a SQLite file in the instance folder."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    secret_key: str = ""
    """Comma-separated Fernet keys (first encrypts); empty: a dev key in the instance folder."""
    instance_path: str = str(ROOT / "instance")
    definitions_path: str = str(ROOT)
    public_base_url: str = "http://127.0.0.1:8080"
    max_body_bytes: int = 1024 * 1024
    run_wait_max_s: float = 30.0
    http_connect_timeout_s: float = 3.05
    http_read_timeout_s: float = 15.0
    default_rate_limit: int = 60
    default_rate_window_s: float = 60.0
    governor_margin_s: float = 0.03
    """Base slack added to every rate window: a request granted at t reaches the tenant a
    little later, and that delay varies (load, network). A 429 widens a connection's slack
    (engine/governor.py), so this is the slack of a path that has shown no bunching."""
    api_key_cache_s: float = 10.0
    """An API process remembers a valid key this long: a revoked key stops working within it."""
    governor_max_wait_s: float = 2.0
    """A worker waits this long for a rate-limit grant; a longer wait reschedules the run."""
    retry_max_attempts: int = 5
    retry_base_s: float = 0.5
    retry_cap_s: float = 60.0
    worker_processes: int = 8
    sweep_interval_s: float = 10.0
    outbox_grace_s: float = 30.0
    """A queued run gets this long to have its job created before the sweep re-enqueues it."""
    worker_heartbeat_ttl_s: int = 15
    """A worker refreshes its heartbeat every third of this; a missing key means it died."""
    idempotency_ttl_s: int = 86400
    sync_lease_s: float = 60.0
    """A running sync renews its lease every third of this; a dead worker frees it after this."""
    sync_queued_lease_s: float = 3600.0
    """How long a queued sync run holds its place before a newer start may replace it."""
    sync_write_threads: int = 4
    """Concurrent tenant writes per sync page (each still passes the connection's governor)."""
    sync_rate_share: float = 0.5
    """Share of a connection's rate limit a sync may fill; actions always keep the rest."""
    sync_governor_max_wait_s: float = 30.0
    sync_job_timeout_s: int = 6 * 3600
    ssrf_allow_networks: tuple[str, ...] = field(default_factory=tuple)
    trigger_poll_default_interval_s: int = 60
    """A REST hook or feed on a poll trigger is polled this often unless it asks otherwise."""
    trigger_poll_min_interval_s: int = 15
    """No poll trigger is polled more often than this, whatever a subscription asks."""
    trigger_poll_page_size: int = 100
    """Items per upstream page while a poll looks for new items (500 for full scans)."""
    trigger_feed_active_s: int = 86400
    """A feed read within this long keeps its trigger polled without a REST hook."""
    trigger_event_feed_max_pages: int = 20
    """Pages of a provider event feed (WBIZ `/v1/events`) one poll reads at most; a longer
    backlog is read on by the next polls, from the saved cursor."""
    hook_timeout_s: float = 15.0
    """A REST-hook target must answer 2xx within this (Standard Webhooks: 15-30 s)."""
    hook_retry_base_s: float = 5.0
    hook_retry_cap_s: float = 21600.0
    hook_max_attempts: int = 15
    """With base 5 s and cap 6 h, 15 attempts spread retries over about a day."""
    hook_disable_after_failures: int = 50
    """Consecutive failed attempts (over all deliveries) after which a hook is disabled."""
    workflow_retention_s: int = 30 * 86400
    """Raw form submissions (encrypted) and run trigger data are deleted after this long."""
    workflow_sweep_stale_s: float = 30.0
    """A workflow run untouched this long with no step in progress is advanced by the sweep."""
    log_json: bool = False
    testing: bool = False

    @classmethod
    def from_env(cls, prefix: str = "WA_", environ: Mapping[str, str] | None = None,
                 **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = UNPREFIXED.get(f.name, prefix + f.name.upper())
            if name in env:
                default = f.default_factory() if f.default is MISSING else f.default  # type: ignore[operator]
                values[f.name] = _parse(name, env[name], default)
        values.update(overrides)
        return replace(cls(), **values)

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **overrides)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.instance_path) / 'wa-connector.db'}"


def _parse(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, tuple):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return raw
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a valid {type(default).__name__}") from None
