"""Baseline for the end-to-end form workflow benchmark: about the least a form workflow can
cost on the stack we build on (Flask under gunicorn, an RQ job per submission run by our lean
`RunWorker`, `requests` with kept-alive connections), against the same sandbox in the same
command.

    gunicorn bench.workflow_baseline:app            the hook: parse JSON, enqueue, answer 200
    python -m bench.workflow_baseline worker        one RunWorker on its queue

It makes the same five upstream calls as our workflow (newest contacts, create contact, read
contact, PUT its groups, send the template) and nothing else: no database, no run records,
no mapping, no phone parsing, no locks, no abilities, no rate governor, no retry or in-doubt
bookkeeping. Every job increments a Redis counter, the failed one when anything went wrong
(so the bench never waits for a job that died). The hook enqueues with `Queue.enqueue`, the
common idiom (ours pushes run ids and a forwarder enqueues them in batches). Settings come from the
environment: BENCH_REDIS_URL, and BASELINE_TENANT_URL / BASELINE_TOKEN / BASELINE_GROUP_ID /
BASELINE_TEMPLATE / BASELINE_LANGUAGE for the tenant.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import redis
import requests
from flask import Flask, Response, jsonify, request
from rq import Queue

from connector.rq_worker import RunWorker

QUEUE = "bench-baseline"
DONE_KEY = "bench:baseline:done"
FAILED_KEY = "bench:baseline:failed"

_redis = redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8"))
_queue = Queue(QUEUE, connection=_redis)
app = Flask(__name__)


@app.post("/hooks/in/<token>")
def receive(token: str) -> Response:
    _queue.enqueue(run_workflow, request.get_json())
    return jsonify({"ok": True})


@app.get("/v1/catalog/actions")
def ready() -> Response:
    return jsonify({"items": []})


_session: requests.Session | None = None


def _tenant() -> tuple[requests.Session, str]:
    global _session
    if _session is None:
        _session = requests.Session()
        _session.headers.update({"Authorization": f"Bearer {os.environ['BASELINE_TOKEN']}",
                                 "Accept": "application/json"})
    return _session, os.environ["BASELINE_TENANT_URL"].rstrip("/")


def run_workflow(form: dict[str, Any]) -> None:
    """upsert contact -> add to group -> send template, as five plain calls."""
    done = False
    try:
        done = _five_calls(form)
    finally:
        _redis.incr(DONE_KEY if done else FAILED_KEY)


def _five_calls(form: dict[str, Any]) -> bool:
    session, base = _tenant()
    first, _, last = str(form["name"]).partition(" ")
    phone = str(form["phone"])
    newest = session.get(f"{base}/contacts", params={"page": 1, "per_page": 10}, timeout=10)
    newest.raise_for_status()
    created = session.post(f"{base}/contacts", timeout=10, json={
        "firstname": first, "lastname": last or "-", "phone": phone, "type": "lead",
        "status_id": 1, "source_id": 2})
    if created.status_code >= 300:
        return False
    contact_id = created.json()["data"]["id"]
    current = session.get(f"{base}/contacts/{contact_id}", timeout=10).json()["data"]
    session.put(f"{base}/contacts/{contact_id}", timeout=10, json={
        "firstname": current["firstname"], "lastname": current["lastname"],
        "phone": current["phone"], "group_id": [int(os.environ["BASELINE_GROUP_ID"])],
    }).raise_for_status()
    sent = session.post(f"{base}/messages/template", timeout=10, json={
        "phone_number": phone.lstrip("+"), "template_name": os.environ["BASELINE_TEMPLATE"],
        "template_language": os.environ["BASELINE_LANGUAGE"], "field_1": first,
        "field_2": "Acme"})
    return sent.status_code < 300


def main(argv: list[str]) -> None:
    if argv[:1] != ["worker"]:
        raise SystemExit(__doc__)
    RunWorker([_queue], connection=_redis).work(logging_level="WARNING")


if __name__ == "__main__":
    main(sys.argv[1:])
