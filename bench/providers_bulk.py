"""WBIZ bulk import vs one call per contact: upstream requests and wall time for N contacts.

    .venv/bin/python -m bench.providers_bulk [--contacts 2000] [--workers 4] [--latency-ms 50]

Real processes (sandbox, gunicorn API, RQ workers). Each variant gets a fresh WBIZ emulator
account (Scale plan) and connection:
- bulk: one `bulk_upsert_contacts` run with all N contacts (the dialect sends
  `POST /v1/contacts/bulk` in chunks of 500);
- baseline, same command: N `upsert_contact` runs, one per contact (one `POST /v1/contacts`
  each), submitted with 8 client threads and drained by the same workers.
Upstream requests are counted from the sandbox request log (the connection's probe excluded);
time runs from the first submission to the last run being terminal. Every emulated upstream
request costs `--latency-ms`.
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

import requests

from bench.common import Stack, load, print_table, write_result

TIMEOUT_S = 600.0


def _account(stack: Stack) -> dict[str, Any]:
    slug, token = f"b{uuid.uuid4().hex[:10]}", f"wa_{uuid.uuid4().hex[:8]}_{uuid.uuid4().hex}"
    stack.admin("POST", "/wbiz/accounts", json={"slug": slug, "token": token, "plan": "scale"})
    return {"slug": slug, "token": token, "base_url": f"{stack.sandbox_url}/api/wbiz/{slug}/"}


def _connection(stack: Stack, workspace: dict[str, Any], account: dict[str, Any]) -> str:
    response = requests.post(f"{stack.api_url}/v1/connections", headers=workspace["headers"],
                             timeout=30, json={"provider": "wbiz",
                                               "base_url": account["base_url"],
                                               "token": account["token"],
                                               "rate_limit": 100_000, "rate_window_s": 60})
    if response.status_code != 201:
        raise RuntimeError(f"connection: {response.status_code} {response.text}")
    return str(response.json()["id"])


def _upstream_writes(stack: Stack, slug: str) -> int:
    since, total = 0, 0
    while True:
        page = stack.admin("GET", "/requests", params={"tenant": slug, "since": since,
                                                        "limit": 1000})
        if not page["requests"]:
            return total
        total += sum(1 for r in page["requests"] if r["method"] == "POST")
        since = page["last_seq"]


def _phones(n: int) -> list[str]:
    base = uuid.uuid4().int % 10**8
    return [f"+49151{(base + i) % 10**8:08d}" for i in range(n)]


def bulk(stack: Stack, n: int, runs_before: int) -> dict[str, Any]:
    account, workspace = _account(stack), stack.make_workspace()
    connection = _connection(stack, workspace, account)
    rows = [{"phone": p, "first_name": "Bulk"} for p in _phones(n)]
    started = time.monotonic()
    response = requests.post(f"{stack.api_url}/v1/connections/{connection}/actions/"
                             "bulk_upsert_contacts", json={"contacts": rows},
                             headers=workspace["headers"], timeout=60)
    response.raise_for_status()
    finished = stack.wait_runs(runs_before + 1, TIMEOUT_S)
    run = requests.get(stack.api_url + response.headers["Location"], headers=workspace["headers"],
                       timeout=30).json()
    return {"variant": "bulk_upsert_contacts (500/call)", "status": run["status"],
            "output": run["output"], "upstream_writes": _upstream_writes(stack, account["slug"]),
            "seconds": round(finished - started, 2)}


def one_by_one(stack: Stack, n: int, runs_before: int) -> dict[str, Any]:
    account, workspace = _account(stack), stack.make_workspace()
    connection = _connection(stack, workspace, account)
    phones = _phones(n)
    url = f"{stack.api_url}/v1/connections/{connection}/actions/upsert_contact"
    started = time.monotonic()
    result = load(url, workspace["headers"], lambda i: {"phone": phones[i], "first_name": "One"},
                  n, concurrency=8)
    finished = stack.wait_runs(runs_before + n, TIMEOUT_S)
    return {"variant": "upsert_contact x N (baseline)", "accepted": result.codes,
            "upstream_writes": _upstream_writes(stack, account["slug"]),
            "seconds": round(finished - started, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()
    with Stack(workers=args.workers).up() as stack:
        stack.set_latency(args.latency_ms)
        baseline = one_by_one(stack, args.contacts, stack.count_runs())
        bulked = bulk(stack, args.contacts, stack.count_runs())
    ratio_requests = baseline["upstream_writes"] / max(bulked["upstream_writes"], 1)
    ratio_time = baseline["seconds"] / max(bulked["seconds"], 0.001)
    rows = [(r["variant"], args.contacts, r["upstream_writes"], r["seconds"])
            for r in (baseline, bulked)]
    print_table(f"WBIZ contact import, {args.contacts} contacts, {args.workers} workers, "
                f"{args.latency_ms} ms upstream latency", rows,
                ("variant", "contacts", "upstream writes", "seconds"))
    print(f"\nbulk: {ratio_requests:.0f}x fewer upstream requests, {ratio_time:.1f}x faster")
    path = write_result("providers_bulk", {"contacts": args.contacts, "workers": args.workers,
                                           "latency_ms": args.latency_ms, "baseline": baseline,
                                           "bulk": bulked, "ratio_requests": ratio_requests,
                                           "ratio_time": ratio_time})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
