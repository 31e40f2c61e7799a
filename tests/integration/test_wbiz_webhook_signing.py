"""WBIZ webhooks signed with the secret WBIZ returns once: the emulator signs its deliveries,
the connection keeps the secret encrypted, and its platform webhook URL refuses what is not
signed with it (problem+json 401); unsigned pushes pass only while no secret is set."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from connector.app import create_app
from connector.config import Settings
from connector.runtime import Runtime
from connector.store.push_models import PushSignature
from connector.webhook_signing import sign_headers
from tests.integration.test_triggers_push import Relay, platform_url
from tests.support.providers import CorbitalV1Env, WbizEnv, connect
from tests.support.triggers import feed, wait_until

PROBLEM = "application/problem+json"
INBOUND = "inbound_message"


@pytest.fixture
def relay(app: Any) -> Iterator[Relay]:
    server = Relay(app)
    yield server
    server.server.shutdown()


def subscribe_wbiz(env: WbizEnv, url: str) -> dict[str, Any]:
    """`POST /v1/webhooks` on the emulator: the answer holds the signing secret, once."""
    hook: dict[str, Any] = env.api("POST", "v1/webhooks", json={
        "url": url, "events": ["message.received", "message.status"]})["data"]
    assert hook["secret"] and "secret" not in env.api("GET", f"v1/webhooks/{hook['id']}")["data"]
    return hook


def deliveries(env: WbizEnv) -> list[dict[str, Any]]:
    return list(env.admin("GET", f"/accounts/{env.slug}/webhook-deliveries")["deliveries"])


def delivered(env: WbizEnv, count: int) -> list[dict[str, Any]]:
    wait_until(lambda: sum(d["status"] is not None for d in deliveries(env)) >= count,
               what=f"{count} webhook deliveries answered")
    return deliveries(env)


def hub(secret: str, raw: bytes) -> dict[str, str]:
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def event(text: str) -> bytes:
    return json.dumps({"id": f"evt_{time.time_ns()}", "type": "message.received",
                       "createdAt": "2026-11-21T10:44:50Z",
                       "data": {"wamid": f"wamid.{time.time_ns()}", "from": "+4915112345678",
                                "type": "text", "text": text}}).encode()


def test_signed_deliveries_pass_and_forged_or_unsigned_pushes_get_401(
        client: Any, rt: Runtime, sandbox: Any, workspace: dict[str, Any], relay: Relay) -> None:
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)
    relay.target = platform_url(client, workspace, connection)
    path = "/" + relay.target.split("/", 3)[3]
    hook = subscribe_wbiz(env, relay.url)
    signature_url = f"/v1/connections/{connection['id']}/platform-hook/signature"
    answer = client.put(signature_url, json={"secret": hook["secret"]},
                        headers=workspace["headers"])
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {**answer.get_json(), "signed": True, "scheme": "hub_sha256"}
    assert "secret" not in answer.get_json()
    with rt.db.session() as session:
        assert hook["secret"] not in session.get(PushSignature, connection["id"]).secret_encrypted

    contact = env.contact()
    env.admin("POST", f"/accounts/{env.slug}/inbound", json={"from": contact["phone"],
                                                             "text": "signed hello"})
    env.api("POST", f"v1/webhooks/{hook['id']}/test")  # a sample event: accepted, ignored
    assert [d["attempts"] for d in delivered(env, 2)] == [[200], [200]]
    assert [i["data"]["text"] for i in feed(client, workspace, connection["id"], INBOUND)] == [
        "signed hello"]

    raw = event("forged")
    for headers in (hub("not-the-secret", raw), {"Content-Type": "application/json"}):
        refused = client.post(path, data=raw, headers=headers)
        assert refused.status_code == 401 and refused.content_type == PROBLEM
        problem = refused.get_json()
        assert problem["type"].endswith("/signature-invalid")
        assert "X-Hub-Signature-256" in problem["detail"]
    assert client.post(path, data=raw, headers=hub(hook["secret"], raw)).status_code == 200
    texts = [i["data"]["text"] for i in feed(client, workspace, connection["id"], INBOUND)]
    assert texts == ["forged", "signed hello"]  # the accepted copy only, once

    assert client.delete(signature_url, headers=workspace["headers"]).status_code == 204
    unsigned = client.post(path, data=event("unsigned"), headers={"Content-Type":
                                                                  "application/json"})
    assert unsigned.status_code == 200 and unsigned.get_json()["items"] == 1


def test_the_scheme_is_set_per_connection_and_a_mismatch_is_refused(
        client: Any, rt: Runtime, sandbox: Any, workspace: dict[str, Any], relay: Relay) -> None:
    env = WbizEnv(sandbox)
    env.admin("PATCH", f"/accounts/{env.slug}", json={"webhook_signature": "standard_webhooks"})
    connection = connect(client, workspace, env)
    relay.target = platform_url(client, workspace, connection)
    path = "/" + relay.target.split("/", 3)[3]
    hook = subscribe_wbiz(env, relay.url)
    signature_url = f"/v1/connections/{connection['id']}/platform-hook/signature"
    bad = client.put(signature_url, json={"secret": hook["secret"], "scheme": "hmac"},
                     headers=workspace["headers"])
    assert bad.status_code == 422 and bad.get_json()["errors"] == [
        {"pointer": "/header", "message": "'header' is required"}]
    answer = client.put(signature_url, json={"secret": hook["secret"],
                                             "scheme": "standard_webhooks"},
                        headers=workspace["headers"])
    assert answer.status_code == 200, answer.get_json()

    contact = env.contact()
    env.admin("POST", f"/accounts/{env.slug}/inbound", json={"from": contact["phone"],
                                                             "text": "standard hello"})
    assert [d["attempts"] for d in delivered(env, 1)] == [[200]]
    assert feed(client, workspace, connection["id"], INBOUND)[0]["data"]["text"] == \
        "standard hello"

    raw = event("hub-signed, but this connection wants Standard Webhooks")
    assert client.post(path, data=raw, headers=hub(hook["secret"], raw)).status_code == 401
    stale = sign_headers(hook["secret"], "msg_1", int(time.time()) - 3600, raw)
    assert client.post(path, data=raw, headers={**stale, "Content-Type": "application/json"}
                       ).status_code == 401
    shown = client.get(signature_url, headers=workspace["headers"]).get_json()
    assert shown["scheme"] == "standard_webhooks" and "secret" not in shown


@pytest.fixture
def public_app(settings: Settings) -> Iterator[Any]:
    """The connector on a real socket whose `public_base_url` is that socket, so the platform
    URLs it hands out are reachable by the emulator."""
    server = make_server("127.0.0.1", 0, lambda environ, start: [], threaded=True)
    app = create_app(dataclasses.replace(
        settings, public_base_url=f"http://127.0.0.1:{server.server_port}"))
    server.app = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app
    server.shutdown()
    app.extensions["wa_runtime"].close()


def test_subscribe_points_wbiz_at_a_new_platform_url_and_keeps_its_secret(
        public_app: Any, rt: Runtime, sandbox: Any, workspace: dict[str, Any]) -> None:
    client = public_app.test_client()
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)
    answer = client.post(f"/v1/connections/{connection['id']}/platform-hook/subscribe",
                         headers=workspace["headers"])
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    [upstream] = env.api("GET", "v1/webhooks")["data"]
    assert upstream["url"] == body["url"] == body["webhook"]["url"]
    assert upstream["events"] == ["message.received", "message.status"]
    assert "secret" not in json.dumps(body)  # kept encrypted by the connector, never shown
    assert body["signed"] and body["scheme"] == "hub_sha256"

    contact = env.contact()
    env.admin("POST", f"/accounts/{env.slug}/inbound", json={"from": contact["phone"],
                                                             "text": "via subscribe"})
    assert [d["attempts"] for d in delivered(env, 1)] == [[200]]
    assert [i["data"]["text"] for i in feed(client, workspace, connection["id"], INBOUND)] == [
        "via subscribe"]
    path = "/" + body["url"].split("/", 3)[3]
    unsigned = client.post(path, data=event("unsigned"), headers={"Content-Type":
                                                                  "application/json"})
    assert unsigned.status_code == 401


def test_subscribing_again_replaces_the_upstream_webhook_instead_of_adding_one(
        public_app: Any, rt: Runtime, sandbox: Any, workspace: dict[str, Any]) -> None:
    client = public_app.test_client()
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)
    url = f"/v1/connections/{connection['id']}/platform-hook/subscribe"
    first = client.post(url, headers=workspace["headers"]).get_json()
    assert "replaced" not in first
    second = client.post(url, headers=workspace["headers"]).get_json()
    assert second["replaced"] == {"id": first["webhook"]["id"], "deleted": True}
    [upstream] = env.api("GET", "v1/webhooks")["data"]
    assert upstream["id"] == second["webhook"]["id"] and upstream["url"] == second["url"]

    # Deleted by hand meanwhile: the next subscribe still succeeds and says so.
    env.api("DELETE", f"v1/webhooks/{second['webhook']['id']}")
    third = client.post(url, headers=workspace["headers"]).get_json()
    assert third["replaced"] == {"id": second["webhook"]["id"], "deleted": True}
    assert [w["id"] for w in env.api("GET", "v1/webhooks")["data"]] == [third["webhook"]["id"]]


def test_subscribe_is_refused_clearly_where_the_api_cannot_do_it(
        client: Any, rt: Runtime, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox, scopes=["contacts:read", "messages:send"])
    connection = connect(client, workspace, env)
    missing = client.post(f"/v1/connections/{connection['id']}/platform-hook/subscribe",
                          headers=workspace["headers"])
    assert missing.status_code == 403 and "webhooks:manage" in missing.get_json()["detail"]
    corbital = connect(client, workspace, CorbitalV1Env(sandbox))
    unsupported = client.post(f"/v1/connections/{corbital['id']}/platform-hook/subscribe",
                              headers=workspace["headers"])
    assert unsupported.status_code == 422 and unsupported.content_type == PROBLEM
    assert "dashboard" in unsupported.get_json()["detail"]
