"""Where an action's CPU goes: cProfile (CPU-time timer) of the API handler and the worker.

    .venv/bin/python -m bench.profile_action [--actions 500] [--top 30]

The sandbox runs in its own process (0 ms latency), so its CPU is not in the profile. The API
part goes through Flask's test client (no gunicorn); the worker part is one `RunWorker` in
burst mode, as `worker.py` runs it. Prints the top functions by cumulative and by own time and
the CPU per action of each part (process_time; cProfile itself adds overhead, so compare with
`bench.overhead` for absolute numbers).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
from typing import Any

from rq import SimpleWorker

from bench.common import Stack, write_result
from bench.inprocess import drain, measure_phases
from connector import jobs
from connector.app import create_app
from connector.config import Settings
from connector.rq_worker import RunWorker
from connector.runtime import Runtime


def use_legacy_store() -> None:
    """The claim (UPDATE, then SELECT, then the connection in a second transaction) and the
    settle (SELECT ... FOR UPDATE, then the ORM's UPDATE) as they were before the changes in
    BENCHMARKS.md, to measure both in one command."""
    from sqlalchemy import update

    from connector.store import runs
    from connector.store.models import Connection, Run, utcnow
    from connector.store.states import RunStatus

    def claim_with_connection(db: Any, run_id: str, worker_id: str) -> Any:
        with db.session() as session:
            result = session.execute(
                update(Run)
                .where(Run.id == run_id, Run.status == RunStatus.QUEUED.value)
                .values(status=RunStatus.RUNNING.value, worker_id=worker_id,
                        phase="preparing", started_at=utcnow(),
                        attempt_count=Run.attempt_count + 1, next_attempt_at=None))
            if result.rowcount != 1:
                return None
            run = session.get(Run, run_id)
        with db.session() as session:
            connection = session.get(Connection, run.connection_id)
        return run, connection

    def settle_claimed(db: Any, run: Any, result: Any) -> Any:
        return runs.settle(db, run.id, run.attempt_count, result)

    runs.claim_with_connection = claim_with_connection  # type: ignore[assignment]
    runs.settle_claimed = settle_claimed  # type: ignore[assignment]


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
    parser.add_argument("--legacy-store", action="store_true",
                        help="A/B: the worker's claim and settle as before the bench changes")
    parser.add_argument("--stock-worker", action="store_true",
                        help="A/B: RQ's SimpleWorker instead of our RunWorker")
    parser.add_argument("--trust-env", action="store_true",
                        help="A/B: requests' trust_env on (proxy lookup in the env per call)")
    parser.add_argument("--no-hiredis", action="store_true",
                        help="A/B: redis-py's pure-Python reply parser instead of hiredis")
    args = parser.parse_args(argv)
    if args.legacy_store:
        use_legacy_store()
    if args.no_hiredis:
        import redis.connection

        redis.connection.DefaultParser = redis.connection._RESP2Parser  # type: ignore[misc]
    worker_class = SimpleWorker if args.stock_worker else RunWorker
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
        if args.trust_env:
            rt.http._session.trust_env = True

        def post(n: int) -> None:
            for i in range(n):
                answer = client.post(url, headers=workspace["headers"],
                                     json={"phone": phone, "text": f"p {i}"})
                assert answer.status_code == 202, answer.get_json()

        post(20)
        drain(rt, worker_class)
        phases = measure_phases(lambda: post(args.actions), lambda: drain(rt, worker_class),
                                profile=not args.no_profile)
        rt.close()
        app.extensions["wa_runtime"].close()
    finally:
        stack.close()
    api_ms = phases.submit_cpu_s / args.actions * 1000
    worker_ms = phases.work_cpu_s / args.actions * 1000
    if not args.no_profile:
        print("==== API ====")
        print(report(phases.submit, args.top))
        print("==== WORKER ====")
        print(report(phases.work, args.top))
    variant = [name for name, on in (("legacy store", args.legacy_store),
                                     ("stock SimpleWorker", args.stock_worker),
                                     ("trust_env on", args.trust_env),
                                     ("no hiredis", args.no_hiredis)) if on]
    label = ", ".join(["with cProfile" if not args.no_profile else "no profiler", *variant])
    print(f"in-process CPU per action ({label}): API {api_ms:.2f} ms, worker {worker_ms:.2f} ms")
    data = {"actions": args.actions, "profiled": not args.no_profile, "api_ms": api_ms,
            "worker_ms": worker_ms, "variant": variant}
    write_result("profile_action", data)
    return data


if __name__ == "__main__":
    main()
