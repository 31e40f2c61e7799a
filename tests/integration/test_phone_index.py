"""The Corbital v1 phone index against the sandbox over HTTP, wired as the engine wires it
(real Redis cache and locks through `call_context`): a hit costs one verified read, an unknown
phone one small page of the newest contacts, a stale entry falls back to the full scan, and
concurrent upserts of one new phone still create one contact.

The sandbox's request log (`/_admin/requests`) shows which calls reached the upstream.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests

from connector.engine.context import call_context
from connector.engine.outcome import Outcome, OutcomeKind
from connector.providers.corbital import CHECK_PAGE_SIZE, SCAN_PAGE_SIZE, CorbitalProvider
from connector.runtime import Runtime
from connector.store.models import Connection
from tests.support.tenant_api import make_contact, unique_phone, upstream

NEWEST = f"GET contacts?page=1&per_page={CHECK_PAGE_SIZE}"


class Upstream:
    """The connection's provider calls, and what the sandbox saw of them."""

    def __init__(self, rt: Runtime, tenant: dict[str, Any], connection_id: str) -> None:
        self.rt, self.tenant = rt, tenant
        with rt.db.session() as session:
            self.connection = session.get(Connection, connection_id)
        self.seen = 0

    def run(self, operation: str, data: dict[str, Any], resource: str | None = None) -> Outcome:
        ctx = call_context(self.rt, self.connection, self.tenant["token"])
        params = {"resource": resource} if resource else {}
        return CorbitalProvider().execute(operation, params, data, ctx)

    def upsert(self, phone: str, **fields: Any) -> dict[str, Any]:
        data = {"phone": phone, "first_name": "Ana", "last_name": "Souza", "type": "lead",
                "status_id": "1", "source_id": "1", **fields}
        outcome = self.run("upsert_contact", data)
        assert outcome.ok, outcome
        output: dict[str, Any] = outcome.output
        return output

    def calls(self) -> list[str]:
        """Calls that reached the upstream since the last look (`GET contacts?page=1&...`)."""
        rows = requests.get(f"{self.tenant['sandbox']}/_admin/requests", timeout=10,
                            params={"tenant": self.tenant["slug"]}).json()["requests"]
        new, self.seen = rows[self.seen:], len(rows)
        out = []
        for row in new:
            path = row["path"].split(self.tenant["slug"] + "/", 1)[1]
            query = "&".join(f"{k}={v}" for k, v in sorted((row.get("query") or {}).items()))
            out.append(f"{row['method']} {path}" + (f"?{query}" if query else ""))
        return out

    def with_phone(self, phone: str) -> list[dict[str, Any]]:
        digits = phone.lstrip("+")
        found = []
        page = 1
        while True:
            data = upstream(self.tenant, "GET", "contacts",
                            params={"page": page, "per_page": 500})["data"]
            found += [c for c in data["data"] if str(c["phone"]).lstrip("+") == digits]
            if data["next_page_url"] is None:
                return found
            page += 1


@pytest.fixture
def corbital(rt: Runtime, tenant: dict[str, Any], connection: dict[str, Any]) -> Upstream:
    made = Upstream(rt, tenant, connection["id"])
    made.calls()  # the connection's probe is not part of any test
    return made


def _page_query(page: int, per_page: int) -> str:
    return f"page={page}&per_page={per_page}"


def test_a_known_phone_costs_one_verified_read(corbital: Upstream) -> None:
    phone = unique_phone()
    first = corbital.upsert(phone)
    assert first["created"] is True
    assert corbital.calls() == [f"GET contacts?{_page_query(1, SCAN_PAGE_SIZE)}",
                                "POST contacts"]
    contact_id = first["contact"]["id"]
    changed = corbital.upsert(phone, company="Acme")
    assert changed["created"] is False and changed["contact"]["id"] == contact_id
    assert changed["contact"]["company"] == "Acme"
    assert corbital.calls() == [f"GET contacts/{contact_id}", f"PUT contacts/{contact_id}"]
    same = corbital.upsert(phone, company="Acme")
    assert same["created"] is False and same["contact"]["company"] == "Acme"
    assert corbital.calls() == [f"GET contacts/{contact_id}"]  # nothing changed: no PUT


def test_an_unknown_phone_reads_only_the_newest_contacts_whatever_the_tenant_size(
        corbital: Upstream, tenant: dict[str, Any]) -> None:
    requests.post(f"{tenant['sandbox']}/_admin/tenants/{tenant['slug']}/generate",
                  json={"resource": "contacts", "count": 600}, timeout=30).raise_for_status()
    corbital.upsert(unique_phone())  # the first upsert scans all 600 and completes the index
    assert [c for c in corbital.calls() if c.startswith("GET")] == [
        f"GET contacts?{_page_query(1, SCAN_PAGE_SIZE)}",
        f"GET contacts?{_page_query(2, SCAN_PAGE_SIZE)}"]
    for _ in range(3):
        assert corbital.upsert(unique_phone())["created"] is True
        assert corbital.calls() == [NEWEST, "POST contacts"]


def test_a_contact_made_elsewhere_since_the_scan_is_found_not_duplicated(
        corbital: Upstream, tenant: dict[str, Any]) -> None:
    corbital.upsert(unique_phone())  # completes the index
    phone = unique_phone()
    elsewhere = make_contact(tenant, phone=phone.lstrip("+"))  # stored as bare digits
    corbital.calls()
    found = corbital.upsert(phone)
    assert found["created"] is False and found["contact"]["id"] == str(elsewhere["id"])
    # Found on the newest page, then read again under the contact's lock and merged.
    assert corbital.calls() == [NEWEST, f"GET contacts/{elsewhere['id']}",
                                f"PUT contacts/{elsewhere['id']}"]
    assert len(corbital.with_phone(phone)) == 1


def test_an_entry_for_a_deleted_contact_falls_back_to_the_scan(
        corbital: Upstream, tenant: dict[str, Any]) -> None:
    phone = unique_phone()
    gone = corbital.upsert(phone)["contact"]["id"]
    upstream(tenant, "DELETE", f"contacts/{gone}")
    corbital.calls()
    again = corbital.upsert(phone)
    assert again["created"] is True and again["contact"]["id"] != gone
    assert corbital.calls() == [f"GET contacts/{gone}",
                                f"GET contacts?{_page_query(1, SCAN_PAGE_SIZE)}",
                                "POST contacts"]
    assert corbital.upsert(phone)["contact"]["id"] == again["contact"]["id"]
    assert corbital.calls() == [f"GET contacts/{again['contact']['id']}"]


def test_an_entry_whose_contact_changed_phone_falls_back_and_learns_the_new_phone(
        corbital: Upstream, tenant: dict[str, Any]) -> None:
    old, new = unique_phone(), unique_phone()
    contact_id = corbital.upsert(old)["contact"]["id"]
    upstream(tenant, "PUT", f"contacts/{contact_id}",
             json={"firstname": "Ana", "lastname": "Souza", "phone": new})
    corbital.calls()
    moved = corbital.upsert(old)
    assert moved["created"] is True and moved["contact"]["id"] != contact_id
    assert corbital.calls()[:2] == [f"GET contacts/{contact_id}",
                                    f"GET contacts?{_page_query(1, SCAN_PAGE_SIZE)}"]
    kept = corbital.upsert(new)
    assert kept["created"] is False and kept["contact"]["id"] == contact_id
    assert corbital.calls() == [f"GET contacts/{contact_id}"]


def test_the_upstreams_unique_phone_rule_mends_an_index_that_missed_a_contact(
        corbital: Upstream, tenant: dict[str, Any]) -> None:
    corbital.upsert(unique_phone())  # completes the index
    phone = unique_phone()
    hidden = make_contact(tenant, phone=phone)  # made elsewhere, in E.164 like ours ...
    for _ in range(CHECK_PAGE_SIZE):  # ... then pushed off the newest page by contacts we
        # create (creates index what they make without looking at the newest page)
        created = corbital.run("create", {"phone": unique_phone(), "first_name": "Bo",
                                          "last_name": "Li", "type": "lead", "status_id": "1",
                                          "source_id": "1"}, resource="contacts")
        assert created.ok, created
    corbital.calls()
    found = corbital.upsert(phone)
    assert found["created"] is False and found["contact"]["id"] == str(hidden["id"])
    calls = corbital.calls()
    assert calls[:3] == [NEWEST, "POST contacts",
                         f"GET contacts?{_page_query(1, SCAN_PAGE_SIZE)}"]
    corbital.upsert(phone)
    assert corbital.calls() == [f"GET contacts/{hidden['id']}"]
    assert len(corbital.with_phone(phone)) == 1


def test_listing_contacts_fills_the_index(corbital: Upstream, tenant: dict[str, Any]) -> None:
    made = [make_contact(tenant) for _ in range(3)]
    listed = corbital.run("list", {"page": 1, "per_page": 100}, resource="contacts")
    assert listed.ok
    corbital.calls()
    found = corbital.upsert(made[1]["phone"])
    assert found["created"] is False and found["contact"]["id"] == str(made[1]["id"])
    assert corbital.calls() == [f"GET contacts/{made[1]['id']}", f"PUT contacts/{made[1]['id']}"]


def test_find_contact_by_phone_uses_the_index(corbital: Upstream) -> None:
    phone = unique_phone()
    contact_id = corbital.upsert(phone)["contact"]["id"]
    corbital.calls()
    found = corbital.run("find_contact_by_phone", {"phone": phone})
    assert found.output["found"] is True and found.output["contact"]["id"] == contact_id
    assert corbital.calls() == [f"GET contacts/{contact_id}"]
    missing = corbital.run("find_contact_by_phone", {"phone": unique_phone()})
    assert missing.output == {"found": False, "contact": None}
    assert corbital.calls() == [NEWEST]


def test_concurrent_upserts_of_one_new_phone_create_one_contact(corbital: Upstream) -> None:
    phone = unique_phone()
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def upsert() -> None:
        try:
            results.append(corbital.upsert(phone))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=upsert) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r["created"] for r in results) == [False] * 7 + [True]
    assert len({r["contact"]["id"] for r in results}) == 1
    assert len(corbital.with_phone(phone)) == 1


def test_an_unusable_upstream_answer_is_not_indexed(corbital: Upstream,
                                                    tenant: dict[str, Any]) -> None:
    phone = unique_phone()
    contact_id = corbital.upsert(phone)["contact"]["id"]
    requests.post(f"{tenant['sandbox']}/_admin/faults", timeout=5, json={
        "tenant": tenant["slug"], "kind": "status", "status": 500, "times": 1,
        "path_contains": f"contacts/{contact_id}"}).raise_for_status()
    failed = corbital.run("upsert_contact", {"phone": phone, "first_name": "Ana",
                                             "last_name": "Souza"})
    assert failed.kind is OutcomeKind.TRANSIENT  # a read that failed: retried, index kept
    requests.delete(f"{tenant['sandbox']}/_admin/faults", timeout=5)
    corbital.calls()
    assert corbital.upsert(phone)["contact"]["id"] == contact_id
    assert corbital.calls() == [f"GET contacts/{contact_id}"]
