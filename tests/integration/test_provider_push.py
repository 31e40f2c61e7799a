"""WBIZ and waapi pushes through the platform webhook URL become the same trigger items as the
Corbital push (inbound message, message status) and reach the run that sent the message; the
new-contact poll trigger works on Corbital v2 and WBIZ."""

from __future__ import annotations

from typing import Any

import pytest

from connector import jobs
from tests.integration.test_conformance import run_action
from tests.support.providers import ENVS, WaapiEnv, WbizEnv, connect
from tests.support.triggers import feed


def platform_url(client: Any, workspace: dict[str, Any], connection: dict[str, Any]) -> str:
    response = client.post(f"/v1/connections/{connection['id']}/platform-hook",
                           headers=workspace["headers"])
    assert response.status_code == 201, response.get_json()
    return "/" + str(response.get_json()["url"]).split("/", 3)[3]


def post(client: Any, path: str, payload: Any) -> dict[str, Any]:
    response = client.post(path, json=payload)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def test_wbiz_events_feed_and_webhooks_become_trigger_items(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)
    hook = platform_url(client, workspace, connection)
    contact = env.contact()
    run = run_action(client, rt, workspace, connection["id"], "send_text",
                     {"phone": contact["phone"], "text": "hello"})
    wamid = run["output"]["message_id"]
    env.admin("POST", f"/accounts/{env.slug}/inbound", json={"from": contact["phone"],
                                                             "text": "Is my order ready?"})
    page = env.api("GET", "v1/events", params={"limit": 50})  # the polling feed, as is
    post(client, hook, page)
    post(client, hook, {"id": "evt_x", "event": "message.status", "createdAt":
                        "2026-11-21T10:44:50Z", "data": {"wamid": wamid, "to": contact["phone"],
                                                         "status": "delivered"}})
    statuses = feed(client, workspace, connection["id"], "message_status_changed")
    assert sorted(i["data"]["status"] for i in statuses) == ["delivered", "sent"]
    assert {i["data"]["run_id"] for i in statuses} == {run["id"]}
    inbound = feed(client, workspace, connection["id"], "inbound_message")
    assert [(i["data"]["from"], i["data"]["text"]) for i in inbound] == [
        (contact["phone"], "Is my order ready?")]
    run = client.get(f"/v1/runs/{run['id']}", headers=workspace["headers"]).get_json()
    assert run["delivery"]["status"] == "delivered"
    again = post(client, hook, page)
    assert again["items"] == 0, "the same events again are duplicates"


def test_waapi_acks_messages_and_instance_states_become_trigger_items(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = WaapiEnv(sandbox)
    connection = connect(client, workspace, env)
    hook = platform_url(client, workspace, connection)
    contact = env.contact()
    run = run_action(client, rt, workspace, connection["id"], "send_text",
                     {"phone": contact["phone"], "text": "hello"})
    message_id = run["output"]["message_id"]
    chat = contact["id"]
    for ack in (1, 3, 2, 0):
        post(client, hook, {"event": "message_ack", "instanceId": "1", "data": {
            "message": {"id": {"_serialized": message_id}, "to": chat, "ack": ack,
                        "timestamp": 1_763_700_000}, "ack": ack}})
    post(client, hook, {"event": "message", "instanceId": "1", "data": {"message": {
        "id": {"_serialized": f"false_{chat}_ABC"}, "from": chat, "body": "Thanks!",
        "type": "chat", "timestamp": 1_763_700_100, "notifyName": "Ada", "fromMe": False}}})
    post(client, hook, {"event": "disconnected", "instanceId": "1",
                        "data": {"status": "disconnected", "timestamp": 1_763_700_200}})
    statuses = feed(client, workspace, connection["id"], "message_status_changed")
    assert sorted(i["data"]["status"] for i in statuses) == ["delivered", "read", "sent"]
    run = client.get(f"/v1/runs/{run['id']}", headers=workspace["headers"]).get_json()
    assert run["delivery"]["status"] == "read"
    inbound = feed(client, workspace, connection["id"], "inbound_message")
    assert [(i["data"]["from"], i["data"]["name"], i["data"]["type"]) for i in inbound] == [
        (contact["phone"], "Ada", "text")]
    states = feed(client, workspace, connection["id"], "instance_status_changed")
    assert [i["data"]["status"] for i in states] == ["disconnected"]


@pytest.mark.parametrize("provider", ["corbital_v2", "wbiz"])
def test_new_contact_poll_trigger_works_on_v2_and_wbiz(provider: str, client: Any, rt: Any,
                                                       sandbox: Any,
                                                       workspace: dict[str, Any]) -> None:
    env = ENVS[provider](sandbox)
    connection = connect(client, workspace, env)
    assert jobs.poll_trigger(connection["id"], "new_contact")["status"] == "baseline"
    contact = env.contact()  # type: ignore[attr-defined]
    assert jobs.poll_trigger(connection["id"], "new_contact")["new_items"] == 1
    assert jobs.poll_trigger(connection["id"], "new_contact")["new_items"] == 0
    [item] = feed(client, workspace, connection["id"], "new_contact")
    assert item["data"]["phone"] == contact["phone"]
