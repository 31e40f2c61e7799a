"""The same form workflow (form -> upsert contact -> add to group/tag -> send template) on a
Corbital v1, a Corbital v2 and a WBIZ connection; on waapi the text path runs and the run says
why the template path is unavailable."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.providers import ENVS, connect
from tests.support.worker import drain

FORM = {"name": "Ana Souza", "phone": "+5511987654321"}


def _workflow(connection_id: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": "lead", "connection_id": connection_id,
            "trigger": {"kind": "form", "product": "generic"}, "steps": steps}


CONTACT = {"name": "contact", "action": "upsert_contact",
           "input": {"phone": "{{ phone(form.fields.phone) }}",
                     "first_name": "{{ first_name(form.fields.name) }}",
                     "last_name": "{{ default(last_name(form.fields.name), '-') }}",
                     "status_id": "1", "source_id": "2"}}
TEMPLATE = {"name": "welcome", "action": "send_template",
            "input": {"phone": "{{ steps.contact.contact.phone }}", "template_name": "welcome",
                      "language": "en", "body_params": ["{{ first_name(form.fields.name) }}",
                                                        "Acme"]}}


def _run(client: Any, rt: Any, workspace: dict[str, Any], definition: dict[str, Any]) -> Any:
    response = client.post("/v1/workflows", json=definition, headers=workspace["headers"])
    assert response.status_code == 201, response.get_json()
    workflow = response.get_json()
    hook = "/hooks/in/" + workflow["hook_url"].rsplit("/", 1)[-1]
    answer = client.post(hook, json=FORM)
    assert answer.status_code == 200, answer.get_json()
    drain(rt)
    runs = client.get(f"/v1/workflows/{workflow['id']}/runs?limit=10",
                      headers=workspace["headers"]).get_json()["items"]
    assert len(runs) == 1
    return runs[0]


@pytest.mark.parametrize("provider", ["corbital", "corbital_v2", "wbiz"])
def test_the_form_workflow_runs_on_every_cloud_provider(provider: str, client: Any, rt: Any,
                                                        sandbox: Any,
                                                        workspace: dict[str, Any]) -> None:
    env = ENVS[provider](sandbox)
    connection = connect(client, workspace, env)
    group = env.group()  # type: ignore[attr-defined]
    steps = [CONTACT,
             {"name": "group", "action": "add_contact_to_group",
              "input": {"contact_id": "{{ steps.contact.contact.id }}", "group_id": group}},
             TEMPLATE]
    run = _run(client, rt, workspace, _workflow(connection["id"], steps))
    assert run["status"] == "succeeded", run
    assert run["steps"][1]["output"]["group_ids"] == [group]
    [message] = env.sent()
    assert "Ana" in str(message["payload"])


def test_on_waapi_the_template_step_is_refused_with_why_and_the_text_path_runs(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = ENVS["waapi"](sandbox)
    connection = connect(client, workspace, env)
    steps = [CONTACT,
             {**TEMPLATE, "on_error": "continue"},
             {"name": "text", "action": "send_text",
              "input": {"phone": "{{ steps.contact.contact.phone }}",
                        "text": "Hi {{ first_name(form.fields.name) }}, welcome to Acme!"}}]
    definition = _workflow(connection["id"], steps)
    response = client.post("/v1/workflows", json=definition, headers=workspace["headers"])
    # The workflow engine checks every step against the connection's provider up front.
    assert response.status_code == 422
    [problem] = response.get_json()["errors"]
    assert problem["pointer"] == "/steps/1/action"
    assert "waapi.app is a WhatsApp Web gateway without message templates" in problem["message"]
    definition["steps"] = [CONTACT, steps[2]]
    run = _run(client, rt, workspace, definition)
    assert run["status"] == "succeeded", run
    [message] = env.sent()
    assert message["payload"]["message"] == "Hi Ana, welcome to Acme!"


WINDOW_AWARE = {"name": "welcome", "action": "send_message",
                "input": {"phone": "{{ steps.contact.contact.phone }}",
                          "text": "Hi {{ first_name(form.fields.name) }}, welcome to Acme!",
                          "template_name": "welcome", "language": "en",
                          "body_params": ["{{ first_name(form.fields.name) }}", "Acme"]}}


@pytest.mark.parametrize("provider", ["corbital", "corbital_v2", "wbiz", "waapi"])
def test_the_window_aware_workflow_runs_on_every_provider(provider: str, client: Any, rt: Any,
                                                          sandbox: Any,
                                                          workspace: dict[str, Any]) -> None:
    """One workflow for all four: the contact never wrote to us, so the Cloud-API providers
    send the template; waapi (WhatsApp Web) sends the text and the run says why."""
    env = ENVS[provider](sandbox)
    connection = connect(client, workspace, env)
    run = _run(client, rt, workspace, _workflow(connection["id"], [CONTACT, WINDOW_AWARE]))
    assert run["status"] == "succeeded", run
    output = run["steps"][1]["output"]
    [message] = env.sent()
    if provider == "waapi":
        assert output["path"] == "text"
        assert "no message templates" in output["reason"]
        assert message["payload"]["message"] == "Hi Ana, welcome to Acme!"
    else:
        assert output["path"] == "template"
        assert "never written" in output["reason"]
        assert "Ana" in str(message["payload"])
