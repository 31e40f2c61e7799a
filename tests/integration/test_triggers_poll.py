"""Poll triggers over the sandbox: nothing missed, nothing twice, cost bound to what is new."""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from connector import jobs
from connector.queueing import QUEUE_HOOKS
from connector.runtime import Runtime
from tests.support.tenant_api import make_contact, request_count, upstream
from tests.support.triggers import Receiver, feed, subscribe
from tests.support.worker import drain


def generate(tenant: dict[str, Any], count: int, same_timestamp: bool = False) -> list[int]:
    response = requests.post(f"{tenant['sandbox']}/_admin/tenants/{tenant['slug']}/generate",
                             json={"resource": "contacts", "count": count,
                                   "same_timestamp": same_timestamp}, timeout=30)
    response.raise_for_status()
    return list(response.json()["ids"])


def poll(connection: dict[str, Any], trigger: str = "new_contact") -> dict[str, Any]:
    return jobs.poll_trigger(connection["id"], trigger)


def test_first_poll_sets_a_baseline_then_each_new_contact_appears_once(
        rt: Runtime, client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    generate(tenant, 30)
    assert poll(connection)["status"] == "baseline"
    assert feed(client, workspace, connection["id"], "new_contact") == []
    created = make_contact(tenant)
    assert poll(connection)["new_items"] == 1
    assert poll(connection)["new_items"] == 0
    items = feed(client, workspace, connection["id"], "new_contact")
    assert [item["data"]["id"] for item in items] == [str(created["id"])]
    assert items[0]["id"].startswith("tri_") and items[0]["event"] == "contact.created"
    assert items[0]["data"]["phone"] == created["phone"]


def test_a_poll_with_nothing_new_costs_one_request(
        rt: Runtime, tenant: dict[str, Any], connection: dict[str, Any]) -> None:
    generate(tenant, 2000)
    poll(connection)
    before = request_count(tenant)
    result = poll(connection)
    assert (result["new_items"], result["requests"]) == (0, 1)
    assert request_count(tenant) - before == 1


def test_contacts_created_in_bursts_while_polls_run_arrive_once_in_feed_and_hook(
        rt: Runtime, client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    receiver = Receiver()
    try:
        subscribe(client, workspace, connection, "new_contact", receiver)
        poll(connection)  # baseline
        stop = threading.Event()
        errors: list[BaseException] = []

        def poll_every_tick() -> None:
            while not stop.is_set():
                try:
                    poll(connection)
                except BaseException as error:  # noqa: BLE001 - reported by the test below
                    errors.append(error)
                stop.wait(0.1)

        poller = threading.Thread(target=poll_every_tick)
        poller.start()
        created: list[int] = []
        try:
            for burst in range(10):
                created += generate(tenant, 90, same_timestamp=burst % 2 == 0)
                created += [make_contact(tenant)["id"] for _ in range(10)]
                time.sleep(0.05)
        finally:
            stop.set()
            poller.join()
        assert not errors
        poll(connection)
        drain(rt, (QUEUE_HOOKS,))
        assert len(created) == 1000
        items = feed(client, workspace, connection["id"], "new_contact")
        assert sorted(int(i["data"]["id"]) for i in items) == sorted(created)
        delivered = receiver.unique_items()
        assert sorted(int(b["data"]["id"]) for b in delivered) == sorted(created)
        assert all(r["verified"] for r in receiver.requests)
    finally:
        receiver.close()


def test_after_downtime_the_poll_catches_up_every_item_in_order_once(
        rt: Runtime, client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    receiver = Receiver()
    try:
        subscribe(client, workspace, connection, "new_contact", receiver)
        generate(tenant, 50)
        poll(connection)  # baseline, then the connector is "down"
        created = generate(tenant, 250) + generate(tenant, 250, same_timestamp=True)
        result = poll(connection)
        assert result["new_items"] == 500 and result["requests"] > 1  # no one-page cap
        assert poll(connection)["new_items"] == 0
        drain(rt, (QUEUE_HOOKS,))
        assert [int(b["data"]["id"]) for b in receiver.unique_items()] == created
        assert len(receiver.requests) == 500
        state = client.get(f"/v1/connections/{connection['id']}/triggers/new_contact",
                           headers=workspace["headers"]).get_json()
        assert state["last_gap"]["items"] == 500 and state["last_gap"]["pages"] > 1
    finally:
        receiver.close()


def test_contact_updated_fires_on_content_changes_only(
        rt: Runtime, client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    contact = make_contact(tenant)
    poll(connection, "contact_updated")  # baseline hashes
    upstream(tenant, "PUT", f"contacts/{contact['id']}",
             json={"firstname": "Renamed", "lastname": "Person", "phone": contact["phone"]})
    assert poll(connection, "contact_updated")["new_items"] == 1
    assert poll(connection, "contact_updated")["new_items"] == 0
    items = feed(client, workspace, connection["id"], "contact_updated")
    assert items[0]["data"]["first_name"] == "Renamed"
    assert items[0]["data"]["change_id"] == f"{contact['id']}:1"


def test_catalog_lists_triggers_and_the_feed_gives_the_sample_when_asked(
        client: Any, workspace: dict[str, Any], connection: dict[str, Any]) -> None:
    body = client.get(f"/v1/catalog/triggers?connection={connection['id']}",
                      headers=workspace["headers"]).get_json()
    kinds = {item["key"]: item["kind"] for item in body["items"]}
    assert kinds["new_contact"] == "poll" and kinds["message_status_changed"] == "push"
    corbital = [item for item in body["items"] if "corbital" in item["providers"]]
    assert len(corbital) >= 13 and all(item["available"] for item in corbital)
    sample = client.get(f"/v1/connections/{connection['id']}/triggers/new_contact/items"
                        "?sample=true", headers=workspace["headers"]).get_json()
    assert sample["items"][0]["data"]["id"] == "1042"


def test_a_polled_item_starts_a_workflow_listening_to_its_trigger_once(
        rt: Runtime, client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    group = upstream(tenant, "POST", "groups", json={"name": f"g{time.time_ns()}"})["data"]
    workflow = client.post("/v1/workflows", headers=workspace["headers"], json={
        "name": "new contact to group", "connection_id": connection["id"],
        "trigger": {"kind": "trigger_item", "trigger": "new_contact"},
        "steps": [{"name": "group", "action": "add_contact_to_group",
                   "input": {"contact_id": "{{ trigger.id }}", "group_id": str(group["id"])}}]})
    assert workflow.status_code == 201, workflow.get_json()
    poll(connection)  # baseline
    contact = make_contact(tenant)
    poll(connection)
    poll(connection)
    drain(rt)
    runs = client.get(f"/v1/workflows/{workflow.get_json()['id']}/runs",
                      headers=workspace["headers"]).get_json()["items"]
    assert len(runs) == 1 and runs[0]["status"] == "succeeded", runs
    assert upstream(tenant, "GET", f"contacts/{contact['id']}")["data"]["group_id"] == [group["id"]]
