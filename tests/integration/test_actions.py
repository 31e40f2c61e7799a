"""Every action against the sandbox over HTTP: it succeeds, its output fits its schema, and it
fails before any upstream call when the token lacks its ability."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from connector.catalog import load
from connector.config import ROOT
from tests.conftest import make_connection, make_tenant
from tests.support.tenant_api import (
    first_item,
    make_contact,
    make_named,
    request_count,
    sent_messages,
    unique_phone,
    upstream,
)
from tests.support.worker import drain, wait_for_runs

CATALOG = load(ROOT)
ALL_ABILITIES = sorted(json.loads((ROOT / "schemas" / "abilities.json").read_text())["corbital"])
Builder = Callable[[dict[str, Any]], dict[str, Any]]


def _with_group(tenant: dict[str, Any]) -> dict[str, Any]:
    group = make_named(tenant, "groups")
    contact = make_contact(tenant, group_id=[group["id"]])
    return {"contact_id": str(contact["id"]), "group_id": str(group["id"])}


INPUTS: dict[str, Builder] = {
    "create_contact": lambda t: {"first_name": "Ada", "last_name": "Lovelace",
                                 "phone": unique_phone(), "status_id": "1", "source_id": "1",
                                 "email": "ada@example.com"},
    "get_contact": lambda t: {"id": str(make_contact(t)["id"])},
    "update_contact": lambda t: {"id": str(make_contact(t)["id"]), "company": "Analytical Ltd"},
    "delete_contact": lambda t: {"id": str(make_contact(t)["id"])},
    "list_contacts": lambda t: {"per_page": 5},
    "find_contact_by_phone": lambda t: {"phone": make_contact(t)["phone"]},
    "upsert_contact": lambda t: {"first_name": "Grace", "last_name": "Hopper",
                                 "phone": unique_phone(), "status_id": "1", "source_id": "1"},
    "add_contact_to_group": lambda t: {"contact_id": str(make_contact(t)["id"]),
                                       "group_id": str(make_named(t, "groups")["id"])},
    "remove_contact_from_group": _with_group,
    "list_templates": lambda t: {},
    "get_template": lambda t: {"id": str(first_item(t, "templates")["id"])},
    "list_message_bots": lambda t: {},
    "get_message_bot": lambda t: {"id": str(first_item(t, "messagebots")["id"])},
    "list_template_bots": lambda t: {},
    "get_template_bot": lambda t: {"id": str(first_item(t, "templatebots")["id"])},
    "send_text": lambda t: {"phone": make_contact(t)["phone"], "text": "Hello from the test"},
    "send_media": lambda t: {"phone": make_contact(t)["phone"], "media_type": "image",
                             "media_url": "https://cdn.example.com/pic.png", "caption": "hi"},
    "send_template": lambda t: {"phone": make_contact(t)["phone"], "template_name": "welcome",
                                "language": "en", "body_params": ["Ada", "Acme"]},
    "send_message": lambda t: {"phone": make_contact(t)["phone"], "text": "Hello",
                               "template_name": "welcome", "body_params": ["Ada", "Acme"]},
}
for resource, singular in (("statuses", "status"), ("sources", "source"), ("groups", "group")):
    INPUTS[f"create_{singular}"] = lambda t, s=singular: {"name": f"New {s} {unique_phone()}"}
    INPUTS[f"get_{singular}"] = lambda t, r=resource: {"id": str(make_named(t, r)["id"])}
    INPUTS[f"update_{singular}"] = lambda t, r=resource: {"id": str(make_named(t, r)["id"]),
                                                          "name": f"Renamed {unique_phone()}"}
    INPUTS[f"delete_{singular}"] = lambda t, r=resource: {"id": str(make_named(t, r)["id"])}
    INPUTS[f"list_{resource}"] = lambda t: {}


def test_every_catalog_action_has_a_case() -> None:
    """Every action the Corbital v1 dialect claims (other providers: test_conformance.py)."""
    assert set(INPUTS) == {k for k, a in CATALOG.actions.items() if a.provider("corbital")}


def call(client: Any, workspace: dict[str, Any], connection_id: str, key: str,
         data: dict[str, Any], **headers: str) -> Any:
    return client.post(f"/v1/connections/{connection_id}/actions/{key}", json=data,
                       headers={**workspace["headers"], **headers})


def finished_run(client: Any, workspace: dict[str, Any], rt: Any, response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.get_json()
    drain(rt)
    return dict(client.get(response.headers["Location"], headers=workspace["headers"]).get_json())


@pytest.mark.parametrize("key", sorted(INPUTS))
def test_action_succeeds_against_the_sandbox(key: str, client: Any, rt: Any,
                                             workspace: dict[str, Any], tenant: dict[str, Any],
                                             connection: dict[str, Any]) -> None:
    run = finished_run(client, workspace, rt,
                       call(client, workspace, connection["id"], key, INPUTS[key](tenant)))
    assert run["status"] == "succeeded", run["error"]
    errors = list(CATALOG.actions[key].output_validator.iter_errors(run["output"])) \
        if hasattr(CATALOG.actions[key], "output_validator") else []
    assert errors == []
    assert run["attempts"][0]["exchanges"], "the run records its upstream exchanges"


@pytest.mark.parametrize("key", sorted(INPUTS))
def test_missing_ability_fails_before_any_upstream_call(
        key: str, client: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    definition = CATALOG.actions[key]
    lacking = definition.provider("corbital").abilities[0]
    granted = [a for a in ALL_ABILITIES if a != lacking]
    tenant = make_tenant(sandbox)  # the tenant could do it; the token's owner did not enable it
    connection = make_connection(client, workspace, tenant, abilities=granted)
    data = INPUTS[key](tenant)
    before = request_count(tenant)
    response = call(client, workspace, connection["id"], key, data)
    body = response.get_json()
    assert response.status_code == 403, body
    assert body["missing_abilities"] == [lacking]
    assert lacking in body["detail"]
    assert request_count(tenant) == before


def test_a_403_from_the_tenant_removes_the_ability_and_the_next_call_fails_early(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    tenant = make_tenant(sandbox, abilities=[a for a in ALL_ABILITIES if a != "groups.create"])
    connection = make_connection(client, workspace, tenant)  # writes can't be probed
    assert "groups.create" in connection["abilities"]
    run = finished_run(client, workspace, rt,
                       call(client, workspace, connection["id"], "create_group", {"name": "VIP"}))
    assert run["status"] == "failed"
    assert run["error"]["kind"] == "scope_missing"
    assert run["error"]["missing_ability"] == "groups.create"
    second = call(client, workspace, connection["id"], "create_group", {"name": "VIP"})
    assert second.status_code == 403


def test_send_template_checks_parameters_before_sending(
        client: Any, rt: Any, workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    phone = make_contact(tenant)["phone"]
    cases = [
        ({"template_name": "welcome", "body_params": ["only one"]}, "/body_params"),
        ({"template_name": "promo_image", "body_params": ["x"]}, "/header_media_url"),
        ({"template_name": "old_offer"}, "/template_name"),
        ({"template_name": "no_such_template"}, "/template_name"),
    ]
    for data, pointer in cases:
        run = finished_run(client, workspace, rt, call(client, workspace, connection["id"],
                                                       "send_template", {"phone": phone, **data}))
        assert run["status"] == "failed", data
        assert run["error"]["kind"] == "invalid"
        assert pointer in {e["pointer"] for e in run["error"]["errors"]}, run["error"]
    assert sent_messages(tenant) == []


def test_concurrent_group_adds_lose_nothing(client: Any, rt: Any, workspace: dict[str, Any],
                                            tenant: dict[str, Any],
                                            connection: dict[str, Any]) -> None:
    """Read-modify-write of group_id happens under a per-contact lock (two workers)."""
    from tests.support.worker import start_workers, stop_workers

    contact = make_contact(tenant)
    groups = [make_named(tenant, "groups") for _ in range(8)]
    for group in groups:
        response = call(client, workspace, connection["id"], "add_contact_to_group",
                        {"contact_id": str(contact["id"]), "group_id": str(group["id"])})
        assert response.status_code == 202
    workers = start_workers(rt.settings, processes=3)
    try:
        wait_for_runs(client, workspace, expected=8)
    finally:
        stop_workers(workers)
    stored = upstream(tenant, "GET", f"contacts/{contact['id']}")["data"]
    assert sorted(stored["group_id"]) == sorted(g["id"] for g in groups)
