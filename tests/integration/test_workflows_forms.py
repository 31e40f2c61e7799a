"""Form submissions, exactly as each product posts them, become workflow runs: contact with
status and source, group membership and the welcome template (real Redis, DB and sandbox)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.forms import PRODUCTS, HookRequest, welcome_definition
from tests.support.tenant_api import make_named, sent_messages, upstream
from tests.support.worker import drain


def create_workflow(client: Any, workspace: dict[str, Any],
                    definition: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/workflows", json=definition, headers=workspace["headers"])
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def post_hook(client: Any, workflow: dict[str, Any], request: HookRequest) -> Any:
    path = "/hooks/in/" + workflow["hook_url"].rsplit("/", 1)[-1]
    return client.post(path, data=request.body, content_type=request.content_type,
                       headers=request.headers)


def workflow_runs(client: Any, workspace: dict[str, Any], workflow_id: str) -> list[Any]:
    body = client.get(f"/v1/workflows/{workflow_id}/runs?limit=200",
                      headers=workspace["headers"]).get_json()
    return list(body["items"])


def contacts_with_phone(tenant: dict[str, Any], e164: str) -> list[dict[str, Any]]:
    rows = upstream(tenant, "GET", "contacts", params={"per_page": 500})["data"]["data"]
    return [r for r in rows if "".join(ch for ch in str(r["phone"]) if ch.isdigit())
            == e164.lstrip("+")]


CASES = [
    pytest.param("typeform", "Ana Souza", "+5511987654321", id="typeform"),
    pytest.param("tally", "Ana Souza", "+55 11 98765-4321", id="tally"),
    pytest.param("jotform", "Ana Souza", "(11) 98765-4321", id="jotform"),
    pytest.param("elementor", "Ana Souza", "+55 11 98765-4321", id="elementor"),
    pytest.param("webflow", "Ana Souza", 5511987654321, id="webflow-number"),
    pytest.param("google_forms", "Ana Souza", "11 98765-4321", id="google-forms-apps-script"),
]


@pytest.mark.parametrize("product_name, name, phone", CASES)
def test_submission_creates_contact_group_and_template(
        product_name: str, name: str, phone: Any, client: Any, rt: Any,
        workspace: dict[str, Any], tenant: dict[str, Any],
        connection: dict[str, Any]) -> None:
    product = PRODUCTS[product_name]
    group = make_named(tenant, "groups")
    workflow = create_workflow(client, workspace, welcome_definition(
        connection["id"], product, str(group["id"])))
    response = post_hook(client, workflow, product.build(name, phone))
    assert response.status_code == 200, response.get_json()
    drain(rt)
    runs = workflow_runs(client, workspace, workflow["id"])
    assert [r["status"] for r in runs] == ["succeeded"], runs[0]["error"]
    [contact] = contacts_with_phone(tenant, "+5511987654321")
    assert contact["firstname"] == "Ana"
    assert str(contact["status_id"]) == "1" and str(contact["source_id"]) == "2"
    assert str(group["id"]) in [str(g) for g in contact["group_id"]]
    [message] = sent_messages(tenant)
    assert message["kind"] == "template"
    assert "Ana" in str(message["payload"])
    welcome = runs[0]["steps"][2]
    assert welcome["output"]["path"] == "template"
    assert welcome["output"]["reason"] == "the contact has never written to us"
