"""Provider-only powers against the emulators over HTTP: what the conformance suite's one happy
run per action does not show (state machines, validation, read-before-write, refusals)."""

from __future__ import annotations

from typing import Any

import requests

from tests.integration.test_conformance import run_action
from tests.support.providers import CorbitalV2Env, WaapiEnv, WbizEnv, connect
from tests.support.tenant_api import unique_phone


def _call(client: Any, workspace: dict[str, Any], connection: dict[str, Any], key: str,
          data: dict[str, Any]) -> Any:
    return client.post(f"/v1/connections/{connection['id']}/actions/{key}", json=data,
                       headers=workspace["headers"])


def test_wbiz_template_goes_to_review_and_only_a_rejected_one_can_be_edited(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)
    created = run_action(client, rt, workspace, connection["id"], "create_template", {
        "name": "order_shipped", "language": "en_US", "category": "UTILITY",
        "body": "Hi {{1}}, order {{2}} is on its way.", "body_examples": ["Ada", "#1043"],
        "header_text": "Shipped", "footer": "Thanks"})
    template = created["output"]
    assert (template["status"], template["body_param_count"]) == ("PENDING", 2), created
    assert template["header"] == {"format": "TEXT", "text": "Shipped", "param_count": 0}
    again = run_action(client, rt, workspace, connection["id"], "update_template",
                       {"id": template["id"], "footer": "Thank you"})
    assert again["error"]["kind"] == "invalid"
    assert "only draft or rejected templates can be edited" in again["error"]["message"]
    env.admin("POST", f"/accounts/{env.slug}/templates/{template['id']}/review",
              json={"status": "rejected"})
    edited = run_action(client, rt, workspace, connection["id"], "update_template",
                        {"id": template["id"], "body": "Hi {{1}}, your order shipped today."})
    assert edited["status"] == "failed", "the old example has two values for one variable"
    assert edited["error"]["errors"][0]["pointer"] == "/body"
    edited = run_action(client, rt, workspace, connection["id"], "update_template",
                        {"id": template["id"], "body": "Hi {{1}}, your order shipped today.",
                         "body_examples": ["Ada"]})
    assert edited["status"] == "succeeded", edited["error"]
    assert (edited["output"]["status"], edited["output"]["footer"]) == ("PENDING", "Thanks")
    assert edited["output"]["body"] == "Hi {{1}}, your order shipped today."


def test_wbiz_campaign_pause_resume_cancel_follow_its_state(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)
    member = env.member()
    created = run_action(client, rt, workspace, connection["id"], "create_campaign", {
        "name": "Diwali offer", "template_name": "welcome", "group_ids": [member["group_id"]]})
    campaign = created["output"]
    assert (campaign["status"], campaign["audience_total"]) == ("running", 1), created

    def command(key: str) -> dict[str, Any]:
        return run_action(client, rt, workspace, connection["id"], key, {"id": campaign["id"]})

    assert command("pause_campaign")["output"]["status"] == "paused"
    refused = command("pause_campaign")
    assert (refused["status"], refused["error"]["kind"]) == ("failed", "invalid")
    assert "the campaign is paused" in refused["error"]["message"]
    assert command("resume_campaign")["output"]["status"] == "running"
    assert command("cancel_campaign")["output"]["status"] == "cancelled"
    assert command("resume_campaign")["error"]["http_status"] == 409
    listed = run_action(client, rt, workspace, connection["id"], "list_campaigns",
                        {"status": "cancelled"})
    assert [c["id"] for c in listed["output"]["items"]] == [campaign["id"]]
    preview = run_action(client, rt, workspace, connection["id"], "preview_campaign_audience",
                         {"group_ids": [member["group_id"]]})
    assert preview["output"]["total"] == 1
    assert preview["output"]["sample"][0]["id"] == member["contact_id"]


def test_wbiz_inbox_shows_inbound_and_replies_newest_first(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)
    contact = env.contact()
    env.admin("POST", f"/accounts/{env.slug}/inbound", json={"from": contact["phone"],
                                                             "text": "Where is my order?"})
    listed = run_action(client, rt, workspace, connection["id"], "list_conversations", {})
    [conversation] = listed["output"]["items"]
    assert (conversation["contact_id"], conversation["unread_count"]) == (contact["id"], 1)
    reply = run_action(client, rt, workspace, connection["id"], "send_list", {
        "phone": contact["phone"], "text": "Which order?", "button_text": "Orders",
        "rows": [{"id": "o1043", "title": "#1043"}, {"id": "o1044", "title": "#1044"}]})
    assert reply["status"] == "succeeded", reply["error"]
    messages = run_action(client, rt, workspace, connection["id"], "list_conversation_messages",
                          {"conversation_id": conversation["id"]})["output"]["items"]
    assert [(m["direction"], m["kind"]) for m in messages] == [("outbound", "interactive"),
                                                               ("inbound", "text")]
    assert messages[0]["id"] == reply["output"]["message_id"]
    listed = run_action(client, rt, workspace, connection["id"], "list_conversations", {})
    assert listed["output"]["items"][0]["unread_count"] == 0


def test_wbiz_list_message_over_ten_rows_is_refused_before_any_call(
        client: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)
    rows = [{"id": f"r{n}", "title": f"Row {n}"} for n in range(11)]
    response = _call(client, workspace, connection, "send_list",
                     {"phone": unique_phone(), "text": "Pick", "button_text": "Open",
                      "rows": rows})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["pointer"] == "/rows"
    assert env.sent() == []


def test_wbiz_preset_is_sent_as_saved_and_a_draft_flow_is_refused(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)
    contact = env.contact()
    preset = run_action(client, rt, workspace, connection["id"], "create_interactive_preset", {
        "kind": "buttons", "body": "How can we help?",
        "buttons": [{"id": "sales", "title": "Sales"}, {"id": "support", "title": "Support"}]})
    assert preset["output"]["kind"] == "buttons"
    sent = run_action(client, rt, workspace, connection["id"], "send_interactive_preset",
                      {"id": preset["output"]["id"], "phone": contact["phone"]})
    assert sent["status"] == "succeeded", sent["error"]
    [message] = env.sent()
    assert message["payload"]["buttons"] == preset["output"]["buttons"]
    draft = run_action(client, rt, workspace, connection["id"], "send_flow", {
        "id": "flw_1003", "phone": contact["phone"], "body_text": "Tell us", "cta_text": "Start"})
    assert draft["error"]["kind"] == "invalid" and "publish it" in draft["error"]["message"]
    assert len(env.sent()) == 1


def test_wbiz_custom_field_key_is_unique(client: Any, rt: Any, sandbox: Any,
                                         workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)
    field = {"key": "city", "label": "City", "type": "text"}
    first = run_action(client, rt, workspace, connection["id"], "create_custom_field", field)
    assert first["output"] == {"key": "city", "label": "City", "type": "text", "options": []}
    second = run_action(client, rt, workspace, connection["id"], "create_custom_field", field)
    assert (second["error"]["kind"], second["error"]["http_status"]) == ("invalid", 409)
    select = _call(client, workspace, connection, "create_custom_field",
                   {"key": "plan", "label": "Plan", "type": "select"})
    assert select.status_code == 422, "a select field needs its options"


def test_waapi_group_membership_reads_first_and_refuses_unknown_numbers(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    stranger = unique_phone()
    env = WaapiEnv(sandbox, unregistered=[stranger[1:]])
    connection = connect(client, workspace, env)
    refused = run_action(client, rt, workspace, connection["id"], "create_whatsapp_group",
                         {"name": "Riders", "participants": [unique_phone(), stranger]})
    assert refused["error"]["errors"][0]["pointer"] == "/participants/1"
    member = unique_phone()
    created = run_action(client, rt, workspace, connection["id"], "create_whatsapp_group",
                         {"name": "Riders", "participants": [member]})
    group_id = created["output"]["id"]
    assert created["output"]["participants"] == [member]
    newcomer = {"group_id": group_id, "phone": unique_phone()}
    added = run_action(client, rt, workspace, connection["id"], "add_whatsapp_group_participant",
                       newcomer)
    assert (added["output"]["member"], added["output"]["changed"]) == (True, True)
    again = run_action(client, rt, workspace, connection["id"], "add_whatsapp_group_participant",
                       newcomer)
    assert again["output"]["changed"] is False
    assert [e["url"].rsplit("/", 1)[1] for e in again["attempts"][0]["exchanges"]] == \
        ["get-group-info"], "a repeat only reads (the chat id is cached)"
    removed = run_action(client, rt, workspace, connection["id"],
                         "remove_whatsapp_group_participant", newcomer)
    assert (removed["output"]["member"], removed["output"]["changed"]) == (False, True)
    group = run_action(client, rt, workspace, connection["id"], "get_whatsapp_group",
                       {"id": group_id})["output"]
    assert {p["phone"] for p in group["participants"]} == {member, "+4915100000000"}
    listed = run_action(client, rt, workspace, connection["id"], "list_whatsapp_groups", {})
    assert [g["id"] for g in listed["output"]["items"]] == [group_id]


def test_waapi_vcard_carries_the_card_number_as_waid(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = WaapiEnv(sandbox)
    connection = connect(client, workspace, env)
    card_phone = unique_phone()
    run = run_action(client, rt, workspace, connection["id"], "send_vcard", {
        "phone": unique_phone(), "card_first_name": "Ada", "card_last_name": "Lovelace",
        "card_phone": card_phone})
    assert run["status"] == "succeeded", run["error"]
    [message] = env.sent()
    assert message["payload"]["vCard"] == {
        "firstname": "Ada", "lastname": "Lovelace", "displayname": "Ada Lovelace",
        "internationalnumber": card_phone, "waid": card_phone[1:]}


def test_corbital_v2_bot_read_that_fails_in_the_probe_leaves_its_scope_out(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    """Bots are not in the v2 reference: a build that can't serve them still connects."""
    env = CorbitalV2Env(sandbox)
    requests.post(f"{sandbox.url}/_admin/faults", timeout=10, json={
        "kind": "status", "status": 503, "path_contains": f"{env.slug}/messagebots",
        "times": 1}).raise_for_status()
    connection = connect(client, workspace, env)
    assert "messagebots:read" not in connection["abilities"]
    assert "templatebots:read" in connection["abilities"]
    bots = run_action(client, rt, workspace, connection["id"], "list_template_bots", {})
    assert [b["match"] for b in bots["output"]["items"]] == ["first_message"]
    refused = _call(client, workspace, connection, "list_message_bots", {})
    assert refused.status_code == 403
    assert refused.get_json()["missing_abilities"] == ["messagebots:read"]


def test_catalog_says_why_a_provider_cannot(client: Any, sandbox: Any,
                                           workspace: dict[str, Any]) -> None:
    connection = connect(client, workspace, WbizEnv(sandbox))
    items = client.get("/v1/catalog/actions", query_string={"connection": connection["id"],
                                                            "schemas": "false"},
                       headers=workspace["headers"]).get_json()["items"]
    by_key = {a["key"]: a for a in items}
    assert by_key["send_flow"]["available"] is True
    assert by_key["send_poll"]["available"] is False
    assert "WhatsApp Web gateway" in by_key["send_poll"]["unavailable_reason"]
    response = _call(client, workspace, connection, "delete_contact", {"id": "ct_1"})
    assert response.status_code == 422
    assert "no way to delete a contact" in response.get_json()["detail"]
