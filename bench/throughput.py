"""Throughput, limit removed, 50 ms upstream latency: actions/s end to end vs `workers / latency`.

    .venv/bin/python -m bench.throughput [--workers 4,8] [--actions 1500] [--latency-ms 50]

Real processes: sandbox (own process, `latency_ms` 50), gunicorn `wsgi:app` (`--api-workers`
gthread processes, default 1, x 8 threads), `worker.py --processes N`, a closed-loop load
generator with 8 requests in flight.
Every action is `send_text` on a connection and tenant with no rate limit. End to end = from the
first POST to the moment the last run is stored terminal. Steady = runs finished between the
10th and the 90th percentile of `finished_at`, over that span. Ideal = N / latency (each
`SimpleWorker` process holds one upstream call at a time); the baseline in the same command is
that ideal plus N keep-alive clients calling the sandbox directly, to show what the sandbox
alone delivers on this box. Both loads come from `bench.httpload` (asyncio, ~0.1 ms of CPU a
request), so the generator takes little of the two cores the system under test runs on.
Targets: >= 100 actions/s and >= 0.8 of ideal.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.common import Stack, cpu_s, print_table, write_result
from bench.httpload import load

RATE_TARGET = 100.0
RATIO_TARGET = 0.8
CLIENT_CONCURRENCY = 8


def bare_upstream_rate(stack: Stack, tenant: dict[str, Any], phone: str, concurrency: int,
                       total: int) -> float:
    """The sandbox alone: `concurrency` keep-alive clients calling messages/send directly."""
    url = f"{tenant['base_url']}{tenant['slug']}/messages/send"
    headers = {"Authorization": f"Bearer {tenant['token']}", "Accept": "application/json"}
    result = load(url, headers, lambda i: {"phone_number": phone, "message_body": f"b{i}"},
                  total, concurrency)
    return total / (result.finished - result.started)


def one(workers: int, actions: int, latency_ms: int, api_workers: int = 1) -> dict[str, Any]:
    stack = Stack(workers=workers, api_workers=api_workers, api_threads=8)
    try:
        stack.up()
        tenant = stack.make_tenant(rate_limit_max=0)
        workspace = stack.make_workspace()
        connection = stack.make_connection(workspace, tenant, rate_limit=0)
        phone = stack.make_contact_phone(tenant)
        url = f"{stack.api_url}/v1/connections/{connection}/actions/send_text"

        def body(i: int) -> dict[str, Any]:
            return {"phone": phone, "text": f"bench {i}"}

        stack.set_latency(latency_ms)
        warm = 2 * workers
        load(url, workspace["headers"], body, warm, CLIENT_CONCURRENCY)
        stack.wait_runs(warm, 60)
        pids = {"api": stack.procs["api"].pid, "workers": stack.procs["workers"].pid,
                "sandbox": stack.procs["sandbox"].pid}
        cpu0 = {name: cpu_s(pid) for name, pid in pids.items()}
        self0 = time.process_time()
        result = load(url, workspace["headers"], body, actions, CLIENT_CONCURRENCY)
        done_at = stack.wait_runs(warm + actions, 600, poll_s=0.05)
        cpu = {name: cpu_s(pid) - cpu0[name] for name, pid in pids.items()}
        cpu["load generator"] = time.process_time() - self0
        rows = sorted(stack.run_rows(), key=lambda r: r.finished_at)[warm:]
        statuses: dict[str, int] = {}
        for row in rows:
            statuses[row.status] = statuses.get(row.status, 0) + 1
        lo, hi = rows[len(rows) // 10].finished_at, rows[len(rows) * 9 // 10].finished_at
        steady = (len(rows) * 8 // 10) / max((hi - lo).total_seconds(), 1e-6)
        bare = bare_upstream_rate(stack, tenant, phone, workers, 20 * workers)
        stats = stack.stats(tenant)
    finally:
        stack.close()
    elapsed = done_at - result.started
    end_to_end = actions / elapsed
    ideal = workers / (latency_ms / 1000)
    return {"workers": workers, "db": stack.db_kind, "actions": actions,
            "latency_ms": latency_ms, "api_workers": api_workers, "codes": result.codes,
            "run_statuses": statuses,
            "accept_s": result.finished - result.started, "elapsed_s": elapsed,
            "end_to_end_per_s": end_to_end, "steady_per_s": steady, "ideal_per_s": ideal,
            "bare_upstream_per_s": bare, "ratio_end_to_end": end_to_end / ideal,
            "ratio_steady": steady / ideal,
            "cpu_ms_per_action": {k: v / actions * 1000 for k, v in cpu.items()},
            "sandbox_throttled": stats.get("throttled"),
            "target_met": end_to_end >= RATE_TARGET and end_to_end / ideal >= RATIO_TARGET}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__)
    parser.add_argument("--workers", default="4,8", help="comma-separated worker process counts")
    parser.add_argument("--actions", type=int, default=1500)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--api-workers", type=int, default=1,
                        help="gunicorn processes (8 threads each); one process batches the "
                             "accepts of its threads into shared transactions and leaves a "
                             "core to the workers")
    parser.add_argument("--tag", default="")
    args = parser.parse_args(argv)
    results = [one(int(n), args.actions, args.latency_ms, args.api_workers)
               for n in args.workers.split(",")]
    rows = []
    for r in results:
        cpu = r["cpu_ms_per_action"]
        rows.append((r["workers"], f"{r['end_to_end_per_s']:.1f}", f"{r['steady_per_s']:.1f}",
                     f"{r['ideal_per_s']:.0f}", f"{r['bare_upstream_per_s']:.0f}",
                     f"{r['ratio_end_to_end']:.2f}", f"{r['ratio_steady']:.2f}",
                     " ".join(f"{k.split()[0]} {v:.1f}" for k, v in cpu.items()),
                     "met" if r["target_met"] else "MISSED"))
    print_table(f"Throughput, send_text, {args.latency_ms} ms upstream, no limit, "
                f"{results[0]['db']}", rows,
                ("workers", "e2e/s", "steady/s", "ideal/s", "bare upstream/s", "e2e ratio",
                 "steady ratio", "CPU ms/action", ">=100/s & >=0.8"))
    for r in results:
        print(f"N={r['workers']}: codes {r['codes']} runs {r['run_statuses']} accept "
              f"{r['accept_s']:.1f}s elapsed {r['elapsed_s']:.1f}s throttled "
              f"{r['sandbox_throttled']}")
    path = write_result(f"throughput{args.tag}", {"runs": results})
    print(f"results: {path}")
    return {"runs": results}


if __name__ == "__main__":
    main()
