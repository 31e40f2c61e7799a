"""Retries, in_doubt, idempotency and crash recovery, against real Redis, DB and sandbox."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import requests

from connector import jobs
from connector.runtime import Runtime
from connector.store.models import Run
from tests.support.tenant_api import inject_fault, make_contact, request_count, sent_messages
from tests.support.worker import drain, start_workers, stop_workers

WAIT_S = 60


def call(client: Any, workspace: dict[str, Any], connection_id: str, key: str,
         data: dict[str, Any], **headers: str) -> Any:
    return client.post(f"/v1/connections/{connection_id}/actions/{key}", json=data,
                       headers={**workspace["headers"], **headers})


def get_run(client: Any, workspace: dict[str, Any], run_id: str) -> dict[str, Any]:
    return dict(client.get(f"/v1/runs/{run_id}", headers=workspace["headers"]).get_json())


def test_5xx_on_a_read_is_retried_and_succeeds(client: Any, rt: Any, workspace: dict[str, Any],
                                               tenant: dict[str, Any],
                                               connection: dict[str, Any]) -> None:
    inject_fault(tenant, kind="status", status=503, method="GET", path_contains="/groups",
                 times=2)
    response = call(client, workspace, connection["id"], "list_groups", {})
    drain(rt)
    run = get_run(client, workspace, response.get_json()["id"])
    assert run["status"] == "succeeded"
    assert [a["outcome"]["kind"] for a in run["attempts"]] == ["transient", "transient", "success"]


def test_5xx_after_a_send_is_in_doubt_and_not_resent(client: Any, rt: Any,
                                                     workspace: dict[str, Any],
                                                     tenant: dict[str, Any],
                                                     connection: dict[str, Any]) -> None:
    phone = make_contact(tenant)["phone"]
    inject_fault(tenant, kind="status_after_effect", status=500, method="POST",
                 path_contains="/messages/send", times=1)
    response = call(client, workspace, connection["id"], "send_text",
                    {"phone": phone, "text": "once only"})
    drain(rt)
    run = get_run(client, workspace, response.get_json()["id"])
    assert run["status"] == "in_doubt"
    assert len(run["attempts"]) == 1
    assert len(sent_messages(tenant)) == 1


def test_read_timeout_after_a_send_is_in_doubt(client: Any, rt: Any, workspace: dict[str, Any],
                                               tenant: dict[str, Any],
                                               connection: dict[str, Any]) -> None:
    phone = make_contact(tenant)["phone"]
    inject_fault(tenant, kind="timeout_after_effect", delay_ms=7000, method="POST",
                 path_contains="/messages/template", times=1)
    response = call(client, workspace, connection["id"], "send_template",
                    {"phone": phone, "template_name": "welcome", "body_params": ["A", "B"]})
    drain(rt)
    run = get_run(client, workspace, response.get_json()["id"])
    assert run["status"] == "in_doubt", run["error"]
    assert len(sent_messages(tenant)) == 1


def test_a_dropped_connection_before_a_read_is_retried(client: Any, rt: Any,
                                                       workspace: dict[str, Any],
                                                       tenant: dict[str, Any],
                                                       connection: dict[str, Any]) -> None:
    inject_fault(tenant, kind="drop", method="GET", path_contains="/statuses", times=1)
    response = call(client, workspace, connection["id"], "list_statuses", {})
    drain(rt)
    assert get_run(client, workspace, response.get_json()["id"])["status"] == "succeeded"


def test_in_doubt_run_can_be_replayed_explicitly(client: Any, rt: Any, workspace: dict[str, Any],
                                                 tenant: dict[str, Any],
                                                 connection: dict[str, Any]) -> None:
    phone = make_contact(tenant)["phone"]
    inject_fault(tenant, kind="status_after_effect", status=502, method="POST",
                 path_contains="/messages/send", times=1)
    first = call(client, workspace, connection["id"], "send_text", {"phone": phone, "text": "hi"})
    drain(rt)
    run_id = first.get_json()["id"]
    replay = client.post(f"/v1/runs/{run_id}/retry", headers=workspace["headers"])
    assert replay.status_code == 202
    drain(rt)
    replayed = get_run(client, workspace, replay.get_json()["id"])
    assert replayed["status"] == "succeeded" and replayed["replay_of"] == run_id
    assert len(sent_messages(tenant)) == 2  # the operator chose to send again


def test_same_idempotency_key_makes_one_upstream_call(client: Any, rt: Any,
                                                      workspace: dict[str, Any],
                                                      tenant: dict[str, Any],
                                                      connection: dict[str, Any]) -> None:
    phone = make_contact(tenant)["phone"]
    body = {"phone": phone, "text": "exactly once"}
    key = {"Idempotency-Key": "k1"}
    first = call(client, workspace, connection["id"], "send_text", body, **key)
    second = call(client, workspace, connection["id"], "send_text", body, **key)
    assert first.status_code == second.status_code == 202
    assert first.get_json()["id"] == second.get_json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    drain(rt)
    third = call(client, workspace, connection["id"], "send_text", body, **key)
    assert third.get_json()["id"] == first.get_json()["id"]
    assert len(sent_messages(tenant)) == 1
    other = call(client, workspace, connection["id"], "send_text", {**body, "text": "changed"},
                 **{"Idempotency-Key": "k1"})
    assert other.status_code == 422
    assert other.mimetype == "application/problem+json"


def test_prefer_wait_answers_with_the_finished_run(client: Any, rt: Any,
                                                   workspace: dict[str, Any],
                                                   connection: dict[str, Any]) -> None:
    workers = start_workers(rt.settings, processes=1)
    try:
        response = call(client, workspace, connection["id"], "list_templates", {},
                        Prefer="wait=20")
    finally:
        stop_workers(workers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "succeeded"
    assert response.get_json()["output"]["items"]


def test_kill_9_during_a_send_ends_in_doubt_and_sends_once(
        client: Any, rt: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    phone = make_contact(tenant)["phone"]
    inject_fault(tenant, kind="latency", delay_ms=4000, method="POST",
                 path_contains="/messages/send", times=1)
    workers = start_workers(rt.settings, processes=1)
    try:
        run_id = call(client, workspace, connection["id"], "send_text",
                      {"phone": phone, "text": "mid-flight"}).get_json()["id"]
        run = _wait_until(rt, run_id, lambda r: r.phase == "writing")
        _wait_inflight(tenant, "/messages/send")  # the send has reached the tenant
        pid = int(str(run.worker_id).rsplit("-", 1)[1])
        os.kill(pid, signal.SIGKILL)
        # The pool restarts a worker; the dead one's heartbeat expires, the sweep decides.
        _wait_until(rt, run_id, lambda r: _sweep_and_check(r), timeout_s=30)
    finally:
        stop_workers(workers)
    final = get_run(client, workspace, run_id)
    assert final["status"] == "in_doubt"
    drain(rt)
    assert len(_wait_messages(tenant, 1)) == 1


def test_kill_9_before_anything_was_sent_retries_the_run(
        client: Any, rt: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    inject_fault(tenant, kind="latency", delay_ms=4000, method="GET", path_contains="/groups",
                 times=1)
    workers = start_workers(rt.settings, processes=1)
    try:
        run_id = call(client, workspace, connection["id"], "list_groups", {}).get_json()["id"]
        run = _wait_until(rt, run_id, lambda r: r.status == "running")
        os.kill(int(str(run.worker_id).rsplit("-", 1)[1]), signal.SIGKILL)
        _wait_until(rt, run_id, lambda r: _sweep_and_check(r, "succeeded"), timeout_s=40)
    finally:
        stop_workers(workers)
    final = get_run(client, workspace, run_id)
    assert final["status"] == "succeeded"
    assert final["attempts"][0]["outcome"]["kind"] == "abandoned"


def test_kill_9_during_a_workflow_step_write_repeats_the_step_and_finishes_the_run(
        client: Any, rt: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    """A step's worker dies while the step's write (the group PUT, read-before-write: safe to
    repeat) is at the tenant. The sweeper runs the step again (no in_doubt), then the
    workflow sweep carries the run on: one contact, in the group, one message."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from connector.services.workflow_sweep import sweep
    from tests.integration.test_workflows_forms import (
        contacts_with_phone,
        create_workflow,
        post_hook,
        workflow_runs,
    )
    from tests.support.forms import PRODUCTS, elementor, welcome_definition
    from tests.support.tenant_api import make_named
    from tests.support.triggers import wait_until

    phone = "+5511987650001"
    group_id = str(make_named(tenant, "groups")["id"])
    workflow = create_workflow(client, workspace, welcome_definition(
        connection["id"], PRODUCTS["elementor"], group_id))
    inject_fault(tenant, kind="latency", delay_ms=4000, method="PUT", path_contains="/contacts/",
                 times=1)

    def group_step() -> str | None:
        with rt.db.session() as session:  # a new snapshot each time
            return session.scalar(select(Run.id).where(Run.action_key == "add_contact_to_group"))

    workers = start_workers(rt.settings, processes=1)
    try:
        assert post_hook(client, workflow, elementor("Ana Souza", phone)).status_code == 200
        wait_until(lambda: group_step() is not None, WAIT_S, "the group step")
        step_id = str(group_step())
        _wait_inflight(tenant, "/contacts/", method="PUT")  # the write is at the tenant
        run = _wait_until(rt, step_id, lambda r: r.status == "running")
        os.kill(int(str(run.worker_id).rsplit("-", 1)[1]), signal.SIGKILL)
        step = _wait_until(rt, step_id, lambda r: _sweep_and_check(r, "succeeded"))

        def finished() -> bool:
            if workflow_runs(client, workspace, workflow["id"])[0]["status"] in ("queued",
                                                                                 "running"):
                sweep(rt, now=datetime.now(UTC) + timedelta(minutes=5))
                return False
            return True

        wait_until(finished, WAIT_S, "the workflow run's end")
    finally:
        stop_workers(workers)
    # abandoned, then (while the dead worker's contact lock lasts) throttled, then done
    abandoned, *waits, done = step.attempts
    assert abandoned["outcome"]["kind"] == "abandoned"
    assert "safe to repeat" in abandoned["outcome"]["message"]
    assert {w["outcome"]["kind"] for w in waits} <= {"throttled"}
    assert done["outcome"]["kind"] == "success"
    [wf_run] = workflow_runs(client, workspace, workflow["id"])
    assert wf_run["status"] == "succeeded", wf_run
    [contact] = contacts_with_phone(tenant, phone)
    assert int(group_id) in contact["group_id"]
    assert len(_wait_messages(tenant, 1)) == 1


def test_a_record_locked_by_another_run_is_waited_for_then_changed(
        client: Any, rt: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any], monkeypatch: Any) -> None:
    """A run that can't get its contact's lock is throttled (no attempt spent, nothing
    written), never left `running`; once the lock is free it goes through."""
    from connector import runtime as runtime_module
    from tests.support.tenant_api import make_named, upstream

    monkeypatch.setattr(runtime_module, "LOCK_WAIT_S", 0.2)
    contact, group = make_contact(tenant), make_named(tenant, "groups")
    jobs.bind_runtime(rt)
    with rt.lock(f"contact:{connection['id']}:{contact['id']}"):
        run_id = call(client, workspace, connection["id"], "add_contact_to_group",
                      {"contact_id": str(contact["id"]),
                       "group_id": str(group["id"])}).get_json()["id"]
        assert jobs.execute_run(run_id) == "queued"
        waiting = get_run(client, workspace, run_id)
    assert waiting["status"] == "queued"
    [attempt] = waiting["attempts"]
    assert attempt["outcome"]["kind"] == "throttled"
    assert "another run is changing the same record" in attempt["outcome"]["message"]
    assert attempt["exchanges"] == []
    drain(rt)
    final = get_run(client, workspace, run_id)
    assert final["status"] == "succeeded"
    stored = upstream(tenant, "GET", f"contacts/{contact['id']}")["data"]
    assert group["id"] in stored["group_id"]


def test_a_failing_follow_up_never_costs_a_run_its_result(rt: Any, workspace: dict[str, Any],
                                                          connection: dict[str, Any]) -> None:
    """`settle_claimed(then=...)`: the follow-up shares the settle's transaction; when it
    raises, the run is settled without it and the caller sees no follow-up result."""
    from connector.store import runs
    from connector.store.states import RunStatus

    run = runs.new_claimed_run(workspace_id=workspace["id"], connection_id=connection["id"],
                               action_key="list_groups", data={}, queue="actions",
                               worker_id="w-test-1")
    with rt.db.engine.begin() as conn:
        runs.insert_runs(conn, [run])

    def follow_up(conn: Any, result: Any) -> None:
        # A column the settle itself leaves alone: it shows whether this write was kept.
        conn.execute(runs.RUNS.update().where(runs.RUNS.c.id == run.id)
                     .values(delivery={"probe": True}))
        raise RuntimeError("the follow-up broke")

    settled = runs.settle_claimed(rt.db, run, runs.AttemptResult(
        status=RunStatus.SUCCEEDED, attempt_record={"n": 1}, output={"ok": True}),
        then=follow_up)
    assert settled is not None and settled.then is None
    with rt.db.session() as session:
        stored = session.get(Run, run.id)
    assert stored is not None
    assert (stored.status, stored.output, stored.delivery) == ("succeeded", {"ok": True}, None)


def test_token_is_never_stored_logged_or_answered_in_clear(
        client: Any, rt: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any], caplog: Any) -> None:
    token = tenant["token"]
    caplog.set_level("DEBUG")
    phone = make_contact(tenant)["phone"]
    answers = [call(client, workspace, connection["id"], "send_text",
                    {"phone": phone, "text": "x"})]
    inject_fault(tenant, kind="status", status=500, method="GET", times=1)
    answers.append(call(client, workspace, connection["id"], "list_contacts", {}))
    drain(rt)
    answers += [client.get("/v1/runs", headers=workspace["headers"]),
                client.get(f"/v1/connections/{connection['id']}", headers=workspace["headers"]),
                client.get("/v1/connections", headers=workspace["headers"])]
    for answer in answers:
        assert token not in answer.get_data(as_text=True)
    assert token not in caplog.text
    dump = _database_dump(rt)
    assert token not in dump
    assert "[REDACTED]" in dump  # the Authorization header was recorded, redacted
    for key in rt.redis.scan_iter("*"):
        if rt.redis.type(key) == b"string":
            assert token.encode() not in (rt.redis.get(key) or b"")
        elif rt.redis.type(key) == b"hash":
            assert all(token.encode() not in v for v in rt.redis.hvals(key))


def _database_dump(rt: Any) -> str:
    from sqlalchemy import text

    from connector.store.models import Base

    chunks = []
    with rt.db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(text(f"SELECT * FROM {table.name}")):
                chunks.append(repr(tuple(row)))
    return "\n".join(chunks)


def _sweep_and_check(run: Run, status: str = "in_doubt") -> bool:
    if run.status == status:
        return True
    jobs.sweep_outbox()
    return False


def _wait_until(rt: Any, run_id: str, predicate: Any, timeout_s: float = WAIT_S) -> Run:
    """Bounded wait for a run to reach a state (the worker and sweeper are other processes)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with rt.db.session() as session:
            run = session.get(Run, run_id)
        if run is not None and predicate(run):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not reach the expected state in {timeout_s} s")


def _wait_inflight(tenant: dict[str, Any], path: str, timeout_s: float = 10,
                   method: str | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = requests.get(f"{tenant['sandbox']}/_admin/inflight",
                            params={"tenant": tenant["slug"]}, timeout=5).json()["requests"]
        if any(path in row["path"] and method in (None, row["method"]) for row in rows):
            return
        time.sleep(0.05)
    raise AssertionError(f"no request to {path} in flight within {timeout_s} s")


def _wait_messages(tenant: dict[str, Any], count: int, timeout_s: float = 10) -> list[Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        messages = sent_messages(tenant)
        if len(messages) >= count:
            time.sleep(0.5)  # and make sure no second copy follows
            return sent_messages(tenant)
        time.sleep(0.1)
    return sent_messages(tenant)


def test_requests_count_helper_counts(tenant: dict[str, Any]) -> None:
    before = request_count(tenant)
    make_contact(tenant)
    assert request_count(tenant) == before + 1


def test_upstream_429_reschedules_after_retry_after_without_spending_attempts(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    from tests.conftest import make_connection, make_tenant

    # The connection believes in a generous limit; the tenant enforces 3 per 2 s.
    tenant = make_tenant(sandbox, rate_limit_max=3, rate_limit_decay_s=2)
    connection = make_connection(client, workspace, tenant, rate_limit=1000, rate_window_s=60)
    run_ids = [call(client, workspace, connection["id"], "list_sources", {}).get_json()["id"]
               for _ in range(6)]
    drain(rt, timeout_s=60)
    runs = [get_run(client, workspace, run_id) for run_id in run_ids]
    assert {r["status"] for r in runs} == {"succeeded"}
    kinds = [a["outcome"]["kind"] for r in runs for a in r["attempts"]]
    assert "throttled" in kinds
    throttled = [a for r in runs for a in r["attempts"] if a["outcome"]["kind"] == "throttled"]
    assert all(a["outcome"]["retry_after_s"] >= 1 for a in throttled)
    assert all(r["attempt_count"] >= 1 for r in runs)


def test_a_run_accepted_while_redis_is_down_is_enqueued_by_the_outbox_sweep(
        settings: Any, rt: Any, workspace: dict[str, Any], connection: dict[str, Any]) -> None:
    from connector.app import create_app

    # An API process whose Redis is unreachable: the run is stored, the answer is still 202.
    broken = create_app(settings.with_overrides(redis_url="redis://127.0.0.1:1/0"))
    try:
        response = broken.test_client().post(
            f"/v1/connections/{connection['id']}/actions/list_statuses", json={},
            headers=workspace["headers"])
    finally:
        broken.extensions["wa_runtime"].close()
    assert response.status_code == 202
    run_id = response.get_json()["id"]
    sweeper = Runtime(rt.settings.with_overrides(outbox_grace_s=0))
    jobs.bind_runtime(sweeper)
    try:
        assert jobs.sweep_outbox()["reenqueued"] == 1
        drain(sweeper)
    finally:
        jobs.bind_runtime(rt)
        sweeper.close()
    with rt.db.session() as session:
        assert session.get(Run, run_id).status == "succeeded"
