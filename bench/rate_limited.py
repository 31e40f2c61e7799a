"""With the limit on: achieved rate vs the limit, and 429s, under 5x overload.

    .venv/bin/python -m bench.rate_limited [--cases 60/60,20/1] [--windows 2,10] [--workers 8]

For each case `limit/window_s`: the sandbox tenant limits at exactly `limit` per `window_s`
(Laravel-style fixed window from the first hit), the connection declares the same limit, the
upstream answers in 50 ms, and a paced load generator submits `send_text` at 5x the limit for
`windows` windows. Achieved = upstream calls the sandbox accepted during the first `windows`
windows after the first one, divided by `limit * windows`. The baseline, in the same command,
is the limit itself (the best a client can do without a 429), and the sandbox's own counters:
`throttled` (429s it answered) and `max_in_sliding_window`.
Targets: achieved >= 0.95 of the limit, zero 429s.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from bench.common import Stack, load, print_table, write_result

OVERLOAD = 5
RATE_TARGET = 0.95
LATENCY_MS = 50


def accepted_times(stack: Stack, tenant: dict[str, Any]) -> list[float]:
    rows: list[dict[str, Any]] = []
    since = 0
    while True:
        page = stack.admin("GET", "/requests", params={"tenant": tenant["slug"],
                                                        "since": since, "limit": 1000})
        rows.extend(page["requests"])
        if not page["requests"]:
            break
        since = page["last_seq"]
    return sorted(r["accepted_at"] for r in rows
                  if r.get("accepted_at") is not None and "/messages/send" in r["path"])


def one(stack: Stack, limit: int, window_s: int, windows: int) -> dict[str, Any]:
    tenant = stack.make_tenant(rate_limit_max=limit, rate_limit_decay_s=window_s)
    workspace = stack.make_workspace()
    # The connection's probe spends upstream calls: let the tenant's window forget them.
    connection = stack.make_connection(workspace, tenant, rate_limit=limit, rate_window_s=window_s)
    phone = stack.make_contact_phone(tenant)
    stack.admin("PATCH", f"/tenants/{tenant['slug']}", json={"reset_rate_limit": True})
    stack.redis.delete(f"wa:gov:{connection}", f"wa:gov:{connection}:until")
    url = f"{stack.api_url}/v1/connections/{connection}/actions/send_text"
    duration_s = windows * window_s
    rate = OVERLOAD * limit / window_s
    total = int(rate * duration_s)
    result: dict[str, Any] = {}

    def submit() -> None:
        result["load"] = load(url, workspace["headers"],
                              lambda i: {"phone": phone, "text": f"limited {i}"}, total,
                              concurrency=8, rate_per_s=rate)

    thread = threading.Thread(target=submit, daemon=True)
    thread.start()
    deadline = time.monotonic() + duration_s + 10 + window_s * 0.2
    first: float | None = None
    while time.monotonic() < deadline:
        times = accepted_times(stack, tenant)
        if times and first is None:
            first = times[0]
            deadline = time.monotonic() + duration_s - (time.time() - first) + 2
        time.sleep(1)
    thread.join(timeout=duration_s + 60)
    times = accepted_times(stack, tenant)
    stats = stack.stats(tenant)
    start = times[0] if times else 0.0
    in_window = [t for t in times if start <= t < start + duration_s]
    # The sandbox's own max counts the bench's setup calls (probe, contact) too: count sends only.
    sends_max = max((sum(1 for u in times[i:] if u < t + window_s) for i, t in
                     enumerate(times)), default=0)
    achieved = len(in_window) / (limit * windows)
    codes = result["load"].codes if "load" in result else {}
    return {"limit": limit, "window_s": window_s, "windows": windows, "submitted": total,
            "submit_rate_per_s": rate, "api_codes": codes, "accepted_upstream": len(in_window),
            "allowed_upstream": limit * windows, "achieved_ratio": achieved,
            "achieved_per_s": len(in_window) / duration_s, "limit_per_s": limit / window_s,
            "throttled_429": stats.get("throttled"),
            "max_in_sliding_window": stats.get("max_in_sliding_window"),
            "sends_max_in_sliding_window": sends_max,
            "max_in_any_window": stats.get("max_in_any_window"),
            "target_met": achieved >= RATE_TARGET and not stats.get("throttled")}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.rate_limited", description=__doc__)
    parser.add_argument("--cases", default="60/60,20/1", help="limit/window_s, comma-separated")
    parser.add_argument("--windows", default="2,10", help="windows measured, per case")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--tag", default="")
    args = parser.parse_args(argv)
    cases = [tuple(int(x) for x in c.split("/")) for c in args.cases.split(",")]
    windows = [int(w) for w in args.windows.split(",")]
    results = []
    for (limit, window_s), n in zip(cases, windows, strict=True):
        stack = Stack(workers=args.workers, api_workers=2, api_threads=8)
        try:
            stack.up()
            stack.set_latency(LATENCY_MS)
            results.append(one(stack, limit, window_s, n))
        finally:
            stack.close()
    rows = [(f"{r['limit']}/{r['window_s']}s", f"{r['windows']} x {r['window_s']}s",
             f"{r['submit_rate_per_s']:.1f}/s", r["accepted_upstream"], r["allowed_upstream"],
             f"{r['achieved_ratio']:.3f}", r["throttled_429"], r["sends_max_in_sliding_window"],
             r["max_in_sliding_window"],
             "met" if r["target_met"] else "MISSED") for r in results]
    print_table(f"Rate limit on, send_text, {LATENCY_MS} ms upstream, {args.workers} workers, "
                f"{OVERLOAD}x overload", rows,
                ("limit", "measured", "offered", "accepted", "limit allows", "achieved ratio",
                 "429s", "max sends in a window", "sandbox max (all calls)",
                 ">=0.95 & 0 429"))
    for r in results:
        print(f"{r['limit']}/{r['window_s']}s: API codes {r['api_codes']}")
    path = write_result(f"rate_limited{args.tag}", {"runs": results, "workers": args.workers})
    print(f"results: {path}")
    return {"runs": results}


if __name__ == "__main__":
    main()
