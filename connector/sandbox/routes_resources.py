"""Statuses, sources and groups (CRUD) and the read-only templates and bots (reference §1.5).

The three named resources share one shape (`GroupController` is the one read in the source; the
status and source controllers follow the reference's rule table): names unique per tenant,
case-insensitively as MySQL compares them, and a delete refused with 400 while the row is in use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, request

from connector.sandbox import contacts
from connector.sandbox.envelopes import error, success, validation_failed
from connector.sandbox.inputs import request_input
from connector.sandbox.paginate import list_response, php_int
from connector.sandbox.pipeline import guarded
from connector.sandbox.state import Tenant, current_store
from connector.sandbox.table import Row
from connector.sandbox.timestamps import iso, now_s, serialise
from connector.sandbox.validation import Rule, validate


@dataclass(frozen=True)
class Named:
    """One CRUD resource: its table, labels, rules and delete guard."""

    table: str
    label: str
    fillable: tuple[str, ...]
    create_rules: Callable[[Tenant, int | None], dict[str, list[Rule]]]
    update_rules: Callable[[Tenant, int | None], dict[str, list[Rule]]]
    in_use: Callable[[Tenant, Row], str | None]
    defaults: tuple[tuple[str, Any], ...] = (("name", None),)


def _name_taken(tenant: Tenant, table: str, ignore_id: int | None) -> Callable[[Any], bool]:
    def taken(value: Any) -> bool:
        wanted = str(value).lower()
        return any(
            str(r["name"]).lower() == wanted and r["id"] != ignore_id for r in tenant.table(table)
        )

    return taken


def _status_rules(required: str) -> Callable[[Tenant, int | None], dict[str, list[Rule]]]:
    def rules(tenant: Tenant, ignore_id: int | None) -> dict[str, list[Rule]]:
        name = [*required.split("|"), "string", "min:3", "max:255"]
        return {
            "name": [*name, ("unique", _name_taken(tenant, "statuses", ignore_id))],
            "color": ["nullable", "string", "max:7"],
            "isdefault": ["nullable", "boolean"],
        }

    return rules


def _name_rules(table: str) -> Callable[[Tenant, int | None], dict[str, list[Rule]]]:
    def rules(tenant: Tenant, ignore_id: int | None) -> dict[str, list[Rule]]:
        taken = _name_taken(tenant, table, ignore_id)
        return {"name": ["required", "string", "max:255", ("unique", taken)]}

    return rules


def _status_in_use(tenant: Tenant, row: Row) -> str | None:
    if row["isdefault"]:
        return "The default status cannot be deleted"
    if contacts.references(tenant, "status_id", row["id"]):
        return "This status is in use by contacts and cannot be deleted"
    return None


def _source_in_use(tenant: Tenant, row: Row) -> str | None:
    if contacts.references(tenant, "source_id", row["id"]):
        return "This source is in use by contacts and cannot be deleted"
    return None


def _group_in_use(tenant: Tenant, row: Row) -> str | None:
    if contacts.in_group(tenant, row["id"]):
        return "This group is assigned to contacts and cannot be deleted"
    return None


NAMED = (
    Named("statuses", "Status", ("name", "color", "isdefault", "tenant_id"),
          _status_rules("required"), _status_rules("sometimes|required"), _status_in_use,
          (("name", None), ("color", None), ("isdefault", False))),
    Named("sources", "Source", ("name", "tenant_id"),
          _name_rules("sources"), _name_rules("sources"), _source_in_use),
    Named("groups", "Group", ("name", "tenant_id"),
          _name_rules("groups"), _name_rules("groups"), _group_in_use),
)  # fmt: skip
READ_ONLY = (
    ("templates", "Template"),
    ("templatebots", "Template bot"),
    ("messagebots", "Message bot"),
)


def _assign(resource: Named, tenant: Tenant, data: dict[str, Any]) -> dict[str, Any]:
    assigned = {k: v for k, v in data.items() if k in resource.fillable}
    if "isdefault" in assigned and assigned["isdefault"] is not None:
        assigned["isdefault"] = assigned["isdefault"] in (True, 1, "1")
        if assigned["isdefault"]:
            # Saving a default status un-defaults every other one (§1.5).
            for other in tenant.table("statuses"):
                other["isdefault"] = False
    return assigned


def build() -> Blueprint:
    """A fresh blueprint with every route of this module (registered under both base paths)."""
    bp = Blueprint("resources", __name__)
    for resource in NAMED:
        _add_crud(bp, resource)
    for table, label in READ_ONLY:
        _add_read_only(bp, table, label)
    return bp


def _add_crud(bp: Blueprint, resource: Named) -> None:
    ability, table, label = resource.table, resource.table, resource.label

    @guarded(f"{ability}.read")
    def index(tenant: Tenant) -> Response:
        with current_store().lock:
            return list_response(tenant.table(table), serialise, f"Failed to fetch {table}")

    @guarded(f"{ability}.create")
    def store(tenant: Tenant) -> Response:
        data = {**request_input(request), "tenant_id": tenant.id}
        with current_store().lock:
            errors = validate(data, resource.create_rules(tenant, None))
            if errors:
                return validation_failed(errors)
            assigned = _assign(resource, tenant, data)
            row = tenant.table(table).insert({**dict(resource.defaults), **assigned})
            # Like `Model::create()`, answer only what was assigned, plus the keys it generated.
            body = {
                **assigned,
                "updated_at": iso(row["updated_at"]),
                "created_at": iso(row["created_at"]),
                "id": row["id"],
            }
        return success(body, message=f"{label} created successfully", status=201)

    @guarded(f"{ability}.read")
    def show(tenant: Tenant, row_id: str) -> Response:
        with current_store().lock:
            row = tenant.table(table).get(php_int(row_id))
            if row is None:
                return error(404, f"{label} not found")
            return success(serialise(row))

    @guarded(f"{ability}.update")
    def update(tenant: Tenant, row_id: str) -> Response:
        data = {**request_input(request), "tenant_id": tenant.id}
        with current_store().lock:
            row = tenant.table(table).get(php_int(row_id))
            if row is None:
                return error(404, f"{label} not found")
            errors = validate(data, resource.update_rules(tenant, row["id"]))
            if errors:
                return validation_failed(errors)
            changes = {k: v for k, v in _assign(resource, tenant, data).items() if row.get(k) != v}
            if changes:
                row.update(changes)
                row["updated_at"] = max(row["updated_at"], now_s())
            return success(serialise(row), message=f"{label} updated successfully")

    @guarded(f"{ability}.delete")
    def destroy(tenant: Tenant, row_id: str) -> Response:
        with current_store().lock:
            row = tenant.table(table).get(php_int(row_id))
            if row is None:
                return error(404, f"{label} not found")
            refusal = resource.in_use(tenant, row)
            if refusal:
                return error(400, refusal)
            tenant.table(table).delete(row["id"])
        return success(message=f"{label} deleted successfully")

    bp.add_url_rule(f"/{table}", f"{table}_index", index, methods=["GET"])
    bp.add_url_rule(f"/{table}", f"{table}_store", store, methods=["POST"])
    bp.add_url_rule(f"/{table}/<row_id>", f"{table}_show", show, methods=["GET"])
    bp.add_url_rule(f"/{table}/<row_id>", f"{table}_update", update, methods=["PUT"])
    bp.add_url_rule(f"/{table}/<row_id>", f"{table}_destroy", destroy, methods=["DELETE"])


def _add_read_only(bp: Blueprint, table: str, label: str) -> None:
    @guarded(f"{table}.read")
    def index(tenant: Tenant) -> Response:
        with current_store().lock:
            return list_response(tenant.table(table), serialise, f"Failed to fetch {table}")

    @guarded(f"{table}.read")
    def show(tenant: Tenant, row_id: str) -> Response:
        with current_store().lock:
            row = tenant.table(table).get(php_int(row_id))
            if row is None:
                return error(404, f"{label} not found")
            return success(serialise(row))

    bp.add_url_rule(f"/{table}", f"{table}_index", index, methods=["GET"])
    bp.add_url_rule(f"/{table}/<row_id>", f"{table}_show", show, methods=["GET"])
