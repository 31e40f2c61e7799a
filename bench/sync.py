"""CRM sync benchmark (issue 5): HubSpot emulator -> Corbital sandbox tenant, no rate limits.

For each size N: a fresh SQLite store, a sandbox subprocess, N HubSpot contacts, then two runs
of `python -m connector.cli sync run NAME` (the process that runs the sync, measured as the
worker): run 1 imports everything, run 2 finds nothing changed. Reports records/s, upstream
requests (tenant reads/writes, source reads) and the runner's peak RSS, sampled every 50 ms.
The 10k size is the baseline the 100k size is compared with (RSS must stay flat: streamed).

    .venv/bin/python -m bench.sync --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import requests
from cryptography.fernet import Fernet
from sqlalchemy import update

from bench.common import RESULTS, ROOT, free_port, machine, wait_http
from connector.config import Settings
from connector.runtime import Runtime
from connector.services.connections import create_connection
from connector.services.syncs import create_sync
from connector.store.migrate import upgrade
from connector.store.sync_models import Sync
from connector.store.workspaces import create_workspace

REDIS_URL = os.environ.get("SYNC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
SAMPLE_S = 0.05


def _peak_rss(proc: subprocess.Popen[str], out: dict[str, int]) -> None:
    ps = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            out["peak"] = max(out.get("peak", 0), ps.memory_info().rss)
        except psutil.NoSuchProcess:
            return
        time.sleep(SAMPLE_S)


def _run(env: dict[str, str], name: str) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "connector.cli", "sync", "run", name,
                             "--json"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    rss: dict[str, int] = {}
    watcher = threading.Thread(target=_peak_rss, args=(proc, rss), daemon=True)
    watcher.start()
    stdout, _ = proc.communicate()
    wall = time.perf_counter() - started
    watcher.join()
    run = json.loads(stdout)
    read = run["progress"]["read"]
    # The run itself, without the CLI process's start (imports, catalog load: ~5 s).
    run_s = (datetime.fromisoformat(run["finished_at"])
             - datetime.fromisoformat(run["started_at"])).total_seconds()
    return {"status": run["status"], "wall_s": round(wall, 2), "run_s": round(run_s, 2),
            "records_per_s": round(read / run_s, 1) if run_s else None, "read": read,
            "report": run["report"],
            "requests": run["requests"], "peak_rss_mb": round(rss.get("peak", 0) / 2**20, 1)}


def bench_size(n: int, workdir: Path) -> dict[str, Any]:
    db_url = f"sqlite:///{workdir / f'sync-{n}.db'}"
    upgrade(db_url)
    port = free_port()
    sandbox = subprocess.Popen([sys.executable, "-m", "connector.sandbox", "--port", str(port)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/health")
        slug, token = f"t{uuid.uuid4().hex[:8]}", uuid.uuid4().hex * 2
        requests.post(f"{url}/_admin/tenants", json={"slug": slug, "token": token,
                                                     "rate_limit_max": 0}, timeout=10)
        portal = f"p{uuid.uuid4().hex[:8]}"
        requests.post(f"{url}/_admin/hubspot/portals", json={
            "portal": portal, "token": "pat-bench-" + portal, "rate_limit_max": None}, timeout=10)
        requests.post(f"{url}/_admin/hubspot/portals/{portal}/contacts",
                      json={"count": n, "modified_ms": 1_735_000_000_000}, timeout=600)
        key = Fernet.generate_key().decode()
        settings = Settings(database_url=db_url, redis_url=REDIS_URL, secret_key=key,
                            instance_path=str(workdir), ssrf_allow_networks=("127.0.0.0/8",))
        rt = Runtime(settings)
        with rt.db.session() as session:
            workspace = create_workspace(session, f"bench-{n}")
        connection = create_connection(rt, workspace.id, {
            "provider": "corbital", "base_url": f"{url}/api/v1/", "tenant": slug,
            "token": token, "rate_limit": 0})
        statuses = requests.get(f"{url}/api/v1/{slug}/statuses",
                                headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        status_id = str(statuses["data"]["data"][0]["id"]) if isinstance(
            statuses["data"], dict) else str(statuses["data"][0]["id"])
        name = f"bench-{n}"
        create_sync(rt, workspace.id, {
            "name": name, "connection_id": connection.id,
            "source": {"kind": "hubspot", "token": "pat-bench-" + portal,
                       "base_url": f"{url}/hubspot", "page_size": 200,
                       "rate_limit": {"max": 100_000, "window_s": 1}},
            "target": {"status_id": status_id, "source_id": "1"}})
        rt.close()
        env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": REDIS_URL,
               "CONNECTOR_SECRET_KEY": key, "WA_INSTANCE_PATH": str(workdir),
               "WA_SSRF_ALLOW_NETWORKS": "127.0.0.0/8", "WA_SYNC_WRITE_THREADS": "8"}
        first = _run(env, name)
        second = _run(env, name)
        # A full re-read with nothing changed (what a CSV or an unfiltered REST source does on
        # every run): forget the cursor, keep the links and hashes.
        rt = Runtime(settings)
        with rt.db.session() as session:
            session.execute(update(Sync).where(Sync.name == name).values(state={}))
        rt.close()
        full = _run(env, name)
        return {"records": n, "first_run": first, "second_run": second,
                "full_reread_unchanged": full}
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp:
        for n in args.sizes:
            result = bench_size(n, Path(tmp))
            print(json.dumps(result), flush=True)
            results.append(result)
    base = results[0]
    summary = {"machine": machine(), "command": "python -m bench.sync --sizes "
               + " ".join(map(str, args.sizes)), "results": results,
               "rss_ratio_vs_first_size": [round(r["first_run"]["peak_rss_mb"]
                                                 / base["first_run"]["peak_rss_mb"], 2)
                                           for r in results]}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sync.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary["rss_ratio_vs_first_size"]))


if __name__ == "__main__":
    main()
