"""The Corbital dialect against the sandbox over real HTTP: operations, pre-checks and faults.

Each test gets its own sandbox tenant; faults are scoped to that tenant. The request log
(`/_admin/requests`) proves what reached the upstream, the sent-message log what took effect.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from connector.catalog import load
from connector.config import ROOT
from connector.engine.outcome import FieldError, Outcome, OutcomeKind
from connector.providers.base import CallContext, ConnectionInfo
from connector.providers.corbital import CorbitalProvider
from connector.providers.http import HttpClient
from connector.providers.registry import get_provider, known_operations
from connector.sandbox.server import SandboxServer

READ_TIMEOUT_S = 0.5
PHONE = "+4915123456789"


class DictCache:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str) -> Any | None:
        return self.values.get(key)

    def set(self, key: str, value: Any, ttl_s: float) -> None:
        self.values[key] = value

    def get_many(self, keys: Any) -> list[Any | None]:
        return [self.values.get(key) for key in keys]

    def set_many(self, values: dict[str, Any], ttl_s: float) -> None:
        self.values.update(values)

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


class Locks:
    """Named in-process locks, standing in for the engine's Redis locks."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self.taken: list[str] = []

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        with self._guard:
            held = self._locks.setdefault(name, threading.Lock())
            self.taken.append(name)
        with held:
            yield


@dataclass
class Tenant:
    sandbox: str
    slug: str
    token: str
    http: HttpClient
    locks: Locks = field(default_factory=Locks)
    cache: DictCache = field(default_factory=DictCache)
    base_path: str = "api/v1/"

    def ctx(self, token: str | None = None, slug: str | None = None) -> CallContext:
        connection = ConnectionInfo(
            id="con_test", provider="corbital", base_url=f"{self.sandbox}/{self.base_path}",
            tenant=slug or self.slug, token=token or self.token)
        return CallContext(connection=connection, http=self.http,
                           before_request=lambda method: None, lock=self.locks.lock,
                           cache=self.cache, default_region="DE")

    def run(self, operation: str, data: dict[str, Any], resource: str | None = None,
            ctx: CallContext | None = None) -> Outcome:
        params = {"resource": resource} if resource else {}
        return CorbitalProvider().execute(operation, params, data, ctx or self.ctx())

    def requests(self) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.sandbox}/_admin/requests", params={"tenant": self.slug},
                              timeout=5)
        rows: list[dict[str, Any]] = answer.json()["requests"]
        return rows

    def calls(self) -> list[str]:
        return [f"{r['method']} {r['path'].split(self.slug + '/', 1)[1]}" for r in self.requests()]

    def sent(self) -> list[dict[str, Any]]:
        url = f"{self.sandbox}/_admin/tenants/{self.slug}/messages"
        messages: list[dict[str, Any]] = requests.get(url, timeout=5).json()["messages"]
        return messages

    def fault(self, kind: str, **spec: Any) -> None:
        body = {"kind": kind, "tenant": self.slug, "times": 1, **spec}
        requests.post(f"{self.sandbox}/_admin/faults", json=body, timeout=5).raise_for_status()

    def contact(self, phone: str = PHONE, **fields: Any) -> dict[str, Any]:
        data = {"first_name": "Ada", "last_name": "Lovelace", "phone": phone, "type": "lead",
                "status_id": "1", "source_id": "1", **fields}
        outcome = self.run("create", data, "contacts")
        assert outcome.ok, outcome
        created: dict[str, Any] = outcome.output
        return created


@pytest.fixture(scope="module")
def http() -> Iterator[HttpClient]:
    client = HttpClient(read_timeout_s=READ_TIMEOUT_S)
    yield client
    client.close()


def make_tenant(sandbox: SandboxServer, http: HttpClient, **settings: Any) -> Tenant:
    slug = f"t{uuid.uuid4().hex[:10]}"
    token = uuid.uuid4().hex * 2
    body = {"slug": slug, "token": token, "rate_limit_max": 10_000, **settings}
    requests.post(f"{sandbox.url}/_admin/tenants", json=body, timeout=5).raise_for_status()
    return Tenant(sandbox.url, slug, token, http)


@pytest.fixture
def tenant(sandbox: SandboxServer, http: HttpClient) -> Iterator[Tenant]:
    made = make_tenant(sandbox, http)
    yield made
    requests.delete(f"{sandbox.url}/_admin/faults", timeout=5)


# --- probe ------------------------------------------------------------------------------------


def test_registry_builds_the_corbital_provider() -> None:
    provider = get_provider("corbital")
    assert provider.name == "corbital"
    assert {"send_template", "upsert_contact", "list"} <= provider.operations()


def test_probe_reports_held_read_abilities(sandbox: SandboxServer, http: HttpClient) -> None:
    abilities = ["statuses.read", "contacts.read", "groups.read", "messages.send"]
    made = make_tenant(sandbox, http, abilities=abilities)
    result = CorbitalProvider().probe(made.ctx())
    assert result.outcome.ok
    assert {"statuses.read", "contacts.read", "groups.read"} <= result.abilities
    assert not {"templates.read", "sources.read", "messagebots.read"} & result.abilities
    assert "messages.send" in result.abilities  # writes are assumed until a 403 says otherwise
    assert result.details == {"api_version": "v1"}
    assert made.calls()[0] == "GET statuses"


def test_probe_with_a_wrong_token_is_auth_invalid(tenant: Tenant) -> None:
    result = CorbitalProvider().probe(tenant.ctx(token="wrong"))
    assert result.outcome.kind is OutcomeKind.AUTH_INVALID
    assert result.abilities == frozenset()


def test_probe_with_an_unknown_tenant_is_halted_not_retried(tenant: Tenant) -> None:
    result = CorbitalProvider().probe(tenant.ctx(slug="nosuchtenant"))
    assert result.outcome.kind is OutcomeKind.HALTED
    assert "tenant" in result.outcome.message


def test_wab2c_style_base_url_works(tenant: Tenant) -> None:
    tenant.base_path = "api/"
    assert CorbitalProvider().probe(tenant.ctx()).outcome.ok


# --- generic resources ------------------------------------------------------------------------


def test_list_statuses_paginates(tenant: Tenant) -> None:
    outcome = tenant.run("list", {"per_page": 1}, "statuses")
    assert outcome.ok
    assert set(outcome.output["items"][0]) == {"id", "name", "color", "is_default", "created_at",
                                               "updated_at"}
    assert outcome.output["per_page"] == 1 and outcome.output["total"] == 2
    assert outcome.output["next_page"] == 2
    second = tenant.run("list", {"page": 2, "per_page": 1}, "statuses")
    assert second.output["next_page"] is None
    names = {outcome.output["items"][0]["name"], second.output["items"][0]["name"]}
    assert names == {"New", "Active"}


def test_group_crud(tenant: Tenant) -> None:
    created = tenant.run("create", {"name": "VIP"}, "groups")
    assert created.ok and created.output["name"] == "VIP"
    group_id = created.output["id"]
    assert isinstance(group_id, str)
    updated = tenant.run("update", {"id": group_id, "name": "VIP+"}, "groups")
    assert updated.ok and updated.output["name"] == "VIP+"
    assert tenant.run("get", {"id": group_id}, "groups").output["name"] == "VIP+"
    deleted = tenant.run("delete", {"id": group_id}, "groups")
    assert deleted.output == {"id": group_id, "deleted": True}
    gone = tenant.run("get", {"id": group_id}, "groups")
    assert gone.kind is OutcomeKind.INVALID and gone.http_status == 404


def test_duplicate_name_is_invalid_with_a_pointer(tenant: Tenant) -> None:
    tenant.run("create", {"name": "Dup"}, "groups")
    outcome = tenant.run("create", {"name": "Dup"}, "groups")
    assert outcome.kind is OutcomeKind.INVALID
    assert [e.pointer for e in outcome.field_errors] == ["/name"]


def test_status_is_default_maps_both_ways(tenant: Tenant) -> None:
    outcome = tenant.run("create", {"name": "Won", "color": "#00ff00", "is_default": True},
                         "statuses")
    assert outcome.ok and outcome.output["is_default"] is True


def test_read_only_resources_refuse_writes_locally(tenant: Tenant) -> None:
    outcome = tenant.run("create", {"name": "x"}, "templates")
    assert outcome.kind is OutcomeKind.INVALID and tenant.requests() == []


def test_templates_and_bots_are_normalised(tenant: Tenant) -> None:
    templates = tenant.run("list", {}, "templates").output["items"]
    welcome = next(t for t in templates if t["name"] == "welcome")
    assert welcome["body_param_count"] == 2 and isinstance(welcome["meta_id"], str)
    assert welcome["buttons"] == [{"type": "QUICK_REPLY", "text": "Get started"}]
    bot = tenant.run("list", {}, "messagebots").output["items"][0]
    assert bot["kind"] == "message" and bot["triggers"] == ["hi", "hello", "hey"]
    assert bot["match"] == "exact" and bot["active"] is True
    template_bot = tenant.run("list", {}, "templatebots").output["items"][0]
    assert template_bot["template_id"] == welcome["id"]


# --- contacts ---------------------------------------------------------------------------------


def test_create_contact_normalises_the_phone(tenant: Tenant) -> None:
    contact = tenant.contact(phone="0151 23456789")
    assert contact["phone"] == PHONE
    assert (contact["first_name"], contact["status_id"]) == ("Ada", "1")
    assert tenant.requests()[-1]["json"]["phone"] == PHONE


def test_invalid_phone_never_reaches_the_upstream(tenant: Tenant) -> None:
    outcome = tenant.run("create", {"first_name": "A", "last_name": "B", "phone": "12"},
                         "contacts")
    assert outcome.kind is OutcomeKind.INVALID
    assert outcome.field_errors[0].pointer == "/phone"
    assert "'12'" in outcome.field_errors[0].message
    assert tenant.requests() == []


def test_get_unknown_contact_is_invalid(tenant: Tenant) -> None:
    outcome = tenant.run("get", {"id": "999999"}, "contacts")
    assert outcome.kind is OutcomeKind.INVALID
    assert outcome.message == "contact 999999 not found"


def test_update_contact_reads_merges_and_writes(tenant: Tenant) -> None:
    contact = tenant.contact()
    outcome = tenant.run("update_contact", {"id": contact["id"], "email": "ada@example.com"})
    assert outcome.ok
    assert outcome.output["email"] == "ada@example.com"
    assert outcome.output["first_name"] == "Ada"
    put = tenant.requests()[-1]
    assert put["method"] == "PUT"
    assert put["json"] == {"firstname": "Ada", "lastname": "Lovelace", "phone": PHONE,
                           "email": "ada@example.com"}
    assert tenant.locks.taken == [f"contact:con_test:{contact['id']}"]


def test_find_contact_by_phone_scans_pages(tenant: Tenant) -> None:
    target = tenant.contact(phone="+4915199999999")
    tenant.cache.values.clear()  # as if made elsewhere: the phone index doesn't know it
    # 600 newer contacts push the target to page 2 of 500.
    requests.post(f"{tenant.sandbox}/_admin/tenants/{tenant.slug}/generate",
                  json={"resource": "contacts", "count": 600}, timeout=30).raise_for_status()
    outcome = tenant.run("find_contact_by_phone", {"phone": "0151 99999999"})
    assert outcome.output == {"found": True, "contact": target}
    scans = [r for r in tenant.requests() if r["method"] == "GET"]
    assert [r["query"] for r in scans] == [{"page": "1", "per_page": "500"},
                                           {"page": "2", "per_page": "500"}]


def test_find_contact_by_phone_not_found(tenant: Tenant) -> None:
    outcome = tenant.run("find_contact_by_phone", {"phone": PHONE})
    assert outcome.output == {"found": False, "contact": None}


def test_upsert_creates_then_updates(tenant: Tenant) -> None:
    first = tenant.run("upsert_contact", {"first_name": "Ada", "last_name": "L", "phone": PHONE,
                                          "type": "lead", "status_id": "1", "source_id": "1"})
    assert first.output["created"] is True
    second = tenant.run("upsert_contact", {"phone": "0049 151 23456789", "company": "AE"})
    assert second.output["created"] is False
    assert second.output["contact"]["id"] == first.output["contact"]["id"]
    assert second.output["contact"]["company"] == "AE"
    assert second.output["contact"]["first_name"] == "Ada"
    assert f"phone:con_test:{PHONE}" in tenant.locks.taken


def test_concurrent_upserts_create_one_contact(tenant: Tenant) -> None:
    data = {"first_name": "Ada", "last_name": "L", "phone": PHONE, "type": "lead",
            "status_id": "1", "source_id": "1"}
    results: list[Outcome] = []

    def upsert() -> None:
        results.append(tenant.run("upsert_contact", data))

    threads = [threading.Thread(target=upsert) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.ok for r in results), results
    assert sorted(r.output["created"] for r in results) == [False, False, False, True]


def test_group_membership(tenant: Tenant) -> None:
    contact = tenant.contact()
    group = tenant.run("create", {"name": "VIP"}, "groups").output
    added = tenant.run("add_contact_to_group", {"contact_id": contact["id"],
                                                "group_id": group["id"]})
    assert added.ok and added.output["group_ids"] == [group["id"]]
    puts_before = tenant.calls().count(f"PUT contacts/{contact['id']}")
    again = tenant.run("add_contact_to_group", {"contact_id": contact["id"],
                                                "group_id": group["id"]})
    assert again.ok and again.output["group_ids"] == [group["id"]]
    assert tenant.calls().count(f"PUT contacts/{contact['id']}") == puts_before  # no PUT
    removed = tenant.run("remove_contact_from_group", {"contact_id": contact["id"],
                                                       "group_id": group["id"]})
    assert removed.ok and removed.output["group_ids"] == []
    put = tenant.requests()[-1]["json"]
    assert put == {"firstname": "Ada", "lastname": "Lovelace", "phone": PHONE, "group_id": []}


def test_a_group_seen_recently_is_not_read_again_until_we_delete_it(tenant: Tenant) -> None:
    group = tenant.run("create", {"name": "VIP"}, "groups").output
    first, second = tenant.contact(), tenant.contact(phone="+4915199999999", first_name="Bo")
    for contact in (first, second):
        added = tenant.run("add_contact_to_group", {"contact_id": contact["id"],
                                                    "group_id": group["id"]})
        assert added.ok, added
    assert tenant.calls().count(f"GET groups/{group['id']}") == 1  # the second add trusted it
    for contact in (first, second):
        assert tenant.run("remove_contact_from_group", {"contact_id": contact["id"],
                                                        "group_id": group["id"]}).ok
    assert tenant.run("delete", {"id": group["id"]}, "groups").ok
    again = tenant.run("add_contact_to_group", {"contact_id": first["id"],
                                                "group_id": group["id"]})
    assert again.kind is OutcomeKind.INVALID  # read again after our delete: gone
    assert again.field_errors[0].pointer == "/group_id"
    assert tenant.calls().count(f"GET groups/{group['id']}") == 2


def test_adding_an_unknown_group_is_invalid(tenant: Tenant) -> None:
    contact = tenant.contact()
    outcome = tenant.run("add_contact_to_group", {"contact_id": contact["id"],
                                                  "group_id": "424242"})
    assert outcome.kind is OutcomeKind.INVALID
    assert outcome.field_errors[0].pointer == "/group_id"
    assert "PUT" not in {r["method"] for r in tenant.requests()}


# --- sends ------------------------------------------------------------------------------------


def test_send_text_auto_creates_the_contact_with_a_country(tenant: Tenant) -> None:
    outcome = tenant.run("send_text", {"phone": "0151 23456789", "text": "Hi",
                                       "contact": {"first_name": "Ada"}})
    assert outcome.ok, outcome
    assert outcome.output["status"] == "accepted" and outcome.output["phone"] == PHONE
    assert outcome.output["message_id"]
    sent = tenant.requests()[-1]["json"]
    assert sent["phone_number"] == "4915123456789"
    assert sent["contact"] == {"first_name": "Ada", "country": "Germany"}
    contact = tenant.run("get", {"id": outcome.output["contact_id"]}, "contacts").output
    assert contact["country_id"] == "82"  # the sandbox resolved "Germany"


def test_send_text_to_an_existing_contact(tenant: Tenant) -> None:
    contact = tenant.contact()
    outcome = tenant.run("send_text", {"phone": PHONE, "text": "Hello"})
    assert outcome.ok and outcome.output["contact_id"] == contact["id"]
    assert len(tenant.sent()) == 1


def test_send_media(tenant: Tenant) -> None:
    tenant.contact()
    outcome = tenant.run("send_media", {"phone": PHONE, "media_type": "image",
                                        "media_url": "https://cdn.example/pic.png",
                                        "caption": "Look"})
    assert outcome.ok, outcome
    assert tenant.requests()[-1]["json"]["caption"] == "Look"


def test_send_media_jpg_is_refused_before_sending(tenant: Tenant) -> None:
    outcome = tenant.run("send_media", {"phone": PHONE, "media_type": "image",
                                        "media_url": "https://cdn.example/pic.jpg"})
    assert outcome.kind is OutcomeKind.INVALID
    assert outcome.field_errors[0].pointer == "/media_url"
    assert ".jpeg" in outcome.message
    assert tenant.requests() == []


def test_send_template(tenant: Tenant) -> None:
    tenant.contact()
    outcome = tenant.run("send_template", {"phone": PHONE, "template_name": "welcome",
                                           "language": "en", "body_params": ["Ada", "Acme"]})
    assert outcome.ok, outcome
    assert outcome.output["message_id"].startswith("wamid.")
    post = tenant.requests()[-1]
    assert post["path"].endswith("/messages/template")
    assert post["json"] == {"phone_number": "4915123456789", "template_name": "welcome",
                            "template_language": "en", "field_1": "Ada", "field_2": "Acme"}
    # The template list is cached: a second send looks nothing up.
    again = tenant.run("send_template", {"phone": PHONE, "template_name": "welcome",
                                         "language": "en", "body_params": ["Bo", "Acme"]})
    assert again.ok
    assert tenant.calls().count("GET templates") == 1


def test_send_template_with_media_and_text_headers(tenant: Tenant) -> None:
    tenant.contact()
    image = tenant.run("send_template", {
        "phone": PHONE, "template_name": "promo_image", "language": "en",
        "body_params": ["Ada"], "header_media_url": "https://cdn.example/promo.png"})
    assert image.ok, image
    assert tenant.requests()[-1]["json"]["header_image_url"] == "https://cdn.example/promo.png"
    text = tenant.run("send_template", {
        "phone": PHONE, "template_name": "order_update", "language": "en",
        "body_params": ["shipped"], "header_params": ["#42"]})
    assert text.ok, text
    assert tenant.requests()[-1]["json"]["header_field_1"] == "#42"


TEMPLATE_REFUSALS = [
    pytest.param({"template_name": "nope", "language": "en"}, ["/template_name"], id="unknown"),
    pytest.param({"template_name": "welcome", "language": "de", "body_params": ["a", "b"]},
                 ["/language"], id="wrong-language"),
    pytest.param({"template_name": "old_offer", "language": "en", "body_params": ["10%"]},
                 ["/template_name"], id="paused"),
    pytest.param({"template_name": "welcome", "language": "en", "body_params": ["a"]},
                 ["/body_params"], id="too-few-body-params"),
    pytest.param({"template_name": "promo_image", "language": "en", "body_params": ["a"]},
                 ["/header_media_url"], id="media-header-without-url"),
    pytest.param({"template_name": "order_update", "language": "en", "body_params": ["x"]},
                 ["/header_params"], id="text-header-without-param"),
    pytest.param({"template_name": "draft_news", "language": "en"},
                 ["/template_name", "/body_params"], id="every-problem-reported"),
]


@pytest.mark.parametrize("data, pointers", TEMPLATE_REFUSALS)
def test_template_checks_run_before_any_send(
    tenant: Tenant, data: dict[str, Any], pointers: list[str]
) -> None:
    outcome = tenant.run("send_template", {"phone": PHONE, **data})
    assert outcome.kind is OutcomeKind.INVALID
    assert [e.pointer for e in outcome.field_errors] == pointers
    # Only template look-ups (a fresh one after the cached list failed) reached the upstream.
    assert set(tenant.calls()) == {"GET templates"}
    assert tenant.sent() == []


def test_template_unknown_contact_without_hints_is_invalid(tenant: Tenant) -> None:
    outcome = tenant.run("send_template", {"phone": PHONE, "template_name": "welcome",
                                           "language": "en", "body_params": ["a", "b"]})
    assert outcome.kind is OutcomeKind.INVALID and outcome.http_status == 404
    assert "auto-creation" in outcome.message


# --- faults -----------------------------------------------------------------------------------


def test_read_timeout_after_a_send_is_in_doubt(tenant: Tenant) -> None:
    tenant.contact()
    tenant.fault("timeout_after_effect", method="POST", path_contains="messages/send",
                 delay_ms=int(READ_TIMEOUT_S * 1000) + 700)
    outcome = tenant.run("send_text", {"phone": PHONE, "text": "Hi"})
    assert outcome.kind is OutcomeKind.IN_DOUBT
    assert len(tenant.sent()) == 1  # it did take effect: resending would duplicate it


def test_500_on_a_read_is_transient(tenant: Tenant) -> None:
    tenant.fault("status", method="GET", path_contains="/statuses", status=500)
    outcome = tenant.run("list", {}, "statuses")
    assert outcome.kind is OutcomeKind.TRANSIENT and outcome.http_status == 500


def test_500_after_a_send_is_in_doubt(tenant: Tenant) -> None:
    tenant.contact()
    tenant.fault("status_after_effect", method="POST", path_contains="messages/send",
                 status=502)
    outcome = tenant.run("send_text", {"phone": PHONE, "text": "Hi"})
    assert outcome.kind is OutcomeKind.IN_DOUBT and outcome.http_status == 502


def test_dropped_connection_on_a_read_is_transient(tenant: Tenant) -> None:
    tenant.fault("drop", method="GET", path_contains="/groups")
    ctx = tenant.ctx()
    outcome = tenant.run("list", {}, "groups", ctx=ctx)
    assert ctx.exchanges[-1].error == "connection_dropped" and ctx.exchanges[-1].sent
    assert outcome.kind is OutcomeKind.TRANSIENT


def test_dropped_connection_on_a_send_is_in_doubt(tenant: Tenant) -> None:
    tenant.contact()
    tenant.fault("drop", method="POST", path_contains="messages/send")
    ctx = tenant.ctx()
    outcome = tenant.run("send_text", {"phone": PHONE, "text": "Hi"}, ctx=ctx)
    # The request was written before the socket closed: we can't know it had no effect.
    assert ctx.exchanges[-1].error == "connection_dropped" and ctx.exchanges[-1].sent
    assert outcome.kind is OutcomeKind.IN_DOUBT
    assert tenant.sent() == []  # (this time it had none)


def test_empty_200_on_media_is_an_upstream_error(tenant: Tenant) -> None:
    tenant.contact()
    tenant.fault("empty_200", method="POST", path_contains="messages/media")
    outcome = tenant.run("send_media", {"phone": PHONE, "media_type": "document",
                                        "media_url": "https://cdn.example/a.pdf"})
    assert outcome.kind is OutcomeKind.UPSTREAM_ERROR
    assert "empty" in outcome.message


def test_missing_ability_is_scope_missing(sandbox: SandboxServer, http: HttpClient) -> None:
    made = make_tenant(sandbox, http, abilities=["contacts.read"])
    outcome = made.run("send_text", {"phone": PHONE, "text": "Hi"})
    assert outcome.kind is OutcomeKind.SCOPE_MISSING
    assert outcome.missing_ability == "messages.send"


def test_rate_limit_is_throttled_with_retry_after(sandbox: SandboxServer,
                                                  http: HttpClient) -> None:
    made = make_tenant(sandbox, http, rate_limit_max=2, rate_limit_decay_s=30)
    outcomes = [made.run("list", {}, "groups") for _ in range(3)]
    assert [o.kind for o in outcomes[:2]] == [OutcomeKind.SUCCESS] * 2
    throttled = outcomes[2]
    assert throttled.kind is OutcomeKind.THROTTLED and throttled.http_status == 429
    assert throttled.retry_after_s is not None and 0 < throttled.retry_after_s <= 30


def test_plan_limit_is_halted(sandbox: SandboxServer, http: HttpClient) -> None:
    made = make_tenant(sandbox, http, conversation_limit_reached=True)
    made.contact()
    outcome = made.run("send_text", {"phone": PHONE, "text": "Hi"})
    assert outcome.kind is OutcomeKind.HALTED
    assert outcome.message.startswith("plan limit reached")


# --- the HTTP layer -----------------------------------------------------------------------------


def test_exchanges_are_recorded_and_redacted(tenant: Tenant) -> None:
    ctx = tenant.ctx()
    tenant.run("send_text", {"phone": PHONE, "text": "Hi", "contact": {"first_name": "A"}},
               ctx=ctx)
    exchange = ctx.exchanges[-1]
    assert exchange.request_headers["Accept"] == "application/json"
    assert tenant.token not in repr(exchange) and "Authorization" not in repr(exchange)
    record = exchange.record(secrets=(tenant.token,))
    assert tenant.token not in json.dumps(record)
    assert record["request_headers"]["Authorization"] == "Bearer [REDACTED]"
    assert record["status"] == 200 and record["sent"] is True


def test_connection_refused_was_never_sent(http: HttpClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    exchange = http.request("GET", f"http://127.0.0.1:{port}/api/v1/t/statuses")
    assert (exchange.error, exchange.sent, exchange.status) == ("connect_error", False, None)


def test_an_unknown_host_was_never_sent(http: HttpClient) -> None:
    exchange = http.request("GET", "http://no-such-host.invalid/api/v1/t/statuses")
    assert exchange.error == "dns_error" and exchange.sent is False


def test_field_errors_point_at_our_names(tenant: Tenant) -> None:
    outcome = tenant.run("create", {"phone": PHONE, "type": "lead"}, "contacts")
    assert outcome.kind is OutcomeKind.INVALID
    assert FieldError("/first_name", "The firstname field is required.") in outcome.field_errors


# --- the action definitions' contract ----------------------------------------------------------


def test_every_corbital_action_output_fits_its_schema(tenant: Tenant) -> None:
    """Each definition bound to corbital, run with an input its schema accepts, answers an
    output its schema accepts (deletes last, so they can remove what the others used)."""
    catalog = load(ROOT, known_operations=known_operations())
    contact = tenant.contact()
    ids = {name: tenant.run("create", {"name": f"x-{name}"}, resource).output["id"]
           for name, resource in (("group", "groups"), ("source", "sources"),
                                  ("status", "statuses"))}
    template_id = tenant.run("list", {}, "templates").output["items"][0]["id"]
    bot_ids = {r: tenant.run("list", {}, r).output["items"][0]["id"]
               for r in ("messagebots", "templatebots")}
    inputs: dict[str, dict[str, Any]] = {
        "list_contacts": {"page": 1, "per_page": 5}, "list_groups": {}, "list_sources": {},
        "list_statuses": {}, "list_templates": {}, "list_message_bots": {},
        "list_template_bots": {},
        "get_contact": {"id": contact["id"]}, "get_group": {"id": ids["group"]},
        "get_source": {"id": ids["source"]}, "get_status": {"id": ids["status"]},
        "get_template": {"id": template_id}, "get_message_bot": {"id": bot_ids["messagebots"]},
        "get_template_bot": {"id": bot_ids["templatebots"]},
        "create_contact": {"first_name": "Bo", "last_name": "B", "phone": "+4915122222222",
                           "status_id": "1", "source_id": "1"},
        "create_group": {"name": "G2"}, "create_source": {"name": "S2"},
        "create_status": {"name": "St2", "color": "#123456", "is_default": False},
        "update_contact": {"id": contact["id"], "company": "AE", "group_ids": [ids["group"]]},
        "update_group": {"id": ids["group"], "name": "G1"},
        "update_source": {"id": ids["source"], "name": "S1"},
        "update_status": {"id": ids["status"], "name": "St1"},
        "find_contact_by_phone": {"phone": PHONE},
        "upsert_contact": {"phone": "+4915133333333", "first_name": "Cy", "last_name": "C",
                           "status_id": "1", "source_id": "1"},
        "add_contact_to_group": {"contact_id": contact["id"], "group_id": ids["group"]},
        "remove_contact_from_group": {"contact_id": contact["id"], "group_id": ids["group"]},
        "send_text": {"phone": PHONE, "text": "Hi"},
        "send_media": {"phone": PHONE, "media_type": "image",
                       "media_url": "https://cdn.example/a.png"},
        "send_template": {"phone": PHONE, "template_name": "welcome",
                          "body_params": ["Ada", "Acme"]},
        "send_message": {"phone": PHONE, "text": "Hi", "template_name": "welcome",
                         "body_params": ["Ada", "Acme"]},
        "delete_contact": {"id": contact["id"]}, "delete_group": {"id": ids["group"]},
        "delete_source": {"id": ids["source"]}, "delete_status": {"id": ids["status"]},
    }
    bound = {key for key, d in catalog.actions.items() if d.provider("corbital") is not None}
    assert set(inputs) == bound
    for key, data in inputs.items():
        definition = catalog.actions[key]
        assert not list(definition.input_validator.iter_errors(data)), key
        entry = definition.provider("corbital")
        assert entry is not None and entry.operation is not None
        params = {"resource": entry.resource} if entry.resource else {}
        outcome = CorbitalProvider().execute(entry.operation, params, data, tenant.ctx())
        assert outcome.ok, (key, outcome)
        problems = [e.message for e in definition.output_validator.iter_errors(outcome.output)]
        assert not problems, (key, problems)
