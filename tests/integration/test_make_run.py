"""`make run` prints curl examples that work when pasted (README promise, issue 2).

Starts the same command the Makefile runs (`python -m connector.cli dev`) with an embedded
Redis (REDIS_URL unset) and a fresh SQLite instance folder, then runs every printed curl
command through bash, exactly as a user would paste it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 90


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _commands(banner: str) -> tuple[dict[str, str], list[str]]:
    """The exported variables and the curl commands (joining `\\` continuations)."""
    exports = dict(re.findall(r"^export (\w+)=(\S+)$", banner, re.MULTILINE))
    joined = banner.replace("\\\n", " ")
    return exports, [line.strip() for line in joined.splitlines() if line.startswith("curl ")]


@pytest.fixture(scope="module")
def dev_banner(tmp_path_factory: pytest.TempPathFactory) -> Any:
    instance = tmp_path_factory.mktemp("instance")
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "DATABASE_URL", "CONNECTOR_SECRET_KEY")}
    env["WA_INSTANCE_PATH"] = str(instance)
    api_port, sandbox_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "dev", "--api-port", str(api_port),
         "--sandbox-port", str(sandbox_port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    lines: list[str] = []
    deadline = time.monotonic() + READY_TIMEOUT_S
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Press Ctrl-C to stop." in line:
            break
    banner = "".join(lines)
    try:
        assert "Press Ctrl-C to stop." in banner, banner[-3000:]
        yield banner
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()


def test_printed_examples_work_when_pasted(dev_banner: str) -> None:
    exports, commands = _commands(dev_banner)
    assert {"WA_KEY", "WA_CON"} <= set(exports)
    assert len(commands) >= 6
    env = {**os.environ, **exports}
    answers = []
    for command in commands:
        done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, (command, done.stderr)
        answers.append(json.loads(done.stdout))
    me, catalog, contact, send, runs, sent = answers[:6]
    assert me["workspace"]["name"] == "demo"
    assert any(item["key"] == "send_template" and item["available"] for item in catalog["items"])
    assert contact["status"] == "succeeded", contact
    assert send["status"] == "succeeded", send
    assert len(runs["items"]) >= 2
    assert len(sent["messages"]) == 1
