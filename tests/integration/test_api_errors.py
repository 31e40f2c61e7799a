"""Bad input gets a clear problem+json 4xx, never a 500 or an HTML page."""

from typing import Any

import pytest

PROBLEM = "application/problem+json"


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


@pytest.mark.parametrize("headers", [
    pytest.param({}, id="no-header"),
    pytest.param({"Authorization": "Bearer wak_live_not-a-real-key"}, id="unknown-key"),
    pytest.param({"Authorization": "Basic abc"}, id="wrong-scheme"),
    pytest.param({"Authorization": "Bearer "}, id="empty-key"),
])
def test_missing_or_bad_key_is_401(client: Any, headers: dict[str, str]) -> None:
    body = assert_problem(client.get("/v1/me", headers=headers), 401)
    assert "Bearer" in body["detail"] or "unknown" in body["detail"]


def test_me_answers_who_the_key_belongs_to(client: Any, workspace: dict[str, Any]) -> None:
    response = client.get("/v1/me", headers=workspace["headers"])
    assert response.status_code == 200
    assert response.get_json()["workspace"]["id"] == workspace["id"]


def test_malformed_json_is_400(client: Any, connection: dict[str, Any],
                               workspace: dict[str, Any]) -> None:
    response = client.post(f"/v1/connections/{connection['id']}/actions/list_groups",
                           data=b'{"page": 1,', headers={**workspace["headers"],
                                                          "Content-Type": "application/json"})
    assert_problem(response, 400)


def test_wrong_content_type_is_415(client: Any, connection: dict[str, Any],
                                   workspace: dict[str, Any]) -> None:
    response = client.post(f"/v1/connections/{connection['id']}/actions/list_groups",
                           data="page=1",
                           headers={**workspace["headers"],
                                    "Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(response, 415)


def test_wrong_types_are_422_with_pointers(client: Any, connection: dict[str, Any],
                                           workspace: dict[str, Any]) -> None:
    response = client.post(f"/v1/connections/{connection['id']}/actions/send_template",
                           json={"phone": 12, "body_params": "x"}, headers=workspace["headers"])
    body = assert_problem(response, 422)
    pointers = {e["pointer"] for e in body["errors"]}
    assert {"/phone", "/template_name", "/body_params"} <= pointers


def test_body_must_be_an_object(client: Any, connection: dict[str, Any],
                                workspace: dict[str, Any]) -> None:
    response = client.post(f"/v1/connections/{connection['id']}/actions/list_groups",
                           json=[1, 2], headers=workspace["headers"])
    assert_problem(response, 422)


def test_unknown_action_is_404(client: Any, connection: dict[str, Any],
                               workspace: dict[str, Any]) -> None:
    response = client.post(f"/v1/connections/{connection['id']}/actions/launch_rocket",
                           json={}, headers=workspace["headers"])
    assert "catalog" in assert_problem(response, 404)["detail"]


def test_unknown_connection_is_404(client: Any, workspace: dict[str, Any]) -> None:
    response = client.post("/v1/connections/con_nope/actions/list_groups", json={},
                           headers=workspace["headers"])
    assert_problem(response, 404)


def test_body_over_one_mebibyte_is_413(client: Any, connection: dict[str, Any],
                                       workspace: dict[str, Any]) -> None:
    big = b'{"text": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    response = client.post(f"/v1/connections/{connection['id']}/actions/send_text", data=big,
                           headers={**workspace["headers"], "Content-Type": "application/json"})
    assert_problem(response, 413)


def test_unknown_route_and_method_are_problems(client: Any, workspace: dict[str, Any]) -> None:
    assert_problem(client.get("/v1/nothing-here", headers=workspace["headers"]), 404)
    assert_problem(client.delete("/v1/me", headers=workspace["headers"]), 405)


def test_connection_with_bad_token_is_422_pointing_at_token(
        client: Any, workspace: dict[str, Any], tenant: dict[str, Any]) -> None:
    response = client.post("/v1/connections", headers=workspace["headers"], json={
        "provider": "corbital", "base_url": tenant["base_url"], "tenant": tenant["slug"],
        "token": "definitely-not-the-token"})
    body = assert_problem(response, 422)
    assert body["errors"][0]["pointer"] == "/token"
    assert "definitely-not-the-token" not in response.get_data(as_text=True)


def test_connection_missing_fields_lists_every_error(client: Any,
                                                     workspace: dict[str, Any]) -> None:
    response = client.post("/v1/connections", headers=workspace["headers"],
                           json={"provider": "corbital", "base_url": "not a url", "extra": 1})
    body = assert_problem(response, 422)
    pointers = {e["pointer"] for e in body["errors"]}
    assert {"/token", "/tenant", "/base_url"} <= pointers


def test_workspaces_are_isolated(client: Any, rt: Any, connection: dict[str, Any]) -> None:
    from connector.store.workspaces import create_api_key, create_workspace

    with rt.db.session() as session:
        other = create_workspace(session, "other")
        _, key = create_api_key(session, other.id)
    headers = {"Authorization": f"Bearer {key}"}
    assert_problem(client.get(f"/v1/connections/{connection['id']}", headers=headers), 404)
    assert client.get("/v1/connections", headers=headers).get_json()["items"] == []
    assert_problem(client.post(f"/v1/connections/{connection['id']}/actions/list_groups",
                               json={}, headers=headers), 404)
    assert client.get("/v1/runs", headers=headers).get_json()["items"] == []
