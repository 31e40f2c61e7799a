"""The catalog API gives a Zapier/n8n integration what it needs to build forms."""

import json
from typing import Any

from tests.conftest import make_connection, make_tenant


def test_action_detail_has_standalone_schemas_sample_and_abilities(
        client: Any, workspace: dict[str, Any]) -> None:
    body = client.get("/v1/catalog/actions/send_template", headers=workspace["headers"]).get_json()
    assert body["title"] and body["description"] and body["sample"]["status"] == "accepted"
    assert "$ref" not in json.dumps(body["input_schema"])
    assert set(body["input_schema"]["required"]) == {"phone", "template_name"}
    assert body["providers"]["corbital"]["abilities"] == ["messages.send", "templates.read"]


def test_catalog_for_a_connection_marks_what_its_token_cannot_do(
        client: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    tenant = make_tenant(sandbox, abilities=["contacts.read", "statuses.read"])
    connection = make_connection(client, workspace, tenant,
                                 abilities=["contacts.read", "statuses.read"])
    items = client.get(f"/v1/catalog/actions?connection={connection['id']}&schemas=false",
                       headers=workspace["headers"]).get_json()["items"]
    by_key = {item["key"]: item for item in items}
    assert by_key["list_contacts"]["available"] is True
    assert by_key["send_text"]["available"] is False
    assert by_key["send_text"]["missing_abilities"] == ["messages.send"]
    assert "input_schema" not in by_key["send_text"]


def test_unknown_action_and_connection_are_404(client: Any, workspace: dict[str, Any]) -> None:
    assert client.get("/v1/catalog/actions/nope", headers=workspace["headers"]).status_code == 404
    assert client.get("/v1/catalog/actions?connection=con_x",
                      headers=workspace["headers"]).status_code == 404


def test_metrics_show_runs_by_status_and_queue_depth(client: Any, connection: dict[str, Any],
                                                     workspace: dict[str, Any]) -> None:
    client.post(f"/v1/connections/{connection['id']}/actions/list_groups", json={},
                headers=workspace["headers"])
    text = client.get("/metrics").get_data(as_text=True)
    assert 'wa_runs{status="queued"} 1.0' in text
    assert 'wa_queue_depth{queue="actions"} 1.0' in text
    assert "wa_http_responses_total" in text
