"""WBIZ `/v1/events` polled as a `cursor_feed`: the push triggers (inbound message, message
status) get the same items as a webhook push, with the opaque cursor saved per trigger."""

from __future__ import annotations

import dataclasses
from typing import Any

from connector import jobs
from connector.queueing import QUEUE_HOOKS
from connector.runtime import Runtime
from connector.services.trigger_work import poll_once
from connector.trigger_schedule import trigger_entries
from tests.integration.test_conformance import run_action
from tests.integration.test_provider_push import platform_url, post
from tests.support.providers import CorbitalV1Env, WbizEnv, connect
from tests.support.triggers import Receiver, feed, subscribe
from tests.support.worker import drain

STATUSES, INBOUND = "message_status_changed", "inbound_message"


def poll(connection: dict[str, Any], trigger: str) -> dict[str, Any]:
    return jobs.poll_trigger(connection["id"], trigger)


def inbound(env: WbizEnv, phone: str, text: str, name: str | None = None) -> None:
    env.admin("POST", f"/accounts/{env.slug}/inbound", json={"from": phone, "text": text,
                                                             "name": name})


def statuses(env: WbizEnv, wamid: str, *names: str, **extra: Any) -> None:
    env.admin("POST", f"/accounts/{env.slug}/statuses",
              json={"wamid": wamid, "statuses": list(names), **extra})


def fit_item_schema(rt: Runtime, trigger: str, items: list[dict[str, Any]]) -> bool:
    validator = rt.catalog.triggers[trigger].item_validator
    return all(validator.is_valid(item["data"]) for item in items)


def test_feed_polls_become_the_push_triggers_items_once(
        client: Any, rt: Runtime, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)
    old = env.contact()
    inbound(env, old["phone"], "history, before anyone listened")
    assert poll(connection, INBOUND)["status"] == "baseline"
    assert poll(connection, STATUSES)["status"] == "baseline"
    contact = env.contact()
    run = run_action(client, rt, workspace, connection["id"], "send_text",
                     {"phone": contact["phone"], "text": "Your order shipped"})
    wamid = run["output"]["message_id"]
    statuses(env, wamid, "delivered", "read", to=contact["phone"])
    inbound(env, contact["phone"], "Thanks!", name="Ada")

    assert poll(connection, STATUSES) == {"status": "ok", "new_items": 3, "requests": 1}
    assert poll(connection, INBOUND) == {"status": "ok", "new_items": 1, "requests": 1}
    assert poll(connection, STATUSES) == {"status": "ok", "new_items": 0, "requests": 1}
    assert poll(connection, INBOUND)["new_items"] == 0

    items = feed(client, workspace, connection["id"], STATUSES)
    assert [i["data"]["status"] for i in items] == ["read", "delivered", "sent"]  # newest first
    assert {i["data"]["run_id"] for i in items} == {run["id"]}
    assert items[0]["data"]["id"] == f"{wamid}:read"
    assert items[0]["data"]["recipient"] == contact["phone"]
    assert fit_item_schema(rt, STATUSES, items)
    [message] = feed(client, workspace, connection["id"], INBOUND)
    assert (message["data"]["from"], message["data"]["text"], message["data"]["name"]) == (
        contact["phone"], "Thanks!", "Ada")
    shown = client.get(f"/v1/runs/{run['id']}", headers=workspace["headers"]).get_json()
    assert shown["delivery"]["status"] == "read"

    # The same events pushed by a WBIZ webhook are the same items: nothing new (the first
    # event is the history the baseline skipped).
    page = env.api("GET", "v1/events", params={"limit": 100})
    pushed = post(client, platform_url(client, workspace, connection), {"data": page["data"][1:]})
    assert (pushed["items"], pushed["duplicates"]) == (0, 4)


def test_a_failed_status_from_the_feed_carries_the_whatsapp_error(
        client: Any, rt: Runtime, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox)
    env.admin("PATCH", f"/accounts/{env.slug}", json={"auto_statuses": ["failed"],
                                                      "auto_error_code": 131047})
    connection = connect(client, workspace, env)
    poll(connection, STATUSES)  # baseline
    run = run_action(client, rt, workspace, connection["id"], "send_text",
                     {"phone": env.contact()["phone"], "text": "Hello again"})
    assert poll(connection, STATUSES)["new_items"] == 2
    failed = feed(client, workspace, connection["id"], STATUSES)[0]["data"]
    assert (failed["status"], failed["error_code"], failed["run_id"]) == (
        "failed", 131047, run["id"])
    shown = client.get(f"/v1/runs/{run['id']}", headers=workspace["headers"]).get_json()
    assert shown["delivery"]["summary"] == "failed (131047: Re-engagement message)"


def test_a_backlog_longer_than_one_poll_is_read_on_from_the_saved_cursor(
        client: Any, rt: Runtime, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)
    small = Runtime(dataclasses.replace(rt.settings, trigger_poll_page_size=10,
                                        trigger_event_feed_max_pages=2))
    try:
        assert poll_once(small, connection["id"], STATUSES).status == "baseline"
        contact = env.contact()
        for n in range(24):
            statuses(env, f"wamid.backlog{n:02d}", "sent", "delivered", to=contact["phone"])
        first = poll_once(small, connection["id"], STATUSES)  # 48 events, 2 pages of 10 a poll
        assert (first.status, first.new_items, first.requests) == ("ok", 20, 2)
        second = poll_once(small, connection["id"], STATUSES)
        assert (second.new_items, second.requests) == (20, 2)
        third = poll_once(small, connection["id"], STATUSES)  # a short page: the end
        assert (third.new_items, third.requests) == (8, 1)
        last = poll_once(small, connection["id"], STATUSES)
        assert (last.new_items, last.requests) == (0, 1)
    finally:
        small.close()
    items = feed(client, workspace, connection["id"], STATUSES)
    assert len(items) == 48 == len({i["data"]["id"] for i in items})
    assert items[-1]["data"]["id"] == "wamid.backlog00:sent"  # recorded oldest first
    state = client.get(f"/v1/connections/{connection['id']}/triggers/{STATUSES}",
                       headers=workspace["headers"]).get_json()
    assert state["last_gap"]["pages"] == 2


def test_hooks_and_feed_readers_schedule_feed_polls_and_hooks_get_the_items(
        client: Any, rt: Runtime, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)
    corbital = connect(client, workspace, CorbitalV1Env(sandbox))
    receiver = Receiver()
    try:
        subscribe(client, workspace, corbital, INBOUND, receiver)  # pushed only: not polled
        subscribe(client, workspace, connection, INBOUND, receiver)  # its secret checks below
        feed(client, workspace, corbital["id"], STATUSES)  # a feed reader: pushed only there
        polled = {entry.args for entry in trigger_entries(rt)
                  if entry.func == "connector.jobs.poll_trigger"}
        assert polled == {(connection["id"], INBOUND)}
        feed(client, workspace, connection["id"], STATUSES)  # a feed reader keeps it polled
        polled = {entry.args for entry in trigger_entries(rt)
                  if entry.func == "connector.jobs.poll_trigger"}
        assert polled == {(connection["id"], INBOUND), (connection["id"], STATUSES)}
        poll(connection, INBOUND)  # baseline
        contact = env.contact()
        inbound(env, contact["phone"], "Is my order ready?")
        assert poll(connection, INBOUND)["new_items"] == 1
        drain(rt, (QUEUE_HOOKS,))
        [body] = receiver.unique_items()
        assert body["event"] == "message.received" and body["trigger"] == INBOUND
        assert body["data"]["text"] == "Is my order ready?"
        assert all(r["verified"] for r in receiver.requests)
    finally:
        receiver.close()


def test_a_key_without_events_read_fails_the_poll_naming_the_scope(
        client: Any, rt: Runtime, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox, scopes=["contacts:read", "messages:send"])
    connection = connect(client, workspace, env)
    result = poll(connection, INBOUND)
    assert result["status"] == "failed"
    state = client.get(f"/v1/connections/{connection['id']}/triggers/{INBOUND}",
                       headers=workspace["headers"]).get_json()
    assert "events:read" in state["last_poll"]["message"]
    view = client.get(f"/v1/catalog/triggers/{INBOUND}?connection={connection['id']}",
                      headers=workspace["headers"]).get_json()
    assert view["providers"]["wbiz"]["poll"] == {"strategy": "cursor_feed",
                                                 "abilities": ["events:read"]}


def test_a_cursor_the_feed_refuses_restarts_the_feed_from_its_end(
        client: Any, rt: Runtime, sandbox: Any, workspace: dict[str, Any]) -> None:
    from connector.store.trigger_models import TriggerState

    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)
    contact = env.contact()
    inbound(env, contact["phone"], "before")
    assert poll(connection, INBOUND)["status"] == "baseline"
    with rt.db.session() as session:
        state = session.get(TriggerState, (connection["id"], INBOUND))
        state.cursor = {"since": "not-a-cursor-of-this-feed", "baseline": False}

    restarted = poll(connection, INBOUND)
    assert restarted["status"] == "baseline", restarted
    with rt.db.session() as session:
        last = session.get(TriggerState, (connection["id"], INBOUND)).last_poll
    assert "refused the saved cursor" in last["message"]

    assert poll(connection, INBOUND)["status"] == "baseline"  # skips the history, to the end
    inbound(env, contact["phone"], "after the restart")
    assert poll(connection, INBOUND)["new_items"] == 1
    assert [i["data"]["text"] for i in feed(client, workspace, connection["id"], INBOUND)] == [
        "after the restart"]
