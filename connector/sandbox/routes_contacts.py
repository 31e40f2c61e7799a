"""`/contacts` routes, following `ContactController` of the v1 module (reference §1.5).

Kept quirks: list filters are ignored; `GET /contacts/{id}` answers 200 with `data: null` when the
row is missing; PUT requires firstname, lastname and phone even for a partial update and checks
`status_id|max:50` as a number; `group_id` is mass-assigned as sent, never validated.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from connector.sandbox import contacts
from connector.sandbox.envelopes import error, success, validation_failed
from connector.sandbox.inputs import request_input
from connector.sandbox.paginate import list_response, php_int
from connector.sandbox.pipeline import guarded
from connector.sandbox.state import Tenant, current_store
from connector.sandbox.validation import Rule, validate

bp = Blueprint("contacts", __name__)

CONTACT_LIMIT_MESSAGE = (
    "You have reached the maximum number of contacts allowed in your plan. "
    "Please upgrade your plan to add more contacts."
)


def contact_rules(tenant: Tenant, ignore_id: int | None) -> dict[str, list[Rule]]:
    """`store()` rules when `ignore_id` is None, else `update()` rules."""

    def email_taken(value: Any) -> bool:
        return contacts.email_taken(tenant, value, ignore_id)

    def phone_taken(value: Any) -> bool:
        return contacts.phone_taken(tenant, value, ignore_id)

    creating = ignore_id is None
    return {
        "firstname": ["required", "string", "max:255"],
        "lastname": ["required", "string", "max:255"],
        "email": [
            "nullable" if creating else "sometimes",
            "email",
            "max:191",
            ("unique", email_taken),
        ],
        "phone": ["required", "string", "max:20", ("unique", phone_taken)],
        "type": ["required" if creating else "sometimes", "in:lead,contact"],
        "source_id": ["required", "integer"] if creating else ["nullable", "integer"],
        "status_id": ["required", "integer"] if creating else ["nullable", "integer", "max:50"],
    }


def _merged_input(tenant: Tenant) -> dict[str, Any]:
    # The tenant middleware merges tenant_id into the request and the controller merges the first
    # user of the tenant as addedfrom, so both end up mass-assigned with the body.
    data = request_input(request)
    data["tenant_id"] = tenant.id
    data["addedfrom"] = tenant.admin_user_id
    return data


@bp.get("/contacts")
@guarded("contacts.read")
def list_contacts(tenant: Tenant) -> Response:
    # The documented `type`, `source_id`, `status_id` filters are built on a query that is then
    # discarded: the answer is always the unfiltered list (§1.5).
    with current_store().lock:
        return list_response(tenant.table("contacts"), contacts.view, "Failed to fetch contacts")


@bp.post("/contacts")
@guarded("contacts.create")
def create_contact(tenant: Tenant) -> Response:
    data = _merged_input(tenant)
    with current_store().lock:
        errors = validate(data, contact_rules(tenant, None))
        if errors:
            return validation_failed(errors)
        if (
            tenant.contact_limit is not None
            and len(tenant.table("contacts")) >= tenant.contact_limit
        ):
            return error(403, CONTACT_LIMIT_MESSAGE)
        assigned = contacts.fillable(data)
        try:
            row = contacts.insert(tenant, assigned)
        except contacts.ColumnError as exc:
            return error(500, "Failed to create contact", error=str(exc))
        view = contacts.created_view(row, assigned)
    return success(view, message="Contact created successfully", status=201)


@bp.get("/contacts/<row_id>")
@guarded("contacts.read")
def show_contact(tenant: Tenant, row_id: str) -> Response:
    with current_store().lock:
        row = tenant.table("contacts").get(php_int(row_id))
        # `->first()` without a null check: a missing contact is a 200 with data null (§1.4).
        return success(contacts.view(row) if row else None)


@bp.put("/contacts/<row_id>")
@guarded("contacts.update")
def update_contact(tenant: Tenant, row_id: str) -> Response:
    data = _merged_input(tenant)
    with current_store().lock:
        row = tenant.table("contacts").get(php_int(row_id))
        if row is None:
            return error(404, "Contact not found")
        errors = validate(data, contact_rules(tenant, row["id"]))
        if errors:
            return validation_failed(errors)
        try:
            contacts.update(tenant, row, contacts.fillable(data))
        except contacts.ColumnError as exc:
            return error(500, "Failed to update contact", error=str(exc))
        view = contacts.view(row)
    return success(view, message="Contact updated successfully")


@bp.delete("/contacts/<row_id>")
@guarded("contacts.delete")
def delete_contact(tenant: Tenant, row_id: str) -> Response:
    with current_store().lock:
        if contacts.delete(tenant, php_int(row_id)) is None:
            return error(404, "Contact not found")
    return success(message="Contact deleted successfully")
