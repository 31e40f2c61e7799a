"""Trigger benchmarks: poll cost on a 100k-contact tenant, and REST-hook fan-out throughput.

    .venv/bin/python -m bench.triggers [--contacts 100000] [--items 200] [--receivers 10]
                                       [--workers 4]

Poll cost: upstream requests (counted by the sandbox) of one `new_contact` poll with 0 and with
50 new contacts, and of one `contact_updated` full scan. Fan-out: `items` new contacts x
`receivers` REST hooks delivered by `workers` real worker processes (`worker.py`), against a
bare loop of signed POSTs from one process to the same receivers (the baseline, same run).
Latency is from the item's commit to its arrival at the receiver. Needs Redis (BENCH_REDIS_URL,
default db 10, flushed) and uses a fresh SQLite file (or BENCH_DATABASE_URL).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis
import requests
from cryptography.fernet import Fernet
from rq import Worker

from connector import jobs
from connector.app import create_app
from connector.config import Settings
from connector.runtime import Runtime
from connector.sandbox.server import SandboxServer
from connector.store.migrate import upgrade
from connector.store.trigger_models import TriggerItem
from connector.store.workspaces import create_api_key, create_workspace
from connector.webhook_signing import generate_webhook_secret, sign_headers

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")


class Receivers:
    """`count` local HTTP receivers answering 200; they note when each webhook-id arrived."""

    def __init__(self, count: int) -> None:
        self.arrivals: dict[tuple[int, str], float] = {}
        self.lock = threading.Lock()
        self.servers = [self._start(i) for i in range(count)]
        self.urls = [f"http://127.0.0.1:{s.server_address[1]}/hook" for s in self.servers]

    def _start(self, index: int) -> ThreadingHTTPServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with owner.lock:
                    owner.arrivals.setdefault((index, self.headers["webhook-id"]), time.time())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def reset(self) -> None:
        with self.lock:
            self.arrivals.clear()

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()


def requests_of(sandbox: SandboxServer, slug: str) -> int:
    log = requests.get(f"{sandbox.url}/_admin/requests", params={"tenant": slug}, timeout=30)
    return len(log.json()["requests"])


def generate(sandbox: SandboxServer, slug: str, count: int) -> None:
    requests.post(f"{sandbox.url}/_admin/tenants/{slug}/generate",
                  json={"resource": "contacts", "count": count}, timeout=600).raise_for_status()


def measure_poll(rt: Runtime, sandbox: SandboxServer, slug: str, connection_id: str,
                 trigger: str) -> dict[str, Any]:
    before = requests_of(sandbox, slug)
    started = time.perf_counter()
    result = jobs.poll_trigger(connection_id, trigger)
    return {"status": result["status"], "new_items": result["new_items"],
            "upstream_requests": requests_of(sandbox, slug) - before,
            "seconds": round(time.perf_counter() - started, 3)}


def bare_loop(receivers: Receivers, bodies: list[tuple[str, bytes]]) -> float:
    """The baseline: one process, one keep-alive session, a signed POST per delivery."""
    session, secret = requests.Session(), generate_webhook_secret()
    started = time.perf_counter()
    for url in receivers.urls:
        for item_id, body in bodies:
            headers = {"Content-Type": "application/json",
                       **sign_headers(secret, item_id, int(time.time()), body)}
            session.post(url, data=body, headers=headers, timeout=15).raise_for_status()
    return len(receivers.urls) * len(bodies) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--receivers", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="wa-bench-triggers-")
    database_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
    redis.Redis.from_url(REDIS_URL).flushdb()
    upgrade(database_url)
    settings = Settings(database_url=database_url, redis_url=REDIS_URL,
                        secret_key=Fernet.generate_key().decode(), instance_path=tmp,
                        ssrf_allow_networks=("127.0.0.0/8",), trigger_poll_min_interval_s=1)
    rt = Runtime(settings)
    jobs.bind_runtime(rt)
    app = create_app(settings)
    client = app.test_client()
    sandbox = SandboxServer()
    sandbox.start()
    receivers = Receivers(args.receivers)
    workers = None
    report: dict[str, Any] = {"args": vars(args), "database": database_url.split(":")[0]}
    try:
        slug = "bench"
        requests.post(f"{sandbox.url}/_admin/tenants", json={
            "slug": slug, "token": "t" * 40, "rate_limit_max": 0}, timeout=10).raise_for_status()
        generate(sandbox, slug, args.contacts)
        with rt.db.session() as session:
            workspace = create_workspace(session, "bench")
            _, key = create_api_key(session, workspace.id)
        headers = {"Authorization": f"Bearer {key}"}
        created = client.post("/v1/connections", headers=headers, json={
            "provider": "corbital", "base_url": f"{sandbox.url}/api/v1/", "tenant": slug,
            "token": "t" * 40, "rate_limit": 100_000, "rate_window_s": 60})
        connection_id = created.get_json()["id"]

        # -- poll cost --------------------------------------------------------------------
        cost = {"baseline": measure_poll(rt, sandbox, slug, connection_id, "new_contact"),
                "zero_new": measure_poll(rt, sandbox, slug, connection_id, "new_contact")}
        generate(sandbox, slug, 50)
        cost["fifty_new"] = measure_poll(rt, sandbox, slug, connection_id, "new_contact")
        cost["updated_baseline_full_scan"] = measure_poll(rt, sandbox, slug, connection_id,
                                                          "contact_updated")
        cost["updated_full_scan"] = measure_poll(rt, sandbox, slug, connection_id,
                                                 "contact_updated")
        report["poll_cost"] = cost

        # -- fan-out ------------------------------------------------------------------------
        for url in receivers.urls:
            hook = client.post("/v1/hooks", headers=headers, json={
                "connection": connection_id, "trigger": "new_contact", "target_url": url})
            assert hook.status_code == 201, hook.get_json()
        env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=REDIS_URL,
                   CONNECTOR_SECRET_KEY=settings.secret_key, WA_INSTANCE_PATH=tmp,
                   WA_SSRF_ALLOW_NETWORKS="127.0.0.0/8")
        workers = subprocess.Popen([sys.executable, "worker.py", "--processes",
                                    str(args.workers), "--exit-with-parent"], cwd=ROOT, env=env)
        ready_by = time.time() + 120
        while len(Worker.all(connection=rt.redis)) < args.workers and time.time() < ready_by:
            time.sleep(0.2)  # worker start-up (imports, catalog) is not part of the measure
        generate(sandbox, slug, args.items)
        started = time.time()
        result = jobs.poll_trigger(connection_id, "new_contact")
        expected = result["new_items"] * args.receivers
        deadline = time.time() + 600
        while len(receivers.arrivals) < expected and time.time() < deadline:
            time.sleep(0.05)
        with rt.db.session() as session:
            committed = {i.id: i.created_at.timestamp()
                         for i in session.query(TriggerItem).all()}
            bodies = [(i.id, json.dumps({"id": i.id, "data": i.data}).encode())
                      for i in session.query(TriggerItem).limit(args.items)]
        arrivals = dict(receivers.arrivals)
        latencies = sorted(at - committed[item_id] for (_, item_id), at in arrivals.items())
        span = max(arrivals.values()) - started
        fan_out_rate = len(arrivals) / span
        receivers.reset()
        baseline = bare_loop(receivers, bodies)
        report["fan_out"] = {
            "deliveries": len(arrivals), "expected": expected,
            "seconds_from_poll_start": round(span, 3),
            "deliveries_per_s": round(fan_out_rate, 1),
            "baseline_bare_loop_per_s": round(baseline, 1),
            "ratio": round(fan_out_rate / baseline, 3),
            "latency_p50_s": round(statistics.median(latencies), 3),
            "latency_p99_s": round(latencies[int(len(latencies) * 0.99) - 1], 3),
        }
    finally:
        if workers is not None:
            workers.terminate()
            workers.wait(timeout=60)
        receivers.close()
        sandbox.stop()
        app.extensions["wa_runtime"].close()
        rt.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
