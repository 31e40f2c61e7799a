"""The Corbital v1 sandbox behaves like the upstream (reference §1) over a real socket."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connector.sandbox.server import SandboxServer

TIMEOUT_S = 10


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    sandbox = SandboxServer().start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(autouse=True)
def _no_leftover_faults(server: SandboxServer) -> Iterator[None]:
    yield
    requests.delete(f"{server.url}/_admin/faults", timeout=TIMEOUT_S)
    requests.post(f"{server.url}/_admin/config", json={"latency_ms": 0}, timeout=TIMEOUT_S)


class Api:
    """One sandbox tenant, called the way the connector calls it."""

    def __init__(self, server: SandboxServer, **settings: Any) -> None:
        self.server = server
        self.slug = f"t{uuid.uuid4().hex[:10]}"
        self.token = uuid.uuid4().hex * 2
        body = {"slug": self.slug, "token": self.token, **settings}
        created = requests.post(f"{server.url}/_admin/tenants", json=body, timeout=TIMEOUT_S)
        assert created.status_code == 201, created.text
        self.base = f"{server.url}/api/v1/{self.slug}/"

    def call(self, method: str, path: str, *, token: str | None = None, base: str | None = None,
             **kwargs: Any) -> requests.Response:  # fmt: skip
        headers = {"Accept": "application/json", "Authorization": f"Bearer {token or self.token}"}
        kwargs.setdefault("timeout", TIMEOUT_S)
        return requests.request(method, (base or self.base) + path, headers=headers, **kwargs)

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(method, f"{self.server.url}/_admin/{path}", timeout=60,
                                    **kwargs)  # fmt: skip
        assert response.status_code < 300, response.text
        return response.json()

    def requests_log(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", "requests", params={"tenant": self.slug})["requests"])

    def sent(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", f"tenants/{self.slug}/messages")["messages"])

    def fault(self, **spec: Any) -> None:
        self.admin("POST", "faults", json={"tenant": self.slug, **spec})

    def contact(self, phone: str, **fields: Any) -> dict[str, Any]:
        body = {"firstname": "Ann", "lastname": "Lee", "phone": phone, "type": "lead",
                "source_id": 1, "status_id": 1, **fields}  # fmt: skip
        response = self.call("POST", "contacts", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json()["data"])


@pytest.fixture
def api(server: SandboxServer) -> Api:
    return Api(server)


def test_both_base_paths_serve_the_same_tenant(api: Api, server: SandboxServer) -> None:
    v1 = api.call("GET", "statuses").json()
    wab2c = api.call("GET", "statuses", base=f"{server.url}/api/{api.slug}/").json()
    assert v1["data"]["data"] == wab2c["data"]["data"]
    assert [s["name"] for s in v1["data"]["data"]] == ["Active", "New"]


@pytest.mark.parametrize(("setting", "status", "body"), [
    pytest.param({"api_enabled": False}, 403,
                 {"status": "error", "message": "API access is disabled"}, id="disabled"),
    pytest.param({"api_settings": False}, 404,
                 {"status": "error", "message": "API settings not found for this tenant"},
                 id="no-settings"),
])  # fmt: skip
def test_tenant_level_refusals(server: SandboxServer, setting: dict[str, Any], status: int,
                               body: dict[str, Any]) -> None:  # fmt: skip
    api = Api(server, **setting)
    response = api.call("GET", "templates")
    assert (response.status_code, response.json()) == (status, body)


def test_unknown_tenant_is_a_500_with_string_errors(api: Api, server: SandboxServer) -> None:
    response = api.call("GET", "templates", base=f"{server.url}/api/v1/nobody-here/")
    assert response.status_code == 500
    assert response.json() == {"status": "error", "message": "Validation failed",
                               "errors": "Invalid tenant subdomain"}  # fmt: skip


def test_token_checks_and_the_log_never_holds_the_token(api: Api) -> None:
    missing = requests.get(api.base + "templates", timeout=TIMEOUT_S)
    wrong = api.call("GET", "templates", token="nope")
    assert (missing.status_code, missing.json()["message"]) == (401, "API token is required")
    assert (wrong.status_code, wrong.json()["message"]) == (401, "Invalid API token")
    assert [e["auth"] for e in api.requests_log()] == ["missing", "invalid"]
    assert api.token not in json.dumps(api.requests_log())


def test_missing_ability_is_403_and_logged(server: SandboxServer) -> None:
    api = Api(server, abilities=["contacts.read"])
    response = api.call("POST", "messages/send", json={"phone_number": "1", "message_body": "x"})
    assert response.status_code == 403
    assert response.json() == {
        "status": "error",
        "message": "Token does not have the required ability: messages.send",
    }
    [entry] = api.requests_log()
    assert (entry["status"], entry["auth"], entry["ability"]) == (403, "ok", "messages.send")


def test_rate_limit_429_after_max_hits_and_refused_auth_not_counted(server: SandboxServer) -> None:
    api = Api(server, rate_limit_max=3, rate_limit_decay_s=60)
    assert [api.call("GET", "groups", token="bad").status_code for _ in range(4)] == [401] * 4
    assert [api.call("GET", "groups").status_code for _ in range(3)] == [200] * 3
    throttled = api.call("GET", "groups")
    assert throttled.status_code == 429
    body = throttled.json()
    assert set(body) == {"message", "retry_after"} and body["message"] == "Too Many Attempts."
    assert isinstance(body["retry_after"], int) and 1 <= body["retry_after"] <= 60
    assert "Retry-After" not in throttled.headers
    stats = api.admin("GET", f"tenants/{api.slug}/stats")
    assert (stats["throttled"], stats["max_in_any_window"], stats["requests"]) == (1, 3, 8)
    assert stats["by_status"] == {"200": 3, "401": 4, "429": 1}


def test_rate_limit_can_be_unlimited_and_changed(server: SandboxServer) -> None:
    api = Api(server, rate_limit_max=0)
    assert {api.call("GET", "sources").status_code for _ in range(70)} == {200}
    api.admin("PATCH", f"tenants/{api.slug}", json={"rate_limit_max": 1, "reset_rate_limit": True})
    assert [api.call("GET", "sources").status_code for _ in range(2)] == [200, 429]


def test_paginator_shape_order_and_page_urls_without_per_page(api: Api) -> None:
    ids = api.admin("POST", f"tenants/{api.slug}/generate",
                    json={"resource": "groups", "count": 20})["ids"]  # fmt: skip
    page = api.call("GET", "groups", params={"per_page": 7, "page": 2}).json()["data"]
    assert list(page) == ["current_page", "data", "first_page_url", "from", "last_page",
                          "last_page_url", "links", "next_page_url", "path", "per_page",
                          "prev_page_url", "to", "total"]  # fmt: skip
    assert [g["id"] for g in page["data"]] == sorted(ids, reverse=True)[7:14]
    assert (page["from"], page["to"], page["total"], page["last_page"]) == (8, 14, 20, 3)
    assert page["next_page_url"] == api.base + "groups?page=3"
    assert page["prev_page_url"] == api.base + "groups?page=1"
    assert [link["label"] for link in page["links"]] == [
        "&laquo; Previous",
        "1",
        "2",
        "3",
        "Next &raquo;",
    ]
    assert page["data"][0]["created_at"].endswith(".000000Z")


def test_paginator_links_window_and_per_page_crash(api: Api) -> None:
    api.admin("POST", f"tenants/{api.slug}/generate", json={"resource": "sources", "count": 98})
    page = api.call("GET", "sources", params={"per_page": 1, "page": 50}).json()["data"]
    labels = [link["label"] for link in page["links"]][1:-1]
    assert labels == ["1", "2", "...", "47", "48", "49", "50", "51", "52", "53", "...", "99", "100"]
    crash = api.call("GET", "sources", params={"per_page": "abc"})
    assert (crash.status_code, crash.json()) == (500, {"message": "Server Error"})


def test_missing_contact_is_200_with_null_but_other_resources_404(api: Api) -> None:
    contact = api.call("GET", "contacts/999999")
    group = api.call("GET", "groups/999999")
    assert (contact.status_code, contact.json()) == (200, {"status": "success", "data": None})
    assert (group.status_code, group.json()["status"]) == (404, "error")


def test_contact_create_answers_201_and_enforces_unique_phone(api: Api) -> None:
    created = api.contact("+4915100000001", group_id=[5], unknown="dropped")
    assert created["phone"] == "+4915100000001" and created["group_id"] == [5]
    assert "unknown" not in created and isinstance(created["id"], int)
    again = api.call(
        "POST",
        "contacts",
        json={
            "firstname": "B",
            "lastname": "C",
            "type": "x",
            "phone": "+4915100000001",
            "source_id": "a",
        },
    )
    assert again.status_code == 422
    assert again.json()["errors"] == {
        "phone": ["The phone has already been taken."],
        "type": ["The selected type is invalid."],
        "source_id": ["The source id field must be an integer."],
        "status_id": ["The status id field is required."],
    }


def test_put_contact_requires_names_and_phone_even_for_partial_updates(api: Api) -> None:
    contact = api.contact("+4915100000002")
    partial = api.call("PUT", f"contacts/{contact['id']}", json={"company": "Acme"})
    assert partial.status_code == 422
    assert set(partial.json()["errors"]) == {"firstname", "lastname", "phone"}
    full = api.call("PUT", f"contacts/{contact['id']}",
                    json={"firstname": "Ann", "lastname": "Lee", "phone": "+4915100000002",
                          "company": "Acme", "status_id": 51})  # fmt: skip
    assert full.json()["errors"] == {
        "status_id": ["The status id field must not be greater than 50."]
    }


def test_list_filters_are_ignored(api: Api) -> None:
    api.contact("+4915100000003", type="lead")
    api.contact("+4915100000004", type="contact")
    listed = api.call("GET", "contacts", params={"type": "contact"}).json()["data"]
    assert sorted(c["type"] for c in listed["data"]) == ["contact", "lead"]


def test_delete_refuses_used_group_and_default_status(api: Api) -> None:
    group = api.call("POST", "groups", json={"name": "VIP"}).json()["data"]
    api.contact("+4915100000005", group_id=[group["id"]])
    assert api.call("DELETE", f"groups/{group['id']}").status_code == 400
    default = next(s for s in api.call("GET", "statuses").json()["data"]["data"] if s["isdefault"])
    assert api.call("DELETE", f"statuses/{default['id']}").status_code == 400
    short = api.call("POST", "statuses", json={"name": "ab"})
    assert short.json()["errors"] == {"name": ["The name field must be at least 3 characters."]}


TEMPLATE_CASES = [
    pytest.param({"template_name": "welcome", "field_1": "Ann"}, 422,
                 {"template_fields": ["field_2 (Body parameter 2 required)"]}, id="body-param"),
    pytest.param({"template_name": "order_update", "field_1": "shipped"}, 422,
                 {"template_fields": ["header_field_1 (Header text parameter required)"]},
                 id="text-header"),
    pytest.param({"template_name": "promo_image", "field_1": "Ann"}, 422,
                 {"template_fields": ["header_image_url or header_image_file "
                                      "(Header image required)"]}, id="image-header"),
    pytest.param({"template_name": "old_offer", "field_1": "x"}, 404, None, id="paused"),
    pytest.param({"template_name": "draft_news"}, 404, None, id="pending"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "status", "errors"), TEMPLATE_CASES)
def test_template_validation(api: Api, fields: dict[str, Any], status: int,
                             errors: dict[str, Any] | None) -> None:  # fmt: skip
    body = {"phone_number": "4915100000006", "template_language": "en", **fields}
    response = api.call("POST", "messages/template", json=body)
    assert response.status_code == status
    if errors is None:
        assert list(response.json()["errors"]) == ["template"]
    else:
        assert response.json() == {"status": "error", "message": "Template validation failed",
                                   "errors": errors}  # fmt: skip
    assert api.sent() == []


def test_template_phone_is_not_normalised(api: Api) -> None:
    body = {"phone_number": "+491510000000777", "template_name": "welcome",
            "template_language": "en", "field_1": "a", "field_2": "b"}  # fmt: skip
    response = api.call("POST", "messages/template", json=body)
    assert response.json()["errors"] == {
        "phone_number": ["The phone number field must not be greater than 15 characters."]
    }


def test_template_send_nests_the_meta_reply(api: Api) -> None:
    api.contact("+4915100000008")
    body = {"phone_number": "4915100000008", "template_name": "welcome",
            "template_language": "en", "field_1": "Ann", "field_2": "Acme"}  # fmt: skip
    data = api.call("POST", "messages/template", json=body).json()["data"]
    assert "message_id" not in data and data["media_info"] is None
    wamid = data["whatsapp_response"]["messages"][0]["id"]
    assert wamid.startswith("wamid.") and data["contact"]["created"] is False
    [sent] = api.sent()
    assert (sent["kind"], sent["wamid"], sent["payload"]["body_params"]) == (
        "template",
        wamid,
        ["Ann", "Acme"],
    )


def test_media_rules_jpg_rejected_and_unreachable_is_empty_200(api: Api) -> None:
    api.contact("+4915100000009")
    base = {"phone_number": "4915100000009", "media_type": "image"}
    jpg = api.call("POST", "messages/media", json={**base, "media_url": "https://cdn.test/a.jpg"})
    assert jpg.status_code == 422
    assert jpg.json()["message"] == "Invalid file extension for image. Allowed: jpeg, png"
    gone = api.call("POST", "messages/media",
                    json={**base, "media_url": "https://unreachable.test/a.png"})  # fmt: skip
    assert (gone.status_code, gone.content) == (200, b"")
    ok = api.call("POST", "messages/media", json={**base, "media_url": "https://cdn.test/a.jpeg"})
    assert ok.json()["data"]["message_id"].startswith("wamid.")
    assert [m["kind"] for m in api.sent()] == ["media"]


def test_send_resolves_by_suffix_and_auto_creates_only_with_country(api: Api) -> None:
    api.contact("+4915100000010")
    api.contact("+49 151 00000013")
    found = api.call(
        "POST", "messages/send", json={"phone_number": "+49 (151) 0000-0010", "message_body": "Hi"}
    )
    assert found.json()["data"]["contact_created"] is False
    # The suffix match runs on the stored phone as typed: spaces defeat it (§1.7).
    spaced = api.call(
        "POST", "messages/send", json={"phone_number": "4915100000013", "message_body": "Hi"}
    )
    assert spaced.status_code == 404
    unknown = {"phone_number": "4915100000011", "message_body": "Hi"}
    assert api.call("POST", "messages/send", json=unknown).status_code == 404
    no_country = api.call("POST", "messages/send", json={**unknown, "contact": {"first_name": "Z"}})
    assert (no_country.status_code, no_country.json()["message"]) == (
        500,
        "Failed to create contact",
    )
    contact = {"first_name": "Zoe", "country": "Germany", "groups": "vip, new"}
    created = api.call("POST", "messages/send", json={**unknown, "contact": contact}).json()
    assert created["data"]["contact_created"] is True
    groups = api.call("GET", "groups").json()["data"]["data"]
    assert sorted(g["name"] for g in groups) == ["new", "vip"]


def _send(api: Api, **kwargs: Any) -> requests.Response:
    body = {"phone_number": "4915100000012", "message_body": "Hi"}
    return api.call("POST", "messages/send", json=body, **kwargs)


def test_fault_status_answers_without_effect_and_is_used_up(api: Api) -> None:
    api.contact("+4915100000012")
    api.fault(kind="status", status=503, path_contains="/messages/send", times=1)
    failed = _send(api)
    assert (failed.status_code, failed.json()) == (503, {"message": "Service Unavailable"})
    assert api.sent() == []
    assert _send(api).status_code == 200
    assert api.admin("GET", "faults")["faults"] == []


def test_fault_status_after_effect_records_the_message(api: Api) -> None:
    api.contact("+4915100000012")
    api.fault(kind="status_after_effect", status=502, method="POST")
    assert _send(api).status_code == 502
    assert len(api.sent()) == 1
    assert api.requests_log()[-1]["app_status"] == 200


def test_fault_drop_closes_the_connection_before_the_effect(api: Api) -> None:
    api.contact("+4915100000012")
    api.fault(kind="drop", path_contains="/messages/send")
    with pytest.raises(requests.ConnectionError):
        _send(api)
    assert api.sent() == []
    assert api.requests_log()[-1]["status"] is None


def test_fault_drop_after_effect(api: Api) -> None:
    api.contact("+4915100000012")
    api.fault(kind="drop_after_effect", path_contains="/messages/send")
    with pytest.raises(requests.ConnectionError):
        _send(api)
    assert len(api.sent()) == 1


def test_fault_timeout_after_effect_records_then_times_out(api: Api) -> None:
    api.contact("+4915100000012")
    api.fault(kind="timeout_after_effect", delay_ms=1500, path_contains="/messages/send")
    with pytest.raises(requests.ReadTimeout):
        _send(api, timeout=0.5)
    assert len(api.sent()) == 1


def test_fault_empty_200_and_latency(api: Api) -> None:
    api.fault(kind="empty_200", method="GET", path_contains="/templates")
    empty = api.call("GET", "templates")
    assert (empty.status_code, empty.content) == (200, b"")
    api.fault(kind="latency", delay_ms=200, path_contains="/templates", times=2)
    assert api.call("GET", "templates").status_code == 200
    entry = api.requests_log()[-1]
    assert entry["fault"] == "latency" and entry["duration_ms"] >= 200
    assert api.admin("GET", "faults")["faults"][0]["times_left"] == 1


def test_unknown_route_and_wrong_method_answer_json(api: Api) -> None:
    missing = api.call("GET", "nothing-here")
    wrong = api.call("DELETE", "templates")
    assert missing.status_code == 404 and "could not be found" in missing.json()["message"]
    assert wrong.status_code == 405
    assert wrong.json()["message"].endswith("Supported methods: GET, HEAD.")


def test_generator_makes_100k_contacts_listable(api: Api) -> None:
    made = api.admin(
        "POST",
        f"tenants/{api.slug}/generate",
        json={"resource": "contacts", "count": 100_000, "same_timestamp": True},
    )
    page = api.call("GET", "contacts").json()["data"]
    assert (made["count"], page["total"], len(page["data"])) == (100_000, 100_000, 15)
    assert [c["id"] for c in page["data"]] == list(range(100_000, 99_985, -1))
    assert len({c["created_at"] for c in page["data"]}) == 1
    found = api.call(
        "POST",
        "messages/send",
        json={"phone_number": page["data"][3]["phone"], "message_body": "x"},
    )
    assert found.json()["data"]["contact_id"] == page["data"][3]["id"]
