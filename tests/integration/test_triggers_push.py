"""Push triggers: the platform webhook URL, forwarded Meta payloads and model webhooks, sent by
the sandbox the way the platform sends them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from connector.runtime import Runtime
from connector.store.activity import last_inbound
from tests.support.tenant_api import make_contact, upstream
from tests.support.triggers import feed, wait_until
from tests.support.worker import drain


def platform_url(client: Any, workspace: dict[str, Any], connection: dict[str, Any]) -> str:
    response = client.post(f"/v1/connections/{connection['id']}/platform-hook",
                           headers=workspace["headers"])
    assert response.status_code == 201
    return str(response.get_json()["url"])


class Relay:
    """The connector app on a real socket, so the sandbox can post to its platform URL."""

    def __init__(self, app: Any) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.target = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/" + self.target.split("/", 3)[3]


@pytest.fixture
def relay(app: Any) -> Iterator[Relay]:
    server = Relay(app)
    yield server
    server.server.shutdown()


def post(client: Any, url: str, payload: Any) -> dict[str, Any]:
    response = client.post("/" + url.split("/", 3)[3], json=payload)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def meta_status(wamid: str, status: str, code: int | None = None,
                ts: int = 1_763_700_000) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(ts),
                             "recipient_id": "4915112345678"}
    if code is not None:
        entry["errors"] = [{"code": code, "title": "Re-engagement message",
                            "error_data": {"details": "outside the 24-hour window"}}]
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp", "statuses": [entry]}}]}]}


def send_text(rt: Runtime, client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
              connection: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/v1/connections/{connection['id']}/actions/send_text",
                           json={"phone": make_contact(tenant)["phone"], "text": "hello"},
                           headers=workspace["headers"])
    assert response.status_code in (200, 201, 202), response.get_json()
    run = response.get_json()
    drain(rt)
    run = client.get(f"/v1/runs/{run['id']}", headers=workspace["headers"]).get_json()
    assert run["status"] == "succeeded", run["error"]
    return dict(run)


def test_statuses_out_of_order_and_repeated_end_the_run_at_the_right_final_status(
        rt: Runtime, client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    url = platform_url(client, workspace, connection)
    run = send_text(rt, client, workspace, tenant, connection)
    wamid = run["output"]["message_id"]
    for status in ("read", "delivered", "sent", "read", "delivered"):
        post(client, url, meta_status(wamid, status))
    run = client.get(f"/v1/runs/{run['id']}", headers=workspace["headers"]).get_json()
    assert run["output"]["status"] == "accepted"
    assert run["delivery"]["status"] == "read"
    assert [h["status"] for h in run["delivery"]["history"]] == ["sent", "delivered", "read"]
    items = feed(client, workspace, connection["id"], "message_status_changed")
    assert sorted(i["data"]["status"] for i in items) == ["delivered", "read", "sent"]
    assert {i["data"]["run_id"] for i in items} == {run["id"]}


def test_a_failed_status_wins_and_carries_its_error_code(
        rt: Runtime, client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    url = platform_url(client, workspace, connection)
    run = send_text(rt, client, workspace, tenant, connection)
    wamid = run["output"]["message_id"]
    post(client, url, meta_status(wamid, "sent"))
    post(client, url, meta_status(wamid, "failed", code=131047))
    post(client, url, meta_status(wamid, "delivered"))
    run = client.get(f"/v1/runs/{run['id']}", headers=workspace["headers"]).get_json()
    assert run["delivery"]["status"] == "failed"
    assert run["delivery"]["summary"] == "failed (131047: Re-engagement message)"
    failed = [i for i in feed(client, workspace, connection["id"], "message_status_changed")
              if i["data"]["status"] == "failed"]
    assert failed[0]["data"]["error_code"] == 131047


def test_a_status_that_arrives_before_its_run_settled_is_linked_by_the_sweep(
        rt: Runtime, client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    from connector.services.trigger_work import sweep

    url = platform_url(client, workspace, connection)
    response = client.post(f"/v1/connections/{connection['id']}/actions/send_text",
                           json={"phone": make_contact(tenant)["phone"], "text": "hi"},
                           headers=workspace["headers"])
    run_id = response.get_json()["id"]
    drain(rt)
    run = client.get(f"/v1/runs/{run_id}", headers=workspace["headers"]).get_json()
    wamid = run["output"]["message_id"]
    with rt.db.session() as session:  # as if the status had come before the run settled
        from connector.store.models import Run

        session.get(Run, run_id).output = None  # type: ignore[union-attr]
    post(client, url, meta_status(wamid, "delivered"))
    with rt.db.session() as session:
        session.get(Run, run_id).output = run["output"]  # type: ignore[union-attr]
    assert sweep(rt)["linked_statuses"] == 1
    run = client.get(f"/v1/runs/{run_id}", headers=workspace["headers"]).get_json()
    assert run["delivery"]["status"] == "delivered"


def test_inbound_messages_become_items_and_set_the_contacts_last_inbound_time(
        rt: Runtime, client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any], relay: Any) -> None:
    url = platform_url(client, workspace, connection)
    relay.target = url
    admin = f"{tenant['sandbox']}/_admin/tenants/{tenant['slug']}"
    requests.put(f"{admin}/webhooks", json={"meta_url": relay.url}, timeout=10)
    answer = requests.post(f"{admin}/inbound", json={"phone": "+4915112345678",
                                                     "text": "Is my order ready?"}, timeout=10)
    assert answer.json()["status"] == 200
    requests.post(f"{admin}/inbound", json={"phone": "+4915112345678", "text": "again"},
                  timeout=10)
    items = feed(client, workspace, connection["id"], "inbound_message")
    assert [i["data"]["text"] for i in items] == ["again", "Is my order ready?"]
    assert items[0]["data"]["from"] == "+4915112345678"
    with rt.db.session() as session:
        assert last_inbound(session, connection["id"], "+4915112345678") is not None


def test_sandbox_status_forwarding_after_a_send_reaches_the_run(
        rt: Runtime, client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any], relay: Any) -> None:
    relay.target = platform_url(client, workspace, connection)
    admin = f"{tenant['sandbox']}/_admin/tenants/{tenant['slug']}"
    requests.put(f"{admin}/webhooks", json={"meta_url": relay.url,
                                             "auto_statuses": ["sent", "delivered", "read"]},
                 timeout=10)
    run = send_text(rt, client, workspace, tenant, connection)

    def settled() -> bool:
        from connector.services.trigger_work import sweep

        sweep(rt)
        body = client.get(f"/v1/runs/{run['id']}", headers=workspace["headers"]).get_json()
        return bool(body["delivery"]) and body["delivery"]["status"] == "read"

    wait_until(settled, 30, "read status on the run")


def test_model_webhooks_become_contact_items_once(
        rt: Runtime, client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any], relay: Any) -> None:
    relay.target = platform_url(client, workspace, connection)
    admin = f"{tenant['sandbox']}/_admin/tenants/{tenant['slug']}"
    requests.put(f"{admin}/webhooks", json={"model_url": relay.url}, timeout=10)
    contact = make_contact(tenant)
    upstream(tenant, "PUT", f"contacts/{contact['id']}",
             json={"firstname": "New", "lastname": "Name", "phone": contact["phone"]})
    upstream(tenant, "DELETE", f"contacts/{contact['id']}")

    def arrived(key: str) -> bool:
        return len(feed(client, workspace, connection["id"], key)) == 1

    for key in ("contact_created", "contact_updated_push", "contact_deleted"):
        wait_until(lambda key=key: arrived(key), 30, key)
    updated = feed(client, workspace, connection["id"], "contact_updated_push")[0]["data"]
    assert updated["first_name"] == "New" and updated["id"] == str(contact["id"])
    # The platform retries a delivery it thinks failed: the same payload twice is one item.
    payload = {"event": "deleted", "model": "App\\Models\\Tenant\\Contact",
               "data": {"id": contact["id"], "attributes": {"id": contact["id"]}}}
    assert post(client, relay.target, payload)["duplicates"] == 1


def test_an_unknown_platform_token_is_404_and_a_rotated_one_stops_working(
        client: Any, workspace: dict[str, Any], connection: dict[str, Any]) -> None:
    old = platform_url(client, workspace, connection)
    platform_url(client, workspace, connection)
    response = client.post("/" + old.split("/", 3)[3], json={"object": "x"})
    assert response.status_code == 404
