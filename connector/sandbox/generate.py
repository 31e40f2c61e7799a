"""Bulk row generators for tests and benchmarks (`POST /_admin/tenants/<slug>/generate`).

Rows go straight into the tables: no rate limit, no request log, 100k contacts in about a second.
Generated values are unique within the tenant, so the API's own `unique` rules stay meaningful.
"""

from __future__ import annotations

from typing import Any

from connector.sandbox import contacts
from connector.sandbox.state import Tenant
from connector.sandbox.timestamps import now_s

RESOURCES = ("contacts", "groups", "statuses", "sources")
MAX_COUNT = 1_000_000


def generate(tenant: Tenant, resource: str, count: int, same_timestamp: bool) -> list[int]:
    """Insert `count` rows of `resource`; callers hold the store lock."""
    created_at = now_s() if same_timestamp else None
    if resource == "contacts":
        return _contacts(tenant, count, created_at)
    return _named(tenant, resource, count, created_at)


def _contacts(tenant: Tenant, count: int, created_at: int | None) -> list[int]:
    source = tenant.table("sources").first(lambda r: True)
    status = tenant.table("statuses").first(lambda r: True)
    ids = []
    for _ in range(count):
        n = _next_free(tenant, lambda k: f"+4917{k:08d}" in tenant.phones)
        attributes: dict[str, Any] = {
            "tenant_id": tenant.id,
            "firstname": f"Gen{n}",
            "lastname": "Contact",
            "type": "lead" if n % 2 else "contact",
            "email": f"gen{n}@example.test",
            "phone": f"+4917{n:08d}",
            "source_id": source["id"] if source else None,
            "status_id": status["id"] if status else None,
            "addedfrom": tenant.admin_user_id,
        }
        ids.append(contacts.insert(tenant, attributes, created_at)["id"])
    return ids


def _named(tenant: Tenant, resource: str, count: int, created_at: int | None) -> list[int]:
    table = tenant.table(resource)
    label = {"groups": "Group", "statuses": "Status", "sources": "Source"}[resource]
    taken = {str(r["name"]).lower() for r in table}
    ids = []
    for _ in range(count):
        n = _next_free(tenant, lambda k: f"{label} {k}".lower() in taken)
        row: dict[str, Any] = {"tenant_id": tenant.id, "name": f"{label} {n}"}
        if resource == "statuses":
            row |= {"color": "#64748b", "isdefault": False}
        taken.add(row["name"].lower())
        ids.append(table.insert(row, created_at)["id"])
    return ids


def _next_free(tenant: Tenant, taken: Any) -> int:
    """Next value of the tenant's generator counter not already used by a row."""
    while True:
        tenant.generated += 1
        if not taken(tenant.generated):
            return tenant.generated
