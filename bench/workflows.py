"""Form workflows: hook ingest against a bare LPUSH endpoint, and completed runs end to end.

    .venv/bin/python -m bench.workflows [--ingest 3000] [--e2e 600] [--workers 4]
                                        [--loadgen asyncio|requests] [--contacts N]

Ingest: gunicorn (2 gthread workers x 8 threads) serving `wsgi:app`; a form workflow with a
shared-secret header check; every request is a distinct JSON submission. Measured closed-loop
(16 in flight) for throughput, then paced at 500 req/s for p50/p99 latency (open loop: a
request's latency counts from when it was due). The load generator is `bench.httpload`
(asyncio, ~0.1 ms CPU per request); `--loadgen requests` uses the thread + `requests` one of
`bench.common`, whose own CPU capped even the baseline at ~550 req/s. The submission is
durable (event + workflow run committed, raw body encrypted) and its run pushed to the
workflow inbox in Redis before the 200 (a forwarder job gives it its RQ job). Baseline, same
command, same gunicorn settings: `bench.forms_baseline:app`, one Redis LPUSH per request.
Targets: >= 0.5 of the baseline's throughput; p99 <= 25 ms at 500 req/s. Also reported: the
server's CPU per request (closed loop), steadier than req/s on a shared box, and its ratio.

End to end: sandbox with zero latency and no rate limit, `worker.py --processes N`; each
submission (distinct phone) runs upsert contact -> add to group -> send template. Rate =
completed workflow runs / (last finished - first post). Anchor: n8n's 220 executions/s on
2 vCPU. Target: >= 250 runs/s. `--contacts N` seeds the tenant with N contacts first (the
phone index then pays one full scan, on the first upsert). CPU per run is measured per process
group (sandbox, API, workers) over the whole run.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from statistics import median_high
from typing import Any

import requests
from sqlalchemy import func, select

from bench import httpload
from bench.common import PY, LoadResult, Stack, cpu_s, percentile, print_table, write_result
from bench.common import load as requests_load

SECRET = "bench-shared-secret-0123"
HEADERS = {"X-Form-Secret": SECRET}


def _body(n: int) -> dict[str, Any]:
    return {"submission_id": f"s{n}-{time.monotonic_ns()}", "name": f"Ana Souza {n}",
            "phone": f"+49151{(n * 7919) % 10**8:08d}"}


_posted = itertools.count()


def _fresh_body(n: int) -> dict[str, Any]:
    """`_body` numbered across every load of the process: each end-to-end round's phones are
    new people (a repeated phone is an update for ours and a refused create for the baseline)."""
    return _body(next(_posted))


def _definition(connection_id: str, group_id: str) -> dict[str, Any]:
    return {"name": "bench", "connection_id": connection_id,
            "trigger": {"kind": "form", "product": "generic",
                        "verify": {"scheme": "shared_secret", "secret": SECRET,
                                   "header": "X-Form-Secret"}},
            "steps": [
                {"name": "contact", "action": "upsert_contact",
                 "input": {"phone": "{{ phone(form.fields.phone) }}",
                           "first_name": "{{ first_name(form.fields.name) }}",
                           "last_name": "{{ default(last_name(form.fields.name), '-') }}",
                           "status_id": "1", "source_id": "2"}},
                {"name": "group", "action": "add_contact_to_group",
                 "input": {"contact_id": "{{ steps.contact.contact.id }}",
                           "group_id": group_id}},
                {"name": "welcome", "action": "send_template",
                 "input": {"phone": "{{ steps.contact.contact.phone }}",
                           "template_name": "welcome",
                           "body_params": ["{{ first_name(form.fields.name) }}", "Acme"]}}]}


def _setup(stack: Stack) -> tuple[str, dict[str, Any]]:
    tenant = stack.make_tenant(rate_limit_max=0)
    workspace = stack.make_workspace()
    connection = stack.make_connection(workspace, tenant, rate_limit=100_000)
    response = requests.post(f"{stack.api_url}/v1/workflows", timeout=30,
                             json=_definition(connection, stack.make_group(tenant)),
                             headers=workspace["headers"])
    response.raise_for_status()
    token = response.json()["hook_url"].rsplit("/", 1)[-1]
    return token, tenant


Loader = Callable[..., LoadResult]
LOADERS: dict[str, Loader] = {"asyncio": httpload.load, "requests": requests_load}


def _closed(url: str, total: int, load: Loader, server_pid: int) -> dict[str, Any]:
    """Throughput with 16 requests in flight, and the server's CPU per request."""
    cpu_before = cpu_s(server_pid)
    closed = load(url, HEADERS, _body, total, 16)
    return {"rps": round(total / (closed.finished - closed.started), 1),
            "server_cpu_ms_per_req": round((cpu_s(server_pid) - cpu_before) * 1000 / total, 3),
            "codes": closed.codes}


def _paced(url: str, total: int, load: Loader) -> dict[str, Any]:
    """Latency at 500 requests/s, open loop."""
    # The first paced burst opens 64 connections at once; its first requests wait 20-130 ms
    # for both endpoints (seen on the bare LPUSH one too), once per server. Warm that up,
    # then measure the steady latency.
    load(url, HEADERS, _body, 500, 64, rate_per_s=500)
    paced = load(url, HEADERS, _body, total, 64, rate_per_s=500)
    return {"paced_codes": paced.codes,
            "p50_ms": round(percentile(paced.latencies_ms, 0.50), 2),
            "p99_ms": round(percentile(paced.latencies_ms, 0.99), 2),
            "paced_rps": round(total / (paced.finished - paced.started), 1)}


INGEST_SERVERS = ("ours", "baseline (reuse-port)", "baseline (shared socket)")


def ingest(total: int, load: Loader, rounds: int = 3) -> dict[str, Any]:
    """Ours and the LPUSH baseline in interleaved rounds (the box's speed drifts within a
    minute): each round measures every server once, in a rotating order, and its ratio is
    ours over the faster baseline of that round. The baseline runs both ways: one shared
    listening socket, and one SO_REUSEPORT socket per process as ours runs."""
    with Stack(api_workers=2, api_threads=8) as stack:
        stack.up(workers=False)
        token, _ = _setup(stack)
        urls = {"ours": f"{stack.api_url}/hooks/in/{token}"}
        names = {"ours": "api"}
        for name, reuse_port, proc in (("baseline (reuse-port)", True, "baseline-reuse"),
                                       ("baseline (shared socket)", False, "baseline-shared")):
            base = stack.start_gunicorn(proc, "bench.forms_baseline:app", reuse_port=reuse_port)
            urls[name], names[name] = f"{base}/hooks/in/{token}", proc
        for url in urls.values():
            load(url, HEADERS, _body, 200, 16)  # warm-up: imports, pools, first connections
        per_round: list[dict[str, Any]] = []
        for n in range(rounds):
            order = INGEST_SERVERS[n % 3:] + INGEST_SERVERS[:n % 3]
            got = {name: _closed(urls[name], total, load, stack.procs[names[name]].pid)
                   for name in order}
            best = max(got[name]["rps"] for name in INGEST_SERVERS[1:])
            best_cpu = min(got[name]["server_cpu_ms_per_req"] for name in INGEST_SERVERS[1:])
            per_round.append({**got, "ratio": round(got["ours"]["rps"] / best, 2),
                              "cpu_ratio": round(best_cpu
                                                 / got["ours"]["server_cpu_ms_per_req"], 2)})
        paced = {name: _paced(urls[name], total, load) for name in INGEST_SERVERS}
        return {"db": stack.db_kind, "rounds": per_round, "paced": paced,
                "ratio": median_high(r["ratio"] for r in per_round),
                "cpu_ratio": median_high(r["cpu_ratio"] for r in per_round),
                "ratios": [r["ratio"] for r in per_round]}


E2E_POLL_S = 0.05


def _wait_count(count: Callable[[], int], target: int, timeout_s: float = 600) -> int:
    deadline = time.monotonic() + timeout_s
    done = count()
    while done < target and time.monotonic() < deadline:
        time.sleep(E2E_POLL_S)
        done = count()
    return done


def _timed_round(stack: Stack, url: str, total: int, load: Loader, count: Callable[[], int],
                 procs: dict[str, list[str]]) -> dict[str, Any]:
    """Post `total` submissions, wait until `count()` grew by `total`; runs/s from the first
    post to the last finished run, and CPU per run of each process group."""
    def cpu() -> dict[str, float]:
        return {group: sum(cpu_s(stack.procs[name].pid) for name in names)
                for group, names in procs.items()}

    before, start_count = cpu(), count()
    posted = load(url, HEADERS, _fresh_body, total, 16)
    done = _wait_count(count, start_count + total) - start_count
    wall = time.monotonic() - posted.started
    after = cpu()
    if done < total or set(posted.codes) != {200}:
        raise RuntimeError(f"{done} of {total} runs finished; hook answers {posted.codes}")
    return {"runs_per_s": round(done / wall, 1),
            "cpu_ms_per_run": {group: round((after[group] - before[group]) * 1000 / total, 2)
                               for group in procs}}


def _baseline_finished(stack: Stack) -> int:
    from bench import workflow_baseline as base

    return sum(int(stack.redis.get(key) or 0) for key in (base.DONE_KEY, base.FAILED_KEY))


def _start_baseline(stack: Stack, workers: int, contacts: int) -> str:
    """`bench.workflow_baseline` on a fresh tenant of the same sandbox (seeded alike), with
    the same number of worker processes; returns its hook URL."""
    from bench import workflow_baseline as base

    tenant = stack.make_tenant(rate_limit_max=0)
    if contacts:
        stack.admin("POST", f"/tenants/{tenant['slug']}/generate",
                    json={"resource": "contacts", "count": contacts})
    stack.extra_env.update({"BASELINE_TENANT_URL": tenant["base_url"] + tenant["slug"],
                            "BASELINE_TOKEN": tenant["token"],
                            "BASELINE_GROUP_ID": stack.make_group(tenant),
                            "BASELINE_TEMPLATE": "welcome", "BASELINE_LANGUAGE": "en"})
    stack.redis.delete(base.DONE_KEY, base.FAILED_KEY)
    url = stack.start_gunicorn("baseline", "bench.workflow_baseline:app") + "/hooks/in/x"
    registered = sum(1 for _ in stack.redis.scan_iter("rq:worker:*"))
    for n in range(workers):
        stack.start(f"baseline-worker-{n}", [PY, "-m", "bench.workflow_baseline", "worker"])
    stack.wait_workers(registered + workers)
    return url


def end_to_end(total: int, workers: int, load: Loader, contacts: int = 0,
               baseline: bool = True, rounds: int = 2) -> dict[str, Any]:
    """Ours and (unless `baseline` is off) `bench.workflow_baseline` in interleaved rounds:
    both stacks stay up, each round posts `total` submissions to each, in a rotating order;
    the ratio is the median round's."""
    from bench import workflow_baseline as base
    from connector.store.models import Run
    from connector.store.workflow_models import WorkflowRun

    with Stack(api_workers=2, api_threads=8, workers=workers) as stack:
        stack.up(workers=True)
        stack.set_latency(0)
        token, tenant = _setup(stack)
        if contacts:
            stack.admin("POST", f"/tenants/{tenant['slug']}/generate",
                        json={"resource": "contacts", "count": contacts})
        sides: dict[str, tuple[str, Callable[[], int], dict[str, list[str]]]] = {}

        def ours_done() -> int:
            with stack.engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(WorkflowRun).where(
                    WorkflowRun.status.not_in(("queued", "running")))).scalar_one())

        sides["ours"] = (f"{stack.api_url}/hooks/in/{token}", ours_done,
                         {"sandbox": ["sandbox"], "api": ["api"], "workers": ["workers"]})
        if baseline:
            url = _start_baseline(stack, workers, contacts)
            sides["baseline"] = (url, lambda: _baseline_finished(stack), {
                "sandbox": ["sandbox"], "api": ["baseline"],
                "workers": [f"baseline-worker-{n}" for n in range(workers)]})
        per_round = []
        for n in range(rounds):
            order = list(sides) if n % 2 == 0 else list(reversed(sides))
            got = {side: _timed_round(stack, sides[side][0], total, load, sides[side][1],
                                      sides[side][2]) for side in order}
            if baseline:
                got["ratio"] = round(got["ours"]["runs_per_s"]
                                     / got["baseline"]["runs_per_s"], 2)
            per_round.append(got)
        with stack.engine.connect() as conn:
            rows = list(conn.execute(select(WorkflowRun.status)))
            steps = list(conn.execute(select(Run.action_key, Run.started_at, Run.finished_at,
                                             Run.attempts)))
        statuses: dict[str, int] = {}
        for row in rows:
            statuses[row.status] = statuses.get(row.status, 0) + 1
        per_step: dict[str, list[float]] = {}
        http_ms: dict[str, list[float]] = {}
        for row in steps:
            per_step.setdefault(row.action_key, []).append(
                (row.finished_at - row.started_at).total_seconds() * 1000)
            http_ms.setdefault(row.action_key, []).append(sum(
                e.get("elapsed_ms") or 0 for a in row.attempts for e in a["exchanges"]))
        breakdown = {k: {"run_ms_avg": round(sum(v) / len(v), 1),
                         "upstream_http_ms_avg": round(sum(http_ms[k]) / len(http_ms[k]), 1)}
                     for k, v in per_step.items()}
        failed = int(stack.redis.get(base.FAILED_KEY) or 0) if baseline else 0
        if failed or set(statuses) != {"succeeded"}:
            raise RuntimeError(f"runs went wrong: ours {statuses}, baseline failed {failed}")
        return {"db": stack.db_kind, "workers": workers, "runs_per_round": total,
                "rounds": per_round, "statuses": statuses, "contacts_seeded": contacts,
                "step_breakdown": breakdown,
                "upstream_requests": stack.stats(tenant).get("requests"),
                "ratio_to_baseline": median_high(r["ratio"] for r in per_round)
                if baseline else None}


def ceilings(cpu_ms: dict[str, float]) -> dict[str, float]:
    """Upper bounds from the CPU measured in the same run: the sandbox is one Python process
    (one core at most, its GIL), and the whole box has two cores for everything."""
    total = sum(cpu_ms.values())
    return {"sandbox_alone_runs_per_s": round(1000 / cpu_ms["sandbox"], 1)
            if cpu_ms["sandbox"] else 0.0,
            "box_runs_per_s": round(2000 / total, 1) if total else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ingest", type=int, default=3000)
    parser.add_argument("--e2e", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved ingest rounds")
    parser.add_argument("--e2e-rounds", type=int, default=2,
                        help="interleaved end-to-end rounds (ours and the baseline)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--contacts", type=int, default=0,
                        help="contacts in the tenant before the end-to-end runs")
    parser.add_argument("--loadgen", choices=("asyncio", "requests"), default="asyncio")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the end-to-end baseline (bench.workflow_baseline)")
    args = parser.parse_args()
    load = LOADERS[args.loadgen]
    result: dict[str, Any] = {}
    if args.ingest:
        result["ingest"] = ingest(args.ingest, load, args.rounds)
        i = result["ingest"]
        rows = []
        for n, r in enumerate(i["rounds"], start=1):
            rows.extend((n, name, r[name]["rps"], r[name]["server_cpu_ms_per_req"],
                         r[name]["codes"]) for name in INGEST_SERVERS)
            rows.append((n, "ratio to the faster baseline", r["ratio"], r["cpu_ratio"], ""))
        print_table("Ingest: POST /hooks/in/{token} vs bare LPUSH endpoint, closed loop", rows,
                    ("round", "endpoint", "req/s (16 in flight)", "server CPU ms/req", "codes"))
        print_table("Ingest at 500 req/s (open loop)", [
            (name, p["p50_ms"], p["p99_ms"], p["paced_codes"]) for name, p in
            i["paced"].items()], ("endpoint", "p50 ms", "p99 ms", "codes"))
        print(f"median ratio {i['ratio']} (rounds {i['ratios']}), median CPU ratio "
              f"{i['cpu_ratio']}")
    if args.e2e:
        result["e2e"] = end_to_end(args.e2e, args.workers, load, args.contacts,
                                   baseline=not args.no_baseline, rounds=args.e2e_rounds)
        e = result["e2e"]
        rows = []
        for n, r in enumerate(e["rounds"], start=1):
            for side in ("ours", "baseline"):
                if side in r:
                    cpu = r[side]["cpu_ms_per_run"]
                    rows.append((n, side, r[side]["runs_per_s"], cpu["sandbox"], cpu["api"],
                                 cpu["workers"], ceilings(cpu)["box_runs_per_s"]))
            if "ratio" in r:
                rows.append((n, "ratio ours/baseline", r["ratio"], "", "", "", ""))
        print_table(f"End to end: form -> upsert -> group -> template ({e['db']}, "
                    f"{e['workers']} worker processes, {e['runs_per_round']} runs a round)",
                    rows, ("round", "", "runs/s", "sandbox CPU ms/run", "API CPU ms/run",
                           "workers CPU ms/run", "box ceiling runs/s"))
        print(f"statuses {e['statuses']}; upstream requests (ours) {e['upstream_requests']}; "
              f"median ratio {e['ratio_to_baseline']}")
        print_table("Per step (child action runs)", [
            (k, v["run_ms_avg"], v["upstream_http_ms_avg"]) for k, v in
            e["step_breakdown"].items()], ("action", "run ms (avg)", "upstream HTTP ms (avg)"))
    result["loadgen"] = args.loadgen
    write_result("workflows", result)


if __name__ == "__main__":
    main()
