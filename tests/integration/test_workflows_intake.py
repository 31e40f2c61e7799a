"""Storing form submissions: concurrent posts share a transaction (group commit) yet each is
stored once, and a hook URL cached by this process but rotated or edited by another is
checked at write time (`services/intake.py`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select, update

from connector.redis_keys import workflow_inbox_key
from connector.services.intake import forward
from connector.store.workflow_models import Workflow, WorkflowEvent, WorkflowRun
from tests.integration.test_workflows_forms import create_workflow, post_hook, workflow_runs
from tests.support.forms import PRODUCTS, elementor, tally, welcome_definition
from tests.support.tenant_api import make_named
from tests.support.worker import drain

PHONE = "+5511987654321"


@pytest.fixture
def workflow(client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
             connection: dict[str, Any]) -> dict[str, Any]:
    group_id = str(make_named(tenant, "groups")["id"])
    return create_workflow(client, workspace, welcome_definition(
        connection["id"], PRODUCTS["elementor"], group_id))


def _count(rt: Any, model: Any) -> int:
    with rt.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_concurrent_distinct_submissions_are_each_stored_and_enqueued_once(
        client: Any, rt: Any, workflow: dict[str, Any]) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(
            lambda i: post_hook(client, workflow, elementor(f"Ana {i}", PHONE, submission=str(i))),
            range(24)))
    assert [a.status_code for a in answers] == [200] * 24
    bodies = [a.get_json() for a in answers]
    assert len({b["run_id"] for b in bodies}) == 24 and not any(b["duplicate"] for b in bodies)
    assert _count(rt, WorkflowEvent) == 24 and _count(rt, WorkflowRun) == 24
    run_ids = sorted(b["run_id"] for b in bodies)
    assert sorted(r.decode() for r in rt.redis.lrange(workflow_inbox_key(), 0, -1)) == run_ids
    [forwarder] = _queued(rt)  # one forwarder job for all of them
    assert forward(rt) == 24 and rt.redis.llen(workflow_inbox_key()) == 0
    assert sorted(set(_queued(rt)) - {forwarder}) == run_ids  # job id = run id


def _queued(rt: Any) -> list[str]:
    return [j.decode() for j in rt.redis.lrange("rq:queue:actions", 0, -1)]


def test_a_submission_after_the_forwarder_ended_gets_a_new_forwarder(
        client: Any, rt: Any, workspace: dict[str, Any], workflow: dict[str, Any]) -> None:
    assert post_hook(client, workflow, elementor("Ana Souza", PHONE, "a")).status_code == 200
    assert forward(rt) == 1  # ... and the forwarder's mark is gone with it
    assert post_hook(client, workflow, elementor("Ana Souza", PHONE, "b")).status_code == 200
    assert len(_queued(rt)) == 3  # the first forwarder, its run's job, a second forwarder
    drain(rt)
    runs = workflow_runs(client, workspace, workflow["id"])
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]


def test_the_same_submission_posted_concurrently_starts_one_run(
        client: Any, rt: Any, workflow: dict[str, Any]) -> None:
    hook = tally("Ana Souza", PHONE, submission="resp-1")
    definition = dict(workflow)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: post_hook(client, definition, hook), range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    bodies = [a.get_json() for a in answers]
    assert sum(1 for b in bodies if not b["duplicate"]) == 1
    assert len({b["run_id"] for b in bodies}) == 1 and len({b["event_id"] for b in bodies}) == 1
    assert _count(rt, WorkflowRun) == 1
    with rt.db.session() as session:
        assert session.scalar(select(WorkflowEvent.duplicates)) == 7


def test_a_hook_rotated_by_another_process_stops_at_once_here(
        client: Any, rt: Any, workflow: dict[str, Any]) -> None:
    assert post_hook(client, workflow, elementor("Ana Souza", PHONE, "a")).status_code == 200
    # Another API process rotates the URL: this process's cache still holds the old token.
    with rt.db.session() as session:
        session.execute(update(Workflow).where(Workflow.id == workflow["id"])
                        .values(hook_token_hash="0" * 64))
    refused = post_hook(client, workflow, elementor("Ana Souza", PHONE, "b"))
    assert refused.status_code == 404
    assert _count(rt, WorkflowEvent) == 1


def test_a_workflow_edited_by_another_process_is_read_again_before_storing(
        client: Any, rt: Any, workspace: dict[str, Any], workflow: dict[str, Any]) -> None:
    assert post_hook(client, workflow, elementor("Ana Souza", PHONE, "a")).status_code == 200
    with rt.db.session() as session:
        stored = session.get(Workflow, workflow["id"])
        assert stored is not None
        definition = {**stored.definition, "steps": stored.definition["steps"][:1]}
        session.execute(update(Workflow).where(Workflow.id == workflow["id"])
                        .values(definition=definition, version=Workflow.version + 1))
    answer = post_hook(client, workflow, elementor("Ana Souza", PHONE, "b"))
    assert answer.status_code == 200
    with rt.db.session() as session:
        run = session.get(WorkflowRun, answer.get_json()["run_id"])
        assert run is not None and [s["name"] for s in run.definition["steps"]] == ["contact"]
    drain(rt)
    latest = workflow_runs(client, workspace, workflow["id"])[0]
    assert latest["status"] == "succeeded" and len(latest["steps"]) == 1
