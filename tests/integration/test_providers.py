"""What differs per provider, shown against the emulators over HTTP: version detection, scopes,
inner errors, unsupported actions, rate limits and bulk writes."""

from __future__ import annotations

from typing import Any

import requests

from tests.integration.test_conformance import run_action
from tests.support.providers import CorbitalV1Env, CorbitalV2Env, WaapiEnv, WbizEnv, connect
from tests.support.tenant_api import unique_phone


def _requests(sandbox: Any, slug: str) -> list[dict[str, Any]]:
    body = requests.get(f"{sandbox.url}/_admin/requests", params={"tenant": slug},
                        timeout=10).json()
    return list(body["requests"])


def test_a_corbital_connection_detects_v1_or_v2_by_probing(
        client: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    v1 = connect(client, workspace, CorbitalV1Env(sandbox))
    v2 = connect(client, workspace, CorbitalV2Env(sandbox))
    assert (v1["provider"], v2["provider"]) == ("corbital", "corbital_v2")
    assert "messages:send" in v2["abilities"] and "messages.send" in v1["abilities"]


def test_an_explicit_api_version_skips_detection(client: Any, sandbox: Any,
                                                 workspace: dict[str, Any]) -> None:
    env = CorbitalV2Env(sandbox)
    response = client.post("/v1/connections", json={**env.connection_body(), "api_version": "v1"},
                           headers=workspace["headers"])
    assert response.status_code == 422, "a v1 probe can't read a v2 tenant"
    assert connect(client, workspace, env, api_version="v2")["provider"] == "corbital_v2"


def test_missing_wbiz_scope_is_named_by_the_preflight(
        client: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox, scopes=["contacts:read", "contacts:write", "templates:read"])
    connection = connect(client, workspace, env)
    assert "messages:send" not in connection["abilities"]
    before = len(_requests(sandbox, env.slug))
    response = client.post(f"/v1/connections/{connection['id']}/actions/send_text",
                           json={"phone": unique_phone(), "text": "hi"},
                           headers=workspace["headers"])
    body = response.get_json()
    assert response.status_code == 403, body
    assert body["missing_abilities"] == ["messages:send"]
    assert "messages:send" in body["detail"]
    assert len(_requests(sandbox, env.slug)) == before, "nothing was sent upstream"


def test_a_wbiz_403_names_the_scope_and_drops_it(client: Any, rt: Any, sandbox: Any,
                                                 workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)  # the key held every scope when connected
    env.admin("PATCH", f"/accounts/{env.slug}", json={"scopes": ["contacts:read"]})
    run = run_action(client, rt, workspace, connection["id"], "create_group", {"name": "vip"})
    assert run["status"] == "failed"
    assert (run["error"]["kind"], run["error"]["missing_ability"]) == ("scope_missing",
                                                                       "tags:write")
    again = client.post(f"/v1/connections/{connection['id']}/actions/create_group",
                        json={"name": "vip"}, headers=workspace["headers"])
    assert again.status_code == 403


def test_waapi_inner_error_in_a_200_fails_the_run_with_the_inner_message(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = WaapiEnv(sandbox)
    connection = connect(client, workspace, env)
    env.set_instance("disconnected")
    run = run_action(client, rt, workspace, connection["id"], "send_text",
                     {"phone": unique_phone(), "text": "hello"})
    assert run["status"] == "failed"
    assert run["error"]["kind"] == "upstream_error"
    assert "instance is not ready (status: disconnected)" in run["error"]["message"]
    assert run["attempts"][0]["exchanges"][0]["status"] == 200
    assert env.sent() == []


def test_waapi_refuses_numbers_not_on_whatsapp_before_sending(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    phone = unique_phone()
    env = WaapiEnv(sandbox, unregistered=[phone[1:]])
    connection = connect(client, workspace, env)
    run = run_action(client, rt, workspace, connection["id"], "send_text",
                     {"phone": phone, "text": "hello"})
    assert (run["status"], run["error"]["kind"]) == ("failed", "invalid")
    assert run["error"]["errors"][0]["pointer"] == "/phone"
    assert env.sent() == []


def test_waapi_shows_the_qr_code_while_pairing(client: Any, rt: Any, sandbox: Any,
                                               workspace: dict[str, Any]) -> None:
    env = WaapiEnv(sandbox)
    connection = connect(client, workspace, env)
    env.set_instance("qr")
    run = run_action(client, rt, workspace, connection["id"], "get_instance_status", {})
    assert run["output"]["status"] == "qr" and run["output"]["ready"] is False
    assert run["output"]["qr_code"].startswith("data:image/png;base64,")


def test_send_template_on_waapi_is_refused_with_the_reason(
        client: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    connection = connect(client, workspace, WaapiEnv(sandbox))
    response = client.post(f"/v1/connections/{connection['id']}/actions/send_template",
                           json={"phone": unique_phone(), "template_name": "welcome"},
                           headers=workspace["headers"])
    body = response.get_json()
    assert response.status_code == 422 and body["type"].endswith("unsupported-action"), body
    assert "without message templates" in body["detail"]
    catalog = client.get("/v1/catalog/actions", query_string={"connection": connection["id"],
                                                              "schemas": "false"},
                         headers=workspace["headers"]).get_json()["items"]
    template = next(a for a in catalog if a["key"] == "send_template")
    assert template["available"] is False
    assert "without message templates" in template["unavailable_reason"]
    available = {a["key"] for a in catalog if a["available"]}
    assert {"send_text", "send_media", "upsert_contact", "send_poll"} <= available


def test_wbiz_plan_limit_feeds_the_governor(client: Any, sandbox: Any,
                                            workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox, plan="starter")
    body = {k: v for k, v in env.connection_body().items()
            if k not in ("rate_limit", "rate_window_s")}
    response = client.post("/v1/connections", json=body, headers=workspace["headers"])
    connection = response.get_json()
    assert connection["rate_limit"] == {"limit": 10, "window_s": 10}, connection


def test_wbiz_429_is_throttled_then_succeeds(client: Any, rt: Any, sandbox: Any,
                                             workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)  # governs at 10,000/min: meets the 429
    contact = env.contact()
    env.admin("PATCH", f"/accounts/{env.slug}", json={"throttle_next": 1})
    run = run_action(client, rt, workspace, connection["id"], "send_text",
                     {"phone": contact["phone"], "text": "hello"})
    assert run["status"] == "succeeded", run
    kinds = [a["outcome"]["kind"] for a in run["attempts"]]
    assert kinds == ["throttled", "success"]
    assert 0 < run["attempts"][0]["outcome"]["retry_after_s"] <= 2, "from X-RateLimit-Reset"
    assert len(env.sent()) == 1


def test_wbiz_bulk_import_writes_500_rows_per_call(client: Any, rt: Any, sandbox: Any,
                                                   workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)
    existing = env.contact()
    rows = [{"phone": existing["phone"], "first_name": "Known"}]
    rows += [{"phone": unique_phone(), "first_name": f"Row {n}", "group_ids": ["imported"]}
             for n in range(1_100)]
    before = len(_requests(sandbox, env.slug))
    run = run_action(client, rt, workspace, connection["id"], "bulk_upsert_contacts",
                     {"contacts": rows})
    assert run["status"] == "succeeded", run["error"]
    assert run["output"] == {"created": 1_100, "updated": 1, "skipped": 0, "total": 1_101,
                             "requests": 3}
    writes = [r for r in _requests(sandbox, env.slug)[before:] if r["method"] == "POST"]
    assert [len(r["json"]["contacts"]) for r in writes] == [500, 500, 101]


def test_corbital_v2_coded_errors_are_classified(client: Any, rt: Any, sandbox: Any,
                                                 workspace: dict[str, Any]) -> None:
    env = CorbitalV2Env(sandbox)
    connection = connect(client, workspace, env)
    opted_out = env.contact(opted_out=True)
    run = run_action(client, rt, workspace, connection["id"], "send_text",
                     {"phone": opted_out["phone"], "text": "hello"})
    assert (run["status"], run["error"]["kind"]) == ("failed", "halted")
    assert "opted out" in run["error"]["message"]
    env.admin("PATCH", f"/accounts/{env.slug}", json={"scopes": ["contacts:read"]})
    run = run_action(client, rt, workspace, connection["id"], "create_group", {"name": "VIP"})
    assert (run["error"]["kind"], run["error"]["missing_ability"]) == ("scope_missing",
                                                                       "groups:write")


def test_corbital_v2_group_membership_uses_its_endpoints(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = CorbitalV2Env(sandbox)
    connection = connect(client, workspace, env)
    contact, group = env.contact(), env.group()
    run = run_action(client, rt, workspace, connection["id"], "add_contact_to_group",
                     {"contact_id": contact["id"], "group_id": group})
    assert run["output"]["group_ids"] == [group]
    paths = [(e["method"], e["url"].split(env.slug)[1]) for e in run["attempts"][0]["exchanges"]]
    assert paths == [("POST", f"/groups/{group}/contacts"), ("GET", f"/contacts/{contact['id']}")]


def test_a_waapi_connection_to_someone_elses_instance_points_at_the_instance_id(
        client: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = WaapiEnv(sandbox)
    response = client.post("/v1/connections", json={**env.connection_body(), "instance_id": "99"},
                           headers=workspace["headers"])
    assert response.status_code == 422
    [error] = response.get_json()["errors"]
    assert error["pointer"] == "/instance_id" and "no instance '99'" in error["message"]
