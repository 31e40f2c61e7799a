"""Where an action's CPU goes: cProfile of the API handler and of the worker, in-process.

    .venv/bin/python -m bench.profile_action [--actions 500] [--top 30]

The sandbox runs in its own process (0 ms latency), so its CPU is not in the profile. The API
part goes through Flask's test client (no gunicorn); the worker part is one `SimpleWorker` in
burst mode, as `worker.py` runs it. Prints the top functions by cumulative and by own time and
the CPU per action of each part (process_time; cProfile itself adds overhead, so compare with
`bench.overhead` for absolute numbers).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from typing import Any

from rq import SimpleWorker

from bench.common import Stack, write_result
from connector import jobs
from connector.app import create_app
from connector.config import Settings
from connector.queueing import QUEUES_BY_PRIORITY
from connector.runtime import Runtime


def report(profile: cProfile.Profile, top: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_action", description=__doc__)
    parser.add_argument("--actions", type=int, default=500)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-profile", action="store_true", help="only time, no cProfile")
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
        workspace = stack.make_workspace()
        response = client.post("/v1/connections", headers=workspace["headers"], json={
            "provider": "corbital", "base_url": tenant["base_url"], "tenant": tenant["slug"],
            "token": tenant["token"], "rate_limit": 0, "rate_window_s": 60})
        connection = response.get_json()["id"]
        phone = stack.make_contact_phone(tenant)
        url = f"/v1/connections/{connection}/actions/send_text"
        rt = Runtime(settings)
        jobs.bind_runtime(rt)

        def post(n: int) -> None:
            for i in range(n):
                answer = client.post(url, headers=workspace["headers"],
                                     json={"phone": phone, "text": f"p {i}"})
                assert answer.status_code == 202, answer.get_json()

        def drain() -> None:
            SimpleWorker(list(QUEUES_BY_PRIORITY), connection=rt.redis).work(
                burst=True, with_scheduler=False, logging_level="WARNING")

        post(20)
        drain()
        api_profile, worker_profile = cProfile.Profile(), cProfile.Profile()
        t0 = time.process_time()
        if not args.no_profile:
            api_profile.enable()
        post(args.actions)
        api_profile.disable()
        t1 = time.process_time()
        if not args.no_profile:
            worker_profile.enable()
        drain()
        worker_profile.disable()
        t2 = time.process_time()
        rt.close()
        app.extensions["wa_runtime"].close()
    finally:
        stack.close()
    api_ms, worker_ms = (t1 - t0) / args.actions * 1000, (t2 - t1) / args.actions * 1000
    if not args.no_profile:
        print("==== API ====")
        print(report(api_profile, args.top))
        print("==== WORKER ====")
        print(report(worker_profile, args.top))
    label = "with cProfile" if not args.no_profile else "no profiler"
    print(f"in-process CPU per action ({label}): API {api_ms:.2f} ms, worker {worker_ms:.2f} ms")
    data = {"actions": args.actions, "profiled": not args.no_profile, "api_ms": api_ms,
            "worker_ms": worker_ms}
    write_result("profile_action", data)
    return data


if __name__ == "__main__":
    main()
