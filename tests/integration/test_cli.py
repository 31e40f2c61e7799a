"""The CLI creates workspaces, keys and connections, with `--json` for scripts."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.support.worker import ROOT, settings_env


def cli(settings: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "connector.cli", *args], cwd=ROOT,
                          env=settings_env(settings), capture_output=True, text=True, timeout=60)


def test_workspace_key_and_connection_from_the_cli(settings: Any, client: Any,
                                                   tenant: dict[str, Any]) -> None:
    made = json.loads(cli(settings, "workspace", "create", "shop", "--json").stdout)
    key = made["api_key"]
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    second = json.loads(cli(settings, "key", "create", "shop", "--json").stdout)
    assert second["api_key"] != key
    revoked = cli(settings, "key", "revoke", second["api_key_id"], "--json")
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout)["revoked_at"]
    answer = client.get("/v1/me", headers={"Authorization": f"Bearer {second['api_key']}"})
    assert answer.status_code == 401 and "revoked" in answer.get_json()["detail"]
    assert cli(settings, "key", "revoke", "key_nope").returncode != 0
    done = cli(settings, "connection", "create", "--workspace", "shop", "--base-url",
               tenant["base_url"], "--tenant", tenant["slug"], "--token", tenant["token"], "--json")
    assert done.returncode == 0, done.stderr
    connection = json.loads(done.stdout)
    assert "messages.send" in connection["abilities"]
    assert tenant["token"] not in done.stdout


def test_bad_token_is_a_clear_cli_error(settings: Any, tenant: dict[str, Any]) -> None:
    cli(settings, "workspace", "create", "shop2")
    done = cli(settings, "connection", "create", "--workspace", "shop2", "--base-url",
               tenant["base_url"], "--tenant", tenant["slug"], "--token", "wrong-token-123")
    assert done.returncode != 0
    assert "/token" in done.stderr and "wrong-token-123" not in done.stderr


def test_lint_defs_reports_ok(settings: Any) -> None:
    done = cli(settings, "lint-defs")
    assert done.returncode == 0 and "actions" in done.stdout
