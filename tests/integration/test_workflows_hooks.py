"""The form hook endpoint: signatures, replay windows, dedupe, malformed bodies, rotation,
events and replays. Nothing is stored for a refused request."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.integration.test_workflows_forms import create_workflow, post_hook, workflow_runs
from tests.support.forms import (
    PRODUCTS,
    HookRequest,
    elementor,
    typeform,
    webflow,
    welcome_definition,
)
from tests.support.tenant_api import make_named, sent_messages
from tests.support.worker import drain


@pytest.fixture
def make_flow(client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
              connection: dict[str, Any]) -> Any:
    group = make_named(tenant, "groups")

    def make(product: str) -> dict[str, Any]:
        return create_workflow(client, workspace, welcome_definition(
            connection["id"], PRODUCTS[product], str(group["id"])))
    return make


def events(client: Any, workspace: dict[str, Any], workflow_id: str) -> list[dict[str, Any]]:
    body = client.get(f"/v1/workflows/{workflow_id}/events", headers=workspace["headers"])
    return list(body.get_json()["items"])


def test_bad_signature_is_401_and_starts_nothing(client: Any, workspace: dict[str, Any],
                                                  make_flow: Any) -> None:
    workflow = make_flow("typeform")
    forged = typeform("Ana Souza", "+5511987654321", secret="not-the-secret")
    unsigned = typeform("Ana Souza", "+5511987654321", secret=None)
    for request in (forged, unsigned):
        response = post_hook(client, workflow, request)
        assert response.status_code == 401
        assert "Typeform-Signature" in response.get_json()["detail"]
    tampered = typeform("Ana Souza", "+5511987654321")
    tampered.body = tampered.body.replace(b"Ana", b"Eve")
    assert post_hook(client, workflow, tampered).status_code == 401
    assert events(client, workspace, workflow["id"]) == []
    assert workflow_runs(client, workspace, workflow["id"]) == []


def test_replayed_old_timestamp_is_401(client: Any, workspace: dict[str, Any],
                                       make_flow: Any) -> None:
    workflow = make_flow("webflow")
    old = webflow("Ana Souza", 5511987654321,
                  timestamp_ms=int((time.time() - 3600) * 1000))
    response = post_hook(client, workflow, old)
    assert response.status_code == 401
    assert "old" in response.get_json()["detail"]
    assert events(client, workspace, workflow["id"]) == []


@pytest.mark.parametrize("build", [
    pytest.param(lambda: typeform("Ana Souza", "+5511987654321", submission="01HX7SAME"),
                 id="by-submission-id"),
    pytest.param(lambda: elementor("Ana Souza", "+55 11 98765-4321"), id="by-body-hash"),
])
def test_same_submission_three_times_is_one_run(build: Any, client: Any, rt: Any,
                                                workspace: dict[str, Any], tenant: dict[str, Any],
                                                make_flow: Any) -> None:
    request = build()
    product = "typeform" if "Typeform-Signature" in request.headers else "elementor"
    workflow = make_flow(product)
    answers = [post_hook(client, workflow, request) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.get_json()["duplicate"] for a in answers] == [False, True, True]
    drain(rt)
    assert len(workflow_runs(client, workspace, workflow["id"])) == 1
    [event] = events(client, workspace, workflow["id"])
    assert event["duplicates"] == 2 and event["run"]["status"] == "succeeded"
    assert len(sent_messages(tenant)) == 1


MALFORMED = [
    pytest.param(HookRequest(b'{"event_id": "x", "form_response": {"answers": [',
                             "application/json"), 400, "not valid JSON", id="truncated-json"),
    pytest.param(HookRequest(b"<xml/>", "application/xml"), 415, "unsupported content type",
                 id="wrong-content-type"),
    pytest.param(HookRequest(b"", "application/json"), 400, "empty", id="empty"),
    pytest.param(HookRequest(b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json"), 400,
                 "nested deeper", id="deep-json"),
    pytest.param(HookRequest(b'{"a": ' + b"[" * 40 + b"1" + b"]" * 40 + b"}",
                             "application/json"), 422, "nested deeper", id="nested-41"),
    pytest.param(HookRequest(b"fields" + b"[a]" * 40 + b"=1", "application/x-www-form-urlencoded"),
                 422, "nested deeper", id="deep-brackets"),
    pytest.param(HookRequest(b"--x\r\nnot a part", "multipart/form-data; boundary=y"), 400,
                 "multipart", id="bad-multipart"),
    pytest.param(HookRequest(b"\xff\xfe{", "application/json"), 400, "UTF-8", id="not-utf8"),
    pytest.param(HookRequest(b"x" * (2 * 1024 * 1024), "application/json"), 413, "",
                 id="2-MiB"),
]


@pytest.mark.parametrize("request_, status, words", MALFORMED)
def test_malformed_body_is_4xx_with_a_reason_and_nothing_stored(
        request_: HookRequest, status: int, words: str, client: Any,
        workspace: dict[str, Any], make_flow: Any) -> None:
    workflow = make_flow("elementor")
    response = post_hook(client, workflow, request_)
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert words in response.get_json()["detail"]
    assert events(client, workspace, workflow["id"]) == []


def test_rotating_the_hook_url_retires_the_old_one(client: Any, workspace: dict[str, Any],
                                                   make_flow: Any) -> None:
    workflow = make_flow("elementor")
    rotated = client.post(f"/v1/workflows/{workflow['id']}/rotate",
                          headers=workspace["headers"]).get_json()
    assert rotated["hook_url"] != workflow["hook_url"]
    assert post_hook(client, workflow, elementor("Ana Souza", "+5511987654321")).status_code \
        == 404
    assert post_hook(client, rotated, elementor("Ana Souza", "+5511987654321")).status_code \
        == 200


def test_event_replay_runs_the_stored_submission_through_the_current_definition(
        client: Any, rt: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any], make_flow: Any) -> None:
    workflow = make_flow("jotform")
    definition = dict(workflow["definition"])
    definition["steps"] = [{"name": "contact", "action": "upsert_contact",
                            "input": {"phone": "{{ phone(form.fields.phoneNumber) }}",
                                      "first_name": "{{ first_name(form.fields.fullName) }}",
                                      "last_name": "Replayed", "status_id": "1",
                                      "source_id": "1"}}]
    from tests.support.forms import jotform
    assert post_hook(client, workflow, jotform("Ana Souza", "+55 11 98765-4321")).status_code \
        == 200
    drain(rt)
    updated = client.put(f"/v1/workflows/{workflow['id']}", json=definition,
                         headers=workspace["headers"])
    assert updated.status_code == 200, updated.get_json()
    [event] = events(client, workspace, workflow["id"])
    replay = client.post(f"/v1/workflows/{workflow['id']}/events/{event['id']}/replay",
                         headers=workspace["headers"])
    assert replay.status_code == 202, replay.get_json()
    drain(rt)
    runs = workflow_runs(client, workspace, workflow["id"])
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert runs[0]["steps"][0]["output"]["contact"]["last_name"] == "Replayed"
    assert len(runs[0]["steps"]) == 1
    [event] = events(client, workspace, workflow["id"])
    assert event["run"]["id"] == runs[0]["id"]
