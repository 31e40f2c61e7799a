"""Setting up upstream records directly in the sandbox tenant (test arrangement only)."""

from __future__ import annotations

import itertools
import random
from typing import Any

import requests

_phones = itertools.count(random.randint(1_000_000, 8_000_000))


def unique_phone() -> str:
    """A valid, unique German mobile number in E.164."""
    return f"+49151{next(_phones):08d}"


def upstream(tenant: dict[str, Any], method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, f"{tenant['base_url']}{tenant['slug']}/{path}",
                                headers={"Authorization": f"Bearer {tenant['token']}",
                                         "Accept": "application/json"}, timeout=10, **kwargs)
    response.raise_for_status()
    return response.json()


def make_contact(tenant: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"firstname": "Test", "lastname": "Person", "phone": unique_phone(), "type": "lead",
            "source_id": 1, "status_id": 1}
    body.update(fields)
    return dict(upstream(tenant, "POST", "contacts", json=body)["data"])


def make_named(tenant: dict[str, Any], resource: str) -> dict[str, Any]:
    name = f"{resource[:-1]} {random.randint(0, 10**9)}"
    return dict(upstream(tenant, "POST", resource, json={"name": name})["data"])


def first_item(tenant: dict[str, Any], resource: str) -> dict[str, Any]:
    return dict(upstream(tenant, "GET", resource)["data"]["data"][0])


def request_count(tenant: dict[str, Any]) -> int:
    log = requests.get(f"{tenant['sandbox']}/_admin/requests",
                       params={"tenant": tenant["slug"]}, timeout=10).json()
    return len(log["requests"] if isinstance(log, dict) else log)


def sent_messages(tenant: dict[str, Any]) -> list[dict[str, Any]]:
    body = requests.get(f"{tenant['sandbox']}/_admin/tenants/{tenant['slug']}/messages",
                        timeout=10).json()
    return list(body["messages"] if isinstance(body, dict) else body)


def inject_fault(tenant: dict[str, Any], **fault: Any) -> None:
    requests.post(f"{tenant['sandbox']}/_admin/faults", json={"tenant": tenant["slug"], **fault},
                  timeout=10).raise_for_status()
