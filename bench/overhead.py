"""Overhead: CPU time per action in the API process and in the worker, upstream latency excluded.

    .venv/bin/python -m bench.overhead [--actions 2000] [--concurrency 2] [--action send_text]

Real processes against the sandbox (own process, 0 ms latency): gunicorn `wsgi:app` (1 gthread
worker), `worker.py --processes 1`. CPU is read with psutil from the gunicorn worker and the RQ
worker process (not the load generator, not the sandbox), before and after N actions.
Baselines, same command, same gunicorn flags: a bare Flask handler answering 202
(`bench.baselines:app`), and an RQ `SimpleWorker` running N no-op jobs.
The box's speed drifts by +-30 % from minute to minute, so `--rounds` (default 3) repeats the
three measures interleaved and the verdict takes the medians.
Targets: <= 3 ms API and <= 5 ms worker per action.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from rq import Queue
from rq.registry import FinishedJobRegistry

from bench.common import PY, REDIS_URL, Stack, cpu_s, percentile, print_table, write_result
from bench.httpload import load

API_TARGET_MS = 3.0
WORKER_TARGET_MS = 5.0
WARMUP = 50


def gunicorn_workers_cpu(stack: Stack, name: str) -> float:
    return cpu_s(stack.procs[name].pid, include_self=False)


def pool_cpu_s(pids: list[int]) -> float:
    return sum(cpu_s(pid, children=False) for pid in pids)


def measure_real(stack: Stack, n: int, concurrency: int, action: str) -> dict[str, Any]:
    before = stack.count_runs()
    tenant = stack.make_tenant(rate_limit_max=0)
    workspace = stack.make_workspace()
    connection = stack.make_connection(workspace, tenant, rate_limit=0)
    phone = stack.make_contact_phone(tenant)
    url = f"{stack.api_url}/v1/connections/{connection}/actions/{action}"
    body = (lambda i: {"phone": phone, "text": f"bench {i}"}) if action == "send_text" else (
        lambda i: {})
    warm = load(url, workspace["headers"], body, WARMUP, concurrency)
    stack.wait_runs(before + WARMUP, 60)
    # Every process under the pool supervisor: the RQ worker and the pool's RQ scheduler.
    pool = stack.worker_pids()
    api0, worker0 = gunicorn_workers_cpu(stack, "api"), pool_cpu_s(pool)
    result = load(url, workspace["headers"], body, n, concurrency)
    api1 = gunicorn_workers_cpu(stack, "api")
    done_at = stack.wait_runs(before + WARMUP + n, 600, poll_s=0.5)
    worker1 = pool_cpu_s(pool)
    statuses: dict[str, int] = {}
    for row in stack.run_rows():
        statuses[row.status] = statuses.get(row.status, 0) + 1
    return {"runs_before": before, "api_ms": (api1 - api0) / n * 1000,
            "worker_ms": (worker1 - worker0) / n * 1000,
            "codes": result.codes, "warmup_codes": warm.codes, "run_statuses": statuses,
            "accept_wall_s": result.finished - result.started,
            "end_to_end_wall_s": done_at - result.started,
            "api_p50_ms": percentile(result.latencies_ms, 0.5),
            "api_p99_ms": percentile(result.latencies_ms, 0.99)}


def measure_bare_api(stack: Stack, n: int, concurrency: int) -> dict[str, Any]:
    url = stack.start_gunicorn("bare_api", "bench.baselines:app")
    target = f"{url}/v1/connections/con_x/actions/send_text"
    headers = {"Authorization": "Bearer x"}
    load(target, headers, lambda i: {"phone": "+4915100000000", "text": f"b {i}"}, WARMUP,
         concurrency)
    cpu0 = gunicorn_workers_cpu(stack, "bare_api")
    result = load(target, headers, lambda i: {"phone": "+4915100000000", "text": f"b {i}"}, n,
                  concurrency)
    cpu1 = gunicorn_workers_cpu(stack, "bare_api")
    stack.stop("bare_api")
    return {"api_ms": (cpu1 - cpu0) / n * 1000, "codes": result.codes,
            "api_p50_ms": percentile(result.latencies_ms, 0.5),
            "api_p99_ms": percentile(result.latencies_ms, 0.99)}


def measure_noop_worker(stack: Stack, n: int, round_no: int = 0) -> dict[str, Any]:
    name = f"bench-noop-{round_no}"
    proc = stack.start("noop_worker", [PY, "-m", "bench.baselines", "worker", REDIS_URL, name])
    deadline = time.monotonic() + 30
    while not stack.redis.smembers(f"rq:workers:{name}") and time.monotonic() < deadline:
        time.sleep(0.1)
    queue = Queue(name, connection=stack.redis)
    finished = FinishedJobRegistry(name, connection=stack.redis)
    options = {"job_timeout": 300, "result_ttl": 600, "failure_ttl": 600}
    for _ in range(WARMUP):
        queue.enqueue("bench.baselines.noop", **options)
    while finished.count < WARMUP and time.monotonic() < deadline + 30:
        time.sleep(0.05)
    cpu0 = cpu_s(proc.pid, children=False)
    start = time.monotonic()
    for _ in range(n):
        queue.enqueue("bench.baselines.noop", **options)
    while finished.count < WARMUP + n and time.monotonic() < start + 300:
        time.sleep(0.05)
    cpu1 = cpu_s(proc.pid, children=False)
    wall = time.monotonic() - start
    done = finished.count - WARMUP
    stack.stop("noop_worker")
    return {"worker_ms": (cpu1 - cpu0) / max(done, 1) * 1000, "jobs": done, "wall_s": wall}


def median(values: list[float]) -> float:
    return statistics.median(values)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__)
    parser.add_argument("--actions", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--action", default="send_text", choices=("send_text", "list_templates"))
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds (connector, bare API, no-op worker); medians")
    parser.add_argument("--tag", default="", help="suffix of the results file")
    args = parser.parse_args(argv)
    stack = Stack(workers=1, api_workers=1, api_threads=4)
    rounds: list[dict[str, Any]] = []
    try:
        stack.up()
        stack.set_latency(0)
        for round_no in range(args.rounds):
            rounds.append({
                "real": measure_real(stack, args.actions, args.concurrency, args.action),
                "bare_api": measure_bare_api(stack, args.actions, args.concurrency),
                "noop_worker": measure_noop_worker(stack, args.actions, round_no)})
    finally:
        stack.close()
    api_ms = median([r["real"]["api_ms"] for r in rounds])
    worker_ms = median([r["real"]["worker_ms"] for r in rounds])
    bare_ms = median([r["bare_api"]["api_ms"] for r in rounds])
    noop_ms = median([r["noop_worker"]["worker_ms"] for r in rounds])
    api_ok, worker_ok = api_ms <= API_TARGET_MS, worker_ms <= WORKER_TARGET_MS
    rows = [
        ("API (gunicorn worker) CPU/action", f"{api_ms:.2f} ms",
         f"{bare_ms:.2f} ms (bare Flask 202)",
         f"{median([r['real']['api_ms'] / r['bare_api']['api_ms'] for r in rounds]):.1f}x",
         " / ".join(f"{r['real']['api_ms']:.2f}" for r in rounds), f"<= {API_TARGET_MS} ms",
         "met" if api_ok else "MISSED"),
        ("Worker CPU/action", f"{worker_ms:.2f} ms",
         f"{noop_ms:.2f} ms (SimpleWorker no-op)",
         f"{median([r['real']['worker_ms'] / r['noop_worker']['worker_ms'] for r in rounds]):.1f}x",
         " / ".join(f"{r['real']['worker_ms']:.2f}" for r in rounds), f"<= {WORKER_TARGET_MS} ms",
         "met" if worker_ok else "MISSED"),
    ]
    print_table(f"Overhead, {args.actions} x {args.action}, {stack.db_kind}, sandbox 0 ms, "
                f"median of {args.rounds} interleaved rounds", rows,
                ("measure", "connector", "baseline", "ratio", "rounds", "target", "result"))
    for n, r in enumerate(rounds, 1):
        real, bare = r["real"], r["bare_api"]
        print(f"round {n}: API {real['api_ms']:.2f} ms (bare {bare['api_ms']:.2f}), worker "
              f"{real['worker_ms']:.2f} ms (no-op {r['noop_worker']['worker_ms']:.2f}); API "
              f"p50/p99 {real['api_p50_ms']:.1f}/{real['api_p99_ms']:.1f} ms (bare "
              f"{bare['api_p50_ms']:.1f}/{bare['api_p99_ms']:.1f}); codes {real['codes']}")
    data = {"db": stack.db_kind, "actions": args.actions, "action": args.action,
            "concurrency": args.concurrency, "rounds": rounds, "api_ms": api_ms,
            "worker_ms": worker_ms, "bare_api_ms": bare_ms, "noop_worker_ms": noop_ms,
            "api_target_met": api_ok, "worker_target_met": worker_ok}
    path = write_result(f"overhead{args.tag}", data)
    print(f"results: {path}")
    return data


if __name__ == "__main__":
    main()
