"""Running jobs in tests: `drain` in-process (burst), and real worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rq import Queue
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler

from connector import jobs
from connector.config import Settings
from connector.queueing import QUEUES_BY_PRIORITY
from connector.redis_keys import worker_heartbeat_key
from connector.rq_worker import RunWorker
from connector.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
SCHEDULED_POLL_S = 0.05


def drain(rt: Runtime, queues: tuple[str, ...] = QUEUES_BY_PRIORITY,
          timeout_s: float = 60.0) -> None:
    """Run every queued job, and every scheduled one as it comes due, until none is left.

    Scheduled jobs are retries and throttled runs: tests set tiny backoffs, so the wait below
    is for the job's due time, not for a service to become ready.
    """
    jobs.bind_runtime(rt)
    deadline = time.monotonic() + timeout_s
    scheduler = RQScheduler(list(queues), connection=rt.redis)
    while time.monotonic() < deadline:
        scheduler.acquire_locks()
        scheduler.enqueue_scheduled_jobs()
        scheduler.release_locks()
        RunWorker(list(queues), connection=rt.redis).work(burst=True, with_scheduler=False,
                                                             logging_level="ERROR")
        scheduled = sum(ScheduledJobRegistry(q, connection=rt.redis).count for q in queues)
        queued = sum(Queue(q, connection=rt.redis).count for q in queues)
        if not scheduled and not queued:
            return
        if not queued:
            time.sleep(SCHEDULED_POLL_S)
    raise AssertionError(f"jobs still pending after {timeout_s} s")


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a subprocess needs to see the same settings."""
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": settings.resolved_database_url,
        "REDIS_URL": settings.redis_url,
        "CONNECTOR_SECRET_KEY": settings.secret_key,
        "WA_INSTANCE_PATH": settings.instance_path,
        "WA_RETRY_BASE_S": str(settings.retry_base_s),
        "WA_WORKER_HEARTBEAT_TTL_S": str(settings.worker_heartbeat_ttl_s),
        "WA_GOVERNOR_MAX_WAIT_S": str(settings.governor_max_wait_s),
        "WA_GOVERNOR_MARGIN_S": str(settings.governor_margin_s),
        "WA_SSRF_ALLOW_NETWORKS": ",".join(settings.ssrf_allow_networks),
    })
    return env


def start_workers(settings: Settings, processes: int = 2) -> subprocess.Popen[bytes]:
    """Real worker processes (`worker.py`), as production runs them."""
    return subprocess.Popen([sys.executable, "worker.py", "--processes", str(processes),
                             "--exit-with-parent"],
                            cwd=ROOT, env=settings_env(settings))


def wait_for_workers(rt: Runtime, count: int, wait_s: float = 60.0) -> None:
    """Until `count` worker processes beat (each sets its heartbeat key just before it works)."""
    pattern = worker_heartbeat_key("*")
    deadline = time.monotonic() + wait_s
    while sum(1 for _ in rt.redis.scan_iter(match=pattern)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} workers started in {wait_s} s"
        time.sleep(0.05)


def stop_workers(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


TERMINAL = ("succeeded", "failed", "in_doubt", "dead")


def all_runs(client: Any, workspace: dict[str, Any]) -> list[dict[str, Any]]:
    """Every run of the workspace, read through the API page by page."""
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        body = client.get(f"/v1/runs?limit=200&cursor={cursor}",
                          headers=workspace["headers"]).get_json()
        items.extend(body["items"])
        if not body["next_cursor"]:
            return items
        cursor = body["next_cursor"]


def wait_for_runs(client: Any, workspace: dict[str, Any], expected: int,
                  wait_s: float = 60) -> list[dict[str, Any]]:
    """Bounded wait until `expected` runs are terminal (real workers run them elsewhere)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        done = [r for r in all_runs(client, workspace) if r["status"] in TERMINAL]
        if len(done) >= expected:
            return done
        time.sleep(0.2)
    raise AssertionError(f"fewer than {expected} runs finished within {wait_s} s")
