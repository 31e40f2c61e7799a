"""Workflow runs: invalid phones, the 24 h window, the dry run, one contact under concurrent
submissions, conditions and error policies, in_doubt sends and the trigger-item hook point."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.services.workflows import start_from_trigger_item
from connector.store.activity import record_inbound
from tests.conftest import DB_PARAMS
from tests.integration.test_workflows_forms import (
    contacts_with_phone,
    create_workflow,
    post_hook,
    workflow_runs,
)
from tests.support.forms import PRODUCTS, elementor, tally, welcome_definition
from tests.support.tenant_api import inject_fault, make_named, request_count, sent_messages
from tests.support.worker import drain, start_workers, stop_workers

PHONE = "+5511987654321"


@pytest.fixture
def group_id(tenant: dict[str, Any]) -> str:
    return str(make_named(tenant, "groups")["id"])


def test_invalid_phone_fails_the_run_naming_the_value_and_sends_nothing(
        client: Any, rt: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any], group_id: str) -> None:
    workflow = create_workflow(client, workspace, welcome_definition(
        connection["id"], PRODUCTS["tally"], group_id))
    before = request_count(tenant)
    assert post_hook(client, workflow, tally("Ana Souza", "12345")).status_code == 200
    drain(rt)
    [run] = workflow_runs(client, workspace, workflow["id"])
    assert run["status"] == "failed"
    assert run["error"]["step"] == "contact" and run["error"]["field"] == "/phone"
    assert "'12345'" in run["error"]["message"] and run["error"]["raw"] == "12345"
    assert [s["run_id"] for s in run["steps"]] == [None]  # no action run was created
    assert request_count(tenant) == before
    assert sent_messages(tenant) == []


@pytest.mark.parametrize("hours_ago, path", [
    pytest.param(2, "text", id="2h-text"),
    pytest.param(30, "template", id="30h-template"),
    pytest.param(23.8, "template", id="inside-24h-but-within-margin-template"),
])
def test_window_aware_send_picks_text_or_template(
        hours_ago: float, path: str, client: Any, rt: Any, workspace: dict[str, Any],
        tenant: dict[str, Any], connection: dict[str, Any], group_id: str) -> None:
    with rt.db.session() as session:
        record_inbound(session, connection_id=connection["id"], phone_e164=PHONE,
                       at=datetime.now(UTC) - timedelta(hours=hours_ago))
    workflow = create_workflow(client, workspace, welcome_definition(
        connection["id"], PRODUCTS["elementor"], group_id))
    assert post_hook(client, workflow, elementor("Ana Souza", PHONE)).status_code == 200
    drain(rt)
    [run] = workflow_runs(client, workspace, workflow["id"])
    assert run["status"] == "succeeded", run["error"]
    output = run["steps"][2]["output"]
    assert output["path"] == path
    assert f"{hours_ago:.1f} h ago" in output["reason"]
    [message] = sent_messages(tenant)
    assert message["kind"] == path
    if path == "text":
        assert "Hi Ana, thanks for writing!" in str(message["payload"])


def test_dry_run_resolves_every_step_and_makes_no_call(
        client: Any, rt: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any], group_id: str) -> None:
    workflow = create_workflow(client, workspace, welcome_definition(
        connection["id"], PRODUCTS["tally"], group_id))
    before = request_count(tenant)
    sample = tally("Ana Souza", "+55 11 98765-4321")
    response = client.post(f"/v1/workflows/{workflow['id']}/test",
                           json={"body": sample.body.decode(), "content_type": "application/json"},
                           headers=workspace["headers"])
    assert response.status_code == 200, response.get_json()
    steps = response.get_json()["steps"]
    assert [s["would_run"] for s in steps] == [True, True, True]
    assert steps[0]["input"] == {"phone": PHONE, "first_name": "Ana", "last_name": "Souza",
                                 "status_id": "1", "source_id": "2"}
    assert steps[0]["call"] == {"provider": "corbital", "operation": "upsert_contact",
                                "side_effect": True}
    assert steps[1]["input"]["group_id"] == group_id
    assert steps[2]["input"]["body_params"] == ["Ana", "Acme"]
    assert steps[2]["call"]["detail"]["path"] == "template"
    drain(rt)
    assert request_count(tenant) == before
    assert workflow_runs(client, workspace, workflow["id"]) == []


def test_saving_rejects_unknown_roots_later_steps_and_unknown_inputs(
        client: Any, workspace: dict[str, Any], connection: dict[str, Any],
        group_id: str) -> None:
    definition = welcome_definition(connection["id"], PRODUCTS["tally"], group_id)
    definition["steps"][0]["input"]["first_name"] = "{{ submission.name }}"
    definition["steps"][0]["input"]["company"] = "{{ steps.welcome.message_id }}"
    definition["steps"][1]["input"]["colour"] = "red"
    response = client.post("/v1/workflows", json=definition, headers=workspace["headers"])
    assert response.status_code == 422
    errors = {e["pointer"]: e["message"] for e in response.get_json()["errors"]}
    assert "unknown name 'submission'" in errors["/steps/0/input/first_name"]
    assert "steps.welcome is not an earlier step" in errors["/steps/0/input/company"]
    assert "no input 'colour'" in errors["/steps/1/input/colour"]


def test_condition_skips_and_continue_policy_goes_on(
        client: Any, rt: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any], group_id: str) -> None:
    definition = welcome_definition(connection["id"], PRODUCTS["elementor"], group_id)
    definition["steps"][1]["input"]["group_id"] = "999999"  # no such group: fails
    definition["steps"][1]["on_error"] = "continue"
    definition["steps"][2]["if"] = "{{ form.fields.name == 'Nobody' }}"
    workflow = create_workflow(client, workspace, definition)
    assert post_hook(client, workflow, elementor("Ana Souza", PHONE)).status_code == 200
    drain(rt)
    [run] = workflow_runs(client, workspace, workflow["id"])
    assert run["status"] == "succeeded"
    assert [s["status"] for s in run["steps"]] == ["succeeded", "failed", "skipped"]
    assert sent_messages(tenant) == []


def test_an_in_doubt_send_ends_the_run_and_is_never_resent(
        client: Any, rt: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any], group_id: str) -> None:
    inject_fault(tenant, kind="drop_after_effect", path_contains="messages/template")
    workflow = create_workflow(client, workspace, welcome_definition(
        connection["id"], PRODUCTS["elementor"], group_id))
    assert post_hook(client, workflow, elementor("Ana Souza", PHONE)).status_code == 200
    drain(rt)
    [run] = workflow_runs(client, workspace, workflow["id"])
    assert run["status"] == "in_doubt"
    assert "never resent" in run["error"]["message"]
    from connector.services.workflows import enqueue_advance
    enqueue_advance(rt, run["id"], job_id=f"{run['id']}-again")  # a stray advance changes nothing
    drain(rt)
    assert len(sent_messages(tenant)) == 1
    event = client.get(f"/v1/workflows/{workflow['id']}/events",
                       headers=workspace["headers"]).get_json()["items"][0]
    replay = client.post(f"/v1/workflows/{workflow['id']}/events/{event['id']}/replay",
                         headers=workspace["headers"])
    assert replay.status_code == 409 and "in_doubt" in replay.get_json()["detail"]


def test_a_three_step_run_commits_once_per_step_boundary(
        client: Any, rt: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any], group_id: str) -> None:
    """Each step's child run is inserted already claimed, and its final settle commits with
    the step boundary: upsert -> group -> send commits 6 times in the worker (the start,
    three boundaries, the send's "writing" mark, the 24 h window read). With a transaction
    per claim and per boundary it was 14."""
    from sqlalchemy import event

    workflow = create_workflow(client, workspace, welcome_definition(
        connection["id"], PRODUCTS["elementor"], group_id))
    assert post_hook(client, workflow, elementor("Ana Souza", PHONE)).status_code == 200
    commits: list[int] = []

    def count(conn: Any) -> None:
        commits.append(1)

    event.listen(rt.db.engine, "commit", count)
    try:
        drain(rt)
    finally:
        event.remove(rt.db.engine, "commit", count)
    [run] = workflow_runs(client, workspace, workflow["id"])
    assert run["status"] == "succeeded"
    assert [step["status"] for step in run["steps"]] == ["succeeded"] * 3
    assert len(commits) == 6


def test_a_step_its_own_worker_claimed_and_never_ran_is_run_by_the_next_advance(
        client: Any, rt: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any], group_id: str) -> None:
    """An advance in this worker claimed the first step's child and stopped before running it
    (an exception, an ambiguous commit). The worker is alive, so the sweeper leaves the child
    alone; the next advance in the same worker knows nobody runs it, and runs it."""
    from sqlalchemy import update

    from connector.engine.workflow_runner import WorkflowRunner
    from connector.store import runs
    from connector.store.workflow_models import WorkflowRun

    worker = "w-orphan-1"
    workflow = create_workflow(client, workspace, welcome_definition(
        connection["id"], PRODUCTS["elementor"], group_id))
    assert post_hook(client, workflow, elementor("Ana Souza", PHONE)).status_code == 200
    [queued] = workflow_runs(client, workspace, workflow["id"])
    data = {"phone": PHONE, "first_name": "Ana", "last_name": "Souza", "status_id": "1",
            "source_id": "2"}
    child = runs.new_claimed_run(workspace_id=workspace["id"], connection_id=connection["id"],
                                 action_key="upsert_contact", data=data, queue="actions",
                                 worker_id=worker)
    with rt.db.engine.begin() as conn:
        runs.insert_runs(conn, [child])
        conn.execute(update(WorkflowRun.__table__).where(WorkflowRun.id == queued["id"]).values(
            status="running", steps=[{"name": "contact", "action": "upsert_contact",
                                      "run_id": child.id, "status": "running", "input": data}]))
    assert WorkflowRunner(rt, worker).advance(queued["id"]) is None
    [run] = workflow_runs(client, workspace, workflow["id"])
    assert run["status"] == "succeeded", run
    step = client.get(f"/v1/runs/{child.id}", headers=workspace["headers"]).get_json()
    assert [a["outcome"]["kind"] for a in step["attempts"]] == ["abandoned", "success"]
    assert "stopped before the attempt ended" in step["attempts"][0]["outcome"]["message"]
    assert len(contacts_with_phone(tenant, PHONE)) == 1
    assert len(sent_messages(tenant)) == 1


def test_trigger_items_start_matching_workflows_once(
        client: Any, rt: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any], group_id: str) -> None:
    definition = {"name": "new contact to group", "connection_id": connection["id"],
                  "trigger": {"kind": "trigger_item", "trigger": "new_contact"},
                  "steps": [{"name": "group", "action": "add_contact_to_group",
                             "input": {"contact_id": "{{ trigger.id }}", "group_id": group_id}}]}
    workflow = create_workflow(client, workspace, definition)
    contact = {"id": "0", "phone": PHONE}
    from tests.support.tenant_api import make_contact
    contact["id"] = str(make_contact(tenant)["id"])
    for _ in range(2):
        started = start_from_trigger_item(rt, workspace_id=workspace["id"],
                                          trigger_key="new_contact", item=contact)
    assert started == []  # the second delivery of the same item starts nothing
    drain(rt)
    [run] = workflow_runs(client, workspace, workflow["id"])
    assert run["status"] == "succeeded", run["error"]
    assert group_id in run["steps"][0]["output"]["group_ids"]


def test_twenty_concurrent_submissions_with_one_phone_make_one_contact(
        client: Any, rt: Any, settings: Any, database_url: str, workspace: dict[str, Any],
        tenant: dict[str, Any], connection: dict[str, Any], group_id: str) -> None:
    if database_url.startswith("sqlite") and "postgresql" in DB_PARAMS:
        # Heavy (real worker processes); the per-phone lock lives in Redis, so the database
        # doesn't change the outcome: run it once, on the database production uses.
        pytest.skip("runs on PostgreSQL only when PostgreSQL is available")
    workflow = create_workflow(client, workspace, welcome_definition(
        connection["id"], PRODUCTS["tally"], group_id))
    workers = start_workers(settings, processes=4)
    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(
                lambda i: post_hook(client, workflow, tally("Ana Souza", "+55 11 98765-4321",
                                                            submission=f"resp{i}")),
                range(20)))
        assert [a.status_code for a in answers] == [200] * 20
        runs = _wait_for_workflow_runs(client, workspace, workflow["id"], 20)
    finally:
        stop_workers(workers)
    assert {r["status"] for r in runs} == {"succeeded"}, [r["error"] for r in runs]
    assert len(contacts_with_phone(tenant, PHONE)) == 1
    assert sum(1 for r in runs if r["steps"][0]["output"]["created"]) == 1


def _wait_for_workflow_runs(client: Any, workspace: dict[str, Any], workflow_id: str,
                            expected: int, wait_s: float = 90) -> list[dict[str, Any]]:
    import time

    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        runs = workflow_runs(client, workspace, workflow_id)
        done = [r for r in runs if r["status"] not in ("queued", "running")]
        if len(done) >= expected:
            return done
        time.sleep(0.2)
    raise AssertionError(f"fewer than {expected} workflow runs finished within {wait_s} s")


def test_a_lost_job_is_recovered_by_the_workflow_sweep(
        client: Any, rt: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any], group_id: str) -> None:
    from connector.services.workflow_sweep import sweep

    workflow = create_workflow(client, workspace, welcome_definition(
        connection["id"], PRODUCTS["elementor"], group_id))
    assert post_hook(client, workflow, elementor("Ana Souza", PHONE)).status_code == 200
    rt.redis.flushdb()  # Redis lost the job; the submission and its run are in the database
    drain(rt)
    assert [r["status"] for r in workflow_runs(client, workspace, workflow["id"])] == ["queued"]
    assert sweep(rt, now=datetime.now(UTC) + timedelta(minutes=5))["advanced"] == 1
    drain(rt)
    assert [r["status"] for r in workflow_runs(client, workspace, workflow["id"])] == \
        ["succeeded"]
    assert len(sent_messages(tenant)) == 1


def test_schedule_workflow_runs_with_its_data_once_per_tick(
        client: Any, rt: Any, workspace: dict[str, Any], connection: dict[str, Any],
        group_id: str) -> None:
    from connector.services.workflow_sweep import workflow_entries
    from connector.services.workflows import start_scheduled

    definition = {"name": "hourly groups", "connection_id": connection["id"],
                  "trigger": {"kind": "schedule", "interval_s": 3600,
                              "data": {"group_id": group_id}},
                  "steps": [{"name": "group", "action": "get_group",
                             "input": {"id": "{{ trigger.data.group_id }}"}}]}
    workflow = create_workflow(client, workspace, definition)
    entries = [e for e in workflow_entries(rt) if e.func.endswith("start_scheduled_workflow")]
    assert [e.args for e in entries] == [(workflow["id"], 3600.0)]
    assert start_scheduled(rt, workflow["id"], tick=7) is not None
    assert start_scheduled(rt, workflow["id"], tick=7) is None
    drain(rt)
    [run] = workflow_runs(client, workspace, workflow["id"])
    assert run["status"] == "succeeded", run["error"]
    assert run["steps"][0]["output"]["id"] == group_id


def test_raw_submissions_are_encrypted_and_deleted_after_retention(
        client: Any, rt: Any, workspace: dict[str, Any], connection: dict[str, Any],
        group_id: str) -> None:
    from sqlalchemy import select

    from connector.services.workflow_sweep import sweep
    from connector.store.workflow_models import WorkflowEvent

    workflow = create_workflow(client, workspace, welcome_definition(
        connection["id"], PRODUCTS["elementor"], group_id))
    assert post_hook(client, workflow, elementor("Ana Souza", PHONE)).status_code == 200
    drain(rt)
    with rt.db.session() as session:
        stored = session.scalars(select(WorkflowEvent)).one()
    assert stored.body_encrypted and b"Souza" not in stored.body_encrypted.encode()
    later = datetime.now(UTC) + timedelta(seconds=rt.settings.workflow_retention_s + 60)
    assert sweep(rt, now=later)["purged"] == 1
    [event] = client.get(f"/v1/workflows/{workflow['id']}/events",
                         headers=workspace["headers"]).get_json()["items"]
    assert event["body_kept"] is False
    replay = client.post(f"/v1/workflows/{workflow['id']}/events/{event['id']}/replay",
                         headers=workspace["headers"])
    assert replay.status_code == 409 and "retention" in replay.get_json()["detail"]
