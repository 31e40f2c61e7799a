"""Shared harness for the benchmarks: real processes, a fresh store, CPU accounting, load.

A `Stack` starts what production runs (sandbox, gunicorn `wsgi:app`, `worker.py`, optionally
the scheduler) as subprocesses against a fresh SQLite file under /tmp (or the PostgreSQL URL in
BENCH_DATABASE_URL) and the Redis in BENCH_REDIS_URL (default db 8, flushed at start). Every
process is started with `--exit-with-parent` or killed in `close()`; nothing outlives the bench.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis
import requests
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, func, select, text

from connector.devserver import wait_http

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "")  # empty: SQLite file under /tmp
PY = sys.executable
READY_TIMEOUT_S = 120.0  # a loaded 2-core box needs long to spawn 8 workers
TERMINAL = ("succeeded", "failed", "in_doubt", "dead")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_s(pid: int, *, children: bool = True, include_self: bool = True) -> float:
    """User + system CPU seconds of a process (and its live descendants)."""
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return 0.0
    procs = ([root] if include_self else []) + (root.children(recursive=True) if children else [])
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "kernel": platform.release(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()]}


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": name, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": machine(), "command": " ".join([Path(PY).name, *sys.argv]), **data}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def print_table(title: str, rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> None:
    cells = [tuple(str(c) for c in header)] + [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


@dataclass
class Stack:
    """Sandbox + API + workers (+ scheduler) as real processes, with a fresh store."""

    workers: int = 1
    api_workers: int = 1
    api_threads: int = 8
    scheduler: bool = False
    database_url: str = DATABASE_URL
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    tmp: str = ""

    def __post_init__(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="wa-bench-", dir="/tmp")
        if not self.database_url:
            self.database_url = f"sqlite:///{self.tmp}/bench.db"
        self.secret_key = Fernet.generate_key().decode()
        self.redis = redis.Redis.from_url(REDIS_URL)
        self.sandbox_url = ""
        self.api_url = ""
        self.log = open(Path(self.tmp) / "processes.log", "wb")  # noqa: SIM115

    @property
    def db_kind(self) -> str:
        return "postgresql" if self.database_url.startswith("postgres") else "sqlite"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"DATABASE_URL": self.database_url, "REDIS_URL": REDIS_URL,
                    "CONNECTOR_SECRET_KEY": self.secret_key, "WA_INSTANCE_PATH": self.tmp,
                    "WA_SSRF_ALLOW_NETWORKS": "127.0.0.0/8", "PYTHONUNBUFFERED": "1"})
        env.update(self.extra_env)
        return env

    def prepare_store(self) -> None:
        from connector.store.migrate import upgrade

        self.redis.flushdb()
        if self.db_kind == "postgresql":
            engine = create_engine(self._sa_url())
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            engine.dispose()
        upgrade(self.database_url)
        self.engine = create_engine(self._sa_url())

    def _sa_url(self) -> str:
        return self.database_url.replace("postgresql://", "postgresql+psycopg://", 1)

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        return self._start(name, args)

    def _start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(args, cwd=ROOT, env=self.env(), stdout=self.log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_sandbox(self) -> None:
        port = free_port()
        self._start("sandbox", [PY, "-m", "connector.sandbox", "--port", str(port)])
        self.sandbox_url = f"http://127.0.0.1:{port}"
        wait_http(f"{self.sandbox_url}/health", READY_TIMEOUT_S)

    def start_api(self) -> None:
        self.api_url = self.start_gunicorn("api", "wsgi:app")

    def start_gunicorn(self, name: str, target: str, *, reuse_port: bool = True) -> str:
        """gunicorn gthread, as `make run` starts it; returns the base URL once it answers.

        `reuse_port`: each gunicorn process listens on its own SO_REUSEPORT socket, so the
        kernel spreads connections over the processes; on one shared socket, kept-alive
        connections opened at once often all land on one process (one core, its GIL)."""
        port = free_port()
        self._start(name, [PY, "-m", "gunicorn", "--workers", str(self.api_workers),
                           "--worker-class", "gthread", "--threads", str(self.api_threads),
                           *(["--reuse-port"] if reuse_port else []),
                           "--bind", f"127.0.0.1:{port}", "--log-level", "warning", target])
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/v1/catalog/actions", READY_TIMEOUT_S)
        return url

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()

    def start_workers(self, processes: int | None = None) -> None:
        n = processes or self.workers
        self._start("workers", [PY, "worker.py", "--processes", str(n), "--exit-with-parent"])
        self.wait_workers(n)

    def wait_workers(self, n: int) -> None:
        """Until `n` RQ workers have registered (each does right before it starts listening)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if sum(1 for _ in self.redis.scan_iter("rq:worker:*")) >= n:
                return
            time.sleep(0.1)
        raise RuntimeError("workers did not start")

    def worker_pids(self) -> list[int]:
        proc = self.procs.get("workers")
        if proc is None:
            return []
        pids = []
        try:
            for child in psutil.Process(proc.pid).children():
                if "resource_tracker" not in " ".join(child.cmdline()):
                    pids.append(child.pid)
        except psutil.NoSuchProcess:
            pass
        return pids

    def start_scheduler(self) -> None:
        self._start("scheduler", [PY, "-m", "connector.cli", "scheduler"])

    def up(self, *, workers: bool = True) -> Stack:
        self.prepare_store()
        self.start_sandbox()
        self.start_api()
        if workers:
            self.start_workers()
        if self.scheduler:
            self.start_scheduler()
        return self

    def close(self) -> None:
        for name in ["scheduler", "workers", "api", "sandbox", *self.procs]:
            self.stop(name)
        self.redis.close()
        self.log.close()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tenant, workspace, connection -----------------------------------------------------

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(method, f"{self.sandbox_url}/_admin{path}", timeout=10,
                                    **kwargs)
        response.raise_for_status()
        return response.json()

    def make_tenant(self, rate_limit_max: int = 0, rate_limit_decay_s: int = 60) -> dict[str, Any]:
        slug = f"t{uuid.uuid4().hex[:10]}"
        token = uuid.uuid4().hex + uuid.uuid4().hex
        self.admin("POST", "/tenants", json={"slug": slug, "token": token,
                                             "rate_limit_max": rate_limit_max,
                                             "rate_limit_decay_s": rate_limit_decay_s})
        return {"slug": slug, "token": token, "base_url": f"{self.sandbox_url}/api/v1/"}

    def make_contact_phone(self, tenant: dict[str, Any]) -> str:
        phone = f"+49151{uuid.uuid4().int % 10**8:08d}"
        response = requests.post(
            f"{tenant['base_url']}{tenant['slug']}/contacts", timeout=10,
            headers={"Authorization": f"Bearer {tenant['token']}", "Accept": "application/json"},
            json={"firstname": "Bench", "lastname": "Mark", "phone": phone, "type": "lead",
                  "source_id": 1, "status_id": 1})
        response.raise_for_status()
        return phone

    def make_group(self, tenant: dict[str, Any]) -> str:
        """A contact group in the tenant; its id."""
        response = requests.post(f"{tenant['base_url']}{tenant['slug']}/groups", timeout=10,
                                 json={"name": "bench"},
                                 headers={"Authorization": f"Bearer {tenant['token']}",
                                          "Accept": "application/json"})
        response.raise_for_status()
        return str(response.json()["data"]["id"])

    def make_workspace(self) -> dict[str, Any]:
        from connector.store.db import Database
        from connector.store.workspaces import create_api_key, create_workspace

        db = Database(self.database_url)
        with db.session() as session:
            wsp = create_workspace(session, f"bench-{uuid.uuid4().hex[:6]}")
            _, key = create_api_key(session, wsp.id)
            wsp_id = wsp.id
        db.dispose()
        return {"id": wsp_id, "headers": {"Authorization": f"Bearer {key}"}}

    def make_connection(self, workspace: dict[str, Any], tenant: dict[str, Any],
                        rate_limit: int, rate_window_s: int = 60) -> str:
        response = requests.post(
            f"{self.api_url}/v1/connections", headers=workspace["headers"], timeout=30,
            json={"provider": "corbital", "base_url": tenant["base_url"],
                  "tenant": tenant["slug"], "token": tenant["token"],
                  "rate_limit": rate_limit, "rate_window_s": rate_window_s})
        if response.status_code != 201:
            raise RuntimeError(f"connection: {response.status_code} {response.text}")
        return str(response.json()["id"])

    def set_latency(self, latency_ms: int) -> None:
        self.admin("POST", "/config", json={"latency_ms": latency_ms})

    def stats(self, tenant: dict[str, Any]) -> dict[str, Any]:
        return dict(self.admin("GET", f"/tenants/{tenant['slug']}/stats"))

    # -- runs ------------------------------------------------------------------------------

    def count_runs(self, statuses: tuple[str, ...] = TERMINAL) -> int:
        from connector.store.models import Run

        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Run)
                                    .where(Run.status.in_(statuses))).scalar_one())

    def run_rows(self) -> list[Any]:
        from connector.store.models import Run

        with self.engine.connect() as conn:
            return list(conn.execute(select(Run.id, Run.status, Run.created_at, Run.started_at,
                                            Run.finished_at, Run.attempts)))

    def wait_runs(self, expected: int, timeout_s: float, poll_s: float = 0.2,
                  statuses: tuple[str, ...] = TERMINAL) -> float:
        """Monotonic time at which `expected` runs were terminal (bounded)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.count_runs(statuses) >= expected:
                return time.monotonic()
            time.sleep(poll_s)
        raise RuntimeError(f"only {self.count_runs(statuses)}/{expected} runs finished "
                           f"within {timeout_s} s")


@dataclass
class LoadResult:
    sent: int
    codes: dict[int, int]
    started: float
    finished: float
    latencies_ms: list[float]


def load(url: str, headers: dict[str, str], body: Callable[[int], dict[str, Any]], total: int,
         concurrency: int, rate_per_s: float | None = None) -> LoadResult:
    """POST `total` requests with at most `concurrency` in flight (closed loop, or paced)."""
    codes: dict[int, int] = {}
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(total))
    local = threading.local()
    start = time.monotonic()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return local.session  # type: ignore[no-any-return]

    def worker() -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            if rate_per_s:
                delay = start + n / rate_per_s - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            t0 = time.perf_counter()
            try:
                code = session().post(url, json=body(n), headers=headers, timeout=30).status_code
            except requests.RequestException:
                code = 0
            elapsed = (time.perf_counter() - t0) * 1000
            with lock:
                codes[code] = codes.get(code, 0) + 1
                latencies.append(elapsed)

    with ThreadPoolExecutor(concurrency) as pool:
        for _ in range(concurrency):
            pool.submit(worker)
    return LoadResult(total, codes, start, time.monotonic(), latencies)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextmanager
def stack(**kwargs: Any) -> Iterator[Stack]:
    s = Stack(**kwargs)
    try:
        yield s
    finally:
        s.close()
