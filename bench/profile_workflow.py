"""Where a form workflow's CPU goes: cProfile (CPU-time timer) of the hook and of the worker.

    .venv/bin/python -m bench.profile_workflow [--runs 200] [--top 30] [--no-profile]

Same workflow as `bench.workflows` (upsert contact -> add to group -> send template, distinct
phones). The sandbox runs in its own process (0 ms latency), so its CPU is not in the profile.
The hook goes through Flask's test client (no gunicorn); the worker part is one `RunWorker`
in burst mode, as `worker.py` runs it. Prints the top functions and the CPU per submission
(ingest) and per workflow run (worker); cProfile adds overhead, so compare runs with
`--no-profile` for absolute numbers.
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.common import Stack, write_result
from bench.inprocess import drain, measure_phases
from bench.profile_action import report
from bench.workflows import HEADERS, _body, _definition
from connector import jobs
from connector.app import create_app
from connector.config import Settings
from connector.runtime import Runtime


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_workflow",
                                     description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-profile", action="store_true", help="only time, no cProfile")
    parser.add_argument("--dump", help="also write the profiles to DUMP.ingest / DUMP.worker "
                        "(pstats files)")
    parser.add_argument("--contacts", type=int, default=0,
                        help="existing contacts in the tenant before the runs")
    args = parser.parse_args(argv)
    stack = Stack()
    try:
        stack.prepare_store()
        stack.start_sandbox()
        stack.set_latency(0)
        settings = Settings.from_env(environ=stack.env())
        app = create_app(settings)
        client = app.test_client()
        tenant = stack.make_tenant(rate_limit_max=0)
        if args.contacts:
            stack.admin("POST", f"/tenants/{tenant['slug']}/generate",
                        json={"resource": "contacts", "count": args.contacts})
        workspace = stack.make_workspace()
        response = client.post("/v1/connections", headers=workspace["headers"], json={
            "provider": "corbital", "base_url": tenant["base_url"], "tenant": tenant["slug"],
            "token": tenant["token"], "rate_limit": 0, "rate_window_s": 60})
        connection = response.get_json()["id"]
        rt = Runtime(settings)
        jobs.bind_runtime(rt)

        group_id = stack.make_group(tenant)
        answer = client.post("/v1/workflows", headers=workspace["headers"],
                             json=_definition(connection, group_id))
        assert answer.status_code == 201, answer.get_json()
        url = "/hooks/in/" + answer.get_json()["hook_url"].rsplit("/", 1)[-1]
        counter = iter(range(10**9))

        def post(n: int) -> None:
            for _ in range(n):
                got = client.post(url, headers=HEADERS, json=_body(next(counter)))
                assert got.status_code == 200, got.get_json()

        post(10)
        drain(rt)
        phases = measure_phases(lambda: post(args.runs), lambda: drain(rt),
                                profile=not args.no_profile)
        statuses = _statuses(rt)
        requests_made = stack.stats(tenant).get("requests")
        rt.close()
        app.extensions["wa_runtime"].close()
    finally:
        stack.close()
    api_ms = phases.submit_cpu_s / args.runs * 1000
    worker_ms = phases.work_cpu_s / args.runs * 1000
    if args.dump and not args.no_profile:
        phases.submit.dump_stats(f"{args.dump}.ingest")
        phases.work.dump_stats(f"{args.dump}.worker")
    if not args.no_profile:
        print("==== INGEST (POST /hooks/in/{token}) ====")
        print(report(phases.submit, args.top))
        print("==== WORKER (advance_workflow) ====")
        print(report(phases.work, args.top))
    label = "with cProfile" if not args.no_profile else "no profiler"
    print(f"in-process CPU ({label}): ingest {api_ms:.2f} ms per submission, worker "
          f"{worker_ms:.2f} ms per workflow run; statuses {statuses}; upstream requests "
          f"{requests_made}")
    data = {"runs": args.runs, "contacts": args.contacts, "profiled": not args.no_profile,
            "ingest_ms": api_ms, "worker_ms": worker_ms, "statuses": statuses,
            "upstream_requests": requests_made}
    write_result("profile_workflow", data)
    return data


def _statuses(rt: Runtime) -> dict[str, int]:
    from sqlalchemy import func, select

    from connector.store.workflow_models import WorkflowRun

    with rt.db.session() as session:
        rows = session.execute(select(WorkflowRun.status, func.count())
                               .group_by(WorkflowRun.status)).all()
    return {status: count for status, count in rows}


if __name__ == "__main__":
    main()
