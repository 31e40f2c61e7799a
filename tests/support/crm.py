"""CRM emulator arrangement for sync tests: portals, seeded contacts, sync definitions, runs."""

from __future__ import annotations

import time
import uuid
from typing import Any

import requests

from tests.support.tenant_api import first_item, make_named, upstream
from tests.support.worker import drain


def make_portal(sandbox_url: str, **config: Any) -> dict[str, Any]:
    name = f"p{uuid.uuid4().hex[:8]}"
    token = f"pat-{uuid.uuid4().hex}"
    body = {"portal": name, "token": token, "rate_limit_max": None, **config}
    requests.post(f"{sandbox_url}/_admin/hubspot/portals", json=body,
                  timeout=10).raise_for_status()
    return {"name": name, "token": token, "base_url": f"{sandbox_url}/hubspot",
            "admin": f"{sandbox_url}/_admin/hubspot/portals/{name}"}


def seed_contacts(portal: dict[str, Any], count: int, **options: Any) -> dict[str, Any]:
    response = requests.post(f"{portal['admin']}/contacts", json={"count": count, **options},
                             timeout=60)
    response.raise_for_status()
    return dict(response.json())


def touch_contact(portal: dict[str, Any], contact_id: int, **properties: Any) -> None:
    requests.patch(f"{portal['admin']}/contacts/{contact_id}",
                   json={"properties": properties}, timeout=10).raise_for_status()


def portal_stats(portal: dict[str, Any]) -> dict[str, Any]:
    return dict(requests.get(f"{portal['admin']}/stats", timeout=10).json())


def target_for(tenant: dict[str, Any]) -> dict[str, Any]:
    return {"status_id": str(first_item(tenant, "statuses")["id"]),
            "source_id": str(first_item(tenant, "sources")["id"]),
            "group_id": str(make_named(tenant, "groups")["id"]), "type": "contact"}


def create_sync(client: Any, workspace: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/syncs", json=body, headers=workspace["headers"])
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def hubspot_sync(client: Any, workspace: dict[str, Any], connection: dict[str, Any],
                 portal: dict[str, Any], target: dict[str, Any], **extra: Any) -> dict[str, Any]:
    source = {"kind": "hubspot", "token": portal["token"], "base_url": portal["base_url"],
              "page_size": 200, "rate_limit": {"max": 100_000, "window_s": 1},
              **extra.pop("source", {})}
    body = {"name": f"hs-{uuid.uuid4().hex[:6]}", "connection_id": connection["id"],
            "source": source, "target": target, **extra}
    return create_sync(client, workspace, body)


def run_now(client: Any, workspace: dict[str, Any], rt: Any, sync_id: str) -> dict[str, Any]:
    """Start a run, drain the queues in-process, return the finished run."""
    started = client.post(f"/v1/syncs/{sync_id}/run", headers=workspace["headers"])
    assert started.status_code == 202, started.get_json()
    drain(rt, timeout_s=600)
    return get_run(client, workspace, sync_id, started.get_json()["id"])


def get_run(client: Any, workspace: dict[str, Any], sync_id: str, run_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/syncs/{sync_id}/runs/{run_id}", headers=workspace["headers"])
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def wait_run(client: Any, workspace: dict[str, Any], sync_id: str, run_id: str,
             statuses: tuple[str, ...] = ("succeeded", "failed", "skipped"),
             wait_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        run = get_run(client, workspace, sync_id, run_id)
        if run["status"] in statuses:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not reach {statuses} within {wait_s} s")


def tenant_contacts(tenant: dict[str, Any]) -> list[dict[str, Any]]:
    contacts: list[dict[str, Any]] = []
    page = 1
    while True:
        body = upstream(tenant, "GET", "contacts", params={"page": page, "per_page": 500})["data"]
        contacts.extend(body["data"])
        if not body.get("next_page_url"):
            return contacts
        page += 1


def tenant_writes(tenant: dict[str, Any], since: int = 0) -> tuple[int, int]:
    """(write requests, last seq) in the tenant's request log after `since`."""
    log = requests.get(f"{tenant['sandbox']}/_admin/requests",
                       params={"tenant": tenant["slug"], "since": since}, timeout=30).json()
    rows = log["requests"]
    writes = sum(1 for r in rows if r["method"] not in ("GET", "HEAD"))
    return writes, int(log.get("last_seq") or since)


def make_company(sandbox_url: str, **config: Any) -> dict[str, Any]:
    name = f"c{uuid.uuid4().hex[:8]}"
    token = uuid.uuid4().hex
    requests.post(f"{sandbox_url}/_admin/pipedrive/companies",
                  json={"company": name, "token": token, "burst_max": None, **config},
                  timeout=10).raise_for_status()
    return {"name": name, "token": token, "base_url": f"{sandbox_url}/pipedrive",
            "admin": f"{sandbox_url}/_admin/pipedrive/companies/{name}"}


def seed_persons(company: dict[str, Any], count: int, **options: Any) -> None:
    requests.post(f"{company['admin']}/persons", json={"count": count, **options},
                  timeout=60).raise_for_status()


def touch_person(company: dict[str, Any], person_id: int, *, updated_s: int | None = None,
                 **fields: Any) -> None:
    requests.patch(f"{company['admin']}/persons/{person_id}",
                   json={"fields": fields, "updated_s": updated_s}, timeout=10).raise_for_status()


def put_csv(sandbox_url: str, name: str, content: str) -> str:
    response = requests.put(f"{sandbox_url}/_admin/pipedrive/files/{name}", data=content,
                            timeout=10)
    response.raise_for_status()
    return str(response.json()["url"])
