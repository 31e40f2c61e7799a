"""REST hooks: subscribe, signed delivery, retries, 410, SSRF refusals, redelivery, dead workers."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import pytest

from connector import jobs
from connector.app import create_app
from connector.config import Settings
from connector.queueing import QUEUE_HOOKS
from connector.runtime import Runtime
from connector.services.trigger_work import sweep
from connector.store.trigger_models import HookDelivery
from tests.support.tenant_api import make_contact
from tests.support.triggers import Receiver, subscribe, wait_until
from tests.support.worker import drain, start_workers, stop_workers


@pytest.fixture(autouse=True)
def quick_retries(rt: Runtime) -> None:
    rt.settings = rt.settings.with_overrides(hook_retry_base_s=0.05, hook_retry_cap_s=0.5)


def one_new_contact(tenant: dict[str, Any], connection: dict[str, Any]) -> dict[str, Any]:
    jobs.poll_trigger(connection["id"], "new_contact")  # baseline
    contact = make_contact(tenant)
    assert jobs.poll_trigger(connection["id"], "new_contact")["new_items"] == 1
    return contact


def deliveries(client: Any, workspace: dict[str, Any], hook_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/hooks/{hook_id}/deliveries", headers=workspace["headers"])
    assert response.status_code == 200
    return list(response.get_json()["items"])


def test_subscribe_shows_the_secret_once_and_deliveries_are_signed(
        rt: Runtime, client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    receiver = Receiver()
    try:
        hook = subscribe(client, workspace, connection, "new_contact", receiver)
        assert hook["secret"].startswith("whsec_") and hook["id"].startswith("hook_")
        shown = client.get(f"/v1/hooks/{hook['id']}", headers=workspace["headers"]).get_json()
        assert "secret" not in shown and shown["status"] == "active"
        contact = one_new_contact(tenant, connection)
        drain(rt, (QUEUE_HOOKS,))
        [request] = receiver.requests
        assert request["verified"] and request["body"]["data"]["id"] == str(contact["id"])
        [delivery] = deliveries(client, workspace, hook["id"])
        assert delivery["status"] == "succeeded" and delivery["webhook_id"] == request["webhook_id"]
    finally:
        receiver.close()


def test_a_receiver_failing_three_times_then_accepting_gets_the_item_with_one_webhook_id(
        rt: Runtime, client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    receiver = Receiver(lambda n, body: 500 if n < 3 else 200)
    try:
        hook = subscribe(client, workspace, connection, "new_contact", receiver)
        one_new_contact(tenant, connection)
        drain(rt, (QUEUE_HOOKS,))
        assert len(receiver.requests) == 4 and len(set(receiver.ids())) == 1
        [delivery] = deliveries(client, workspace, hook["id"])
        assert delivery["status"] == "succeeded"
        assert [a.get("status") for a in delivery["attempts"]] == [500, 500, 500, 200]
        assert all(a.get("retry_in_s", 0) >= 0 for a in delivery["attempts"])
    finally:
        receiver.close()


def test_a_receiver_answering_410_unsubscribes_its_hook(
        rt: Runtime, client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    receiver = Receiver(lambda n, body: 410)
    try:
        hook = subscribe(client, workspace, connection, "new_contact", receiver)
        one_new_contact(tenant, connection)
        drain(rt, (QUEUE_HOOKS,))
        assert len(receiver.requests) == 1
        assert client.get(f"/v1/hooks/{hook['id']}",
                          headers=workspace["headers"]).status_code == 404
        make_contact(tenant)
        jobs.poll_trigger(connection["id"], "new_contact")
        drain(rt, (QUEUE_HOOKS,))
        assert len(receiver.requests) == 1
    finally:
        receiver.close()


def test_a_hook_that_keeps_failing_is_disabled_with_a_reason_and_redelivery_revives_it(
        rt: Runtime, client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    outcomes = {"status": 500}
    receiver = Receiver(lambda n, body: outcomes["status"])
    rt.settings = rt.settings.with_overrides(hook_max_attempts=3)
    try:
        hook = subscribe(client, workspace, connection, "new_contact", receiver)
        one_new_contact(tenant, connection)
        drain(rt, (QUEUE_HOOKS,))
        shown = client.get(f"/v1/hooks/{hook['id']}", headers=workspace["headers"]).get_json()
        assert shown["status"] == "disabled" and "failed 3 times" in shown["status_detail"]
        [delivery] = deliveries(client, workspace, hook["id"])
        outcomes["status"] = 200
        response = client.post(f"/v1/hooks/{hook['id']}/deliveries/{delivery['id']}/redeliver",
                               headers=workspace["headers"])
        assert response.status_code == 202
        drain(rt, (QUEUE_HOOKS,))
        assert len(set(receiver.ids())) == 1 and len(receiver.requests) == 4
        assert deliveries(client, workspace, hook["id"])[0]["status"] == "succeeded"
    finally:
        receiver.close()


def test_delete_stops_deliveries(
        rt: Runtime, client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    receiver = Receiver()
    try:
        hook = subscribe(client, workspace, connection, "new_contact", receiver)
        assert client.delete(f"/v1/hooks/{hook['id']}",
                             headers=workspace["headers"]).status_code == 204
        one_new_contact(tenant, connection)
        drain(rt, (QUEUE_HOOKS,))
        assert receiver.requests == []
    finally:
        receiver.close()


@pytest.mark.parametrize("target", [
    "http://127.0.0.1/hook", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/x",
    "http://[::1]/hook", "http://2130706433/hook", "file:///etc/passwd"])
def test_private_and_metadata_targets_are_refused_without_the_allow_list(
        settings: Settings, workspace: dict[str, Any], connection: dict[str, Any],
        target: str) -> None:
    strict = create_app(settings.with_overrides(ssrf_allow_networks=()))
    try:
        response = strict.test_client().post(
            "/v1/hooks", headers=workspace["headers"],
            json={"connection": connection["id"], "trigger": "new_contact",
                  "target_url": target})
        assert response.status_code == 422
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["errors"][0]["pointer"] == "/target_url"
    finally:
        strict.extensions["wa_runtime"].close()


def test_a_target_refused_at_delivery_time_disables_the_hook(
        rt: Runtime, client: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    receiver = Receiver()
    try:
        hook = subscribe(client, workspace, connection, "new_contact", receiver)
        one_new_contact(tenant, connection)
        rt.settings = rt.settings.with_overrides(ssrf_allow_networks=())  # "DNS changed"
        drain(rt, (QUEUE_HOOKS,))
        assert receiver.requests == []
        shown = client.get(f"/v1/hooks/{hook['id']}", headers=workspace["headers"]).get_json()
        assert shown["status"] == "disabled" and "not allowed" in shown["status_detail"]
    finally:
        receiver.close()


def test_a_worker_killed_during_a_delivery_leads_to_a_redelivery_with_the_same_webhook_id(
        rt: Runtime, settings: Settings, client: Any, workspace: dict[str, Any],
        tenant: dict[str, Any], connection: dict[str, Any]) -> None:
    arrived, release = threading.Event(), threading.Event()

    def hold_the_first(n: int, body: dict[str, Any]) -> int:
        if n == 0:
            arrived.set()
            release.wait(30)
        return 200

    receiver = Receiver(hold_the_first)
    workers = start_workers(settings, processes=1)
    try:
        subscribe(client, workspace, connection, "new_contact", receiver)
        one_new_contact(tenant, connection)
        assert arrived.wait(60), "the delivery never reached the receiver"
        with rt.db.session() as session:
            [delivery] = session.query(HookDelivery).all()
        assert delivery.status == "delivering" and delivery.worker_id
        os.kill(int(delivery.worker_id.rsplit("-", 1)[1]), signal.SIGKILL)
        # The pool restarts the worker; the sweep hands the delivery back once the dead
        # worker's heartbeat expired.
        wait_until(lambda: sweep(rt, grace_s=0)["reclaimed"] == 1, 30, "reclaim")
        wait_until(lambda: len(receiver.requests) >= 2, 30, "redelivery")
        release.set()
        ids = receiver.ids()
        assert len(ids) == 2 and len(set(ids)) == 1
        assert len(receiver.unique_items()) == 1
    finally:
        release.set()
        stop_workers(workers)
        receiver.close()
