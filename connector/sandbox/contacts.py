"""Contact rows (reference §1.6): columns, casts, MySQL column coercion and the lookup indexes.

The indexes make the upstream's queries cheap at 100k rows without changing their answers:
`phone LIKE '%digits'` returns the lowest-id row whose phone ends with the digits (§1.7), and the
`unique` rules compare phone exactly and email case-insensitively (MySQL's default collation).
"""

from __future__ import annotations

from typing import Any

from connector.sandbox.state import Tenant
from connector.sandbox.table import Row
from connector.sandbox.timestamps import iso, now_s
from connector.sandbox.validation import is_int_like

COLUMNS = (
    "id", "tenant_id", "firstname", "lastname", "company", "type", "description", "country_id",
    "zip", "city", "state", "address", "assigned_id", "status_id", "source_id", "email",
    "website", "phone", "is_enabled", "addedfrom", "dateassigned", "last_status_change",
    "default_language", "created_at", "updated_at", "group_id",
)  # fmt: skip
FILLABLE = (
    "firstname", "lastname", "company", "type", "description", "country_id", "zip", "city",
    "state", "address", "assigned_id", "status_id", "source_id", "group_id", "email", "website",
    "phone", "is_enabled", "addedfrom", "dateassigned", "last_status_change", "tenant_id",
)  # fmt: skip
INT_COLUMNS = frozenset(
    {"tenant_id", "country_id", "assigned_id", "status_id", "source_id", "addedfrom"}
)
# Model casts: these serialise as int/bool/array even straight after `create()`.
CASTS = {"tenant_id": "int", "country_id": "int", "addedfrom": "int", "is_enabled": "bool"}
SUFFIX_LEN = 6
DEFAULTS: dict[str, Any] = {name: None for name in COLUMNS}
DEFAULTS["is_enabled"] = True


class ColumnError(Exception):
    """MySQL (strict mode) or PHP refused a value; the controller answers its 500 envelope."""


def fillable(data: dict[str, Any]) -> dict[str, Any]:
    """Mass assignment: fillable keys in request order (unknown keys are silently dropped)."""
    return {k: v for k, v in data.items() if k in FILLABLE}


def coerce(name: str, value: Any) -> Any:
    """What the column stores and hands back on the next read."""
    if value is None or name == "group_id":
        return value  # group_id: `array` cast, json-encoded as given, never validated (§1.5)
    if name in INT_COLUMNS:
        if is_int_like(value):
            return int(value)
        raise ColumnError(
            f"SQLSTATE[HY000]: General error: 1366 Incorrect integer value: '{value}' "
            f"for column '{name}' at row 1"
        )
    if name == "is_enabled":
        return bool(int(value)) if is_int_like(value) else bool(value)
    if isinstance(value, dict | list):
        raise ColumnError("Array to string conversion")
    return value if isinstance(value, str) else str(value)


def insert(tenant: Tenant, attributes: dict[str, Any], created_at: int | None = None) -> Row:
    values = {k: coerce(k, v) for k, v in attributes.items()}
    row = tenant.table("contacts").insert({**DEFAULTS, **values}, created_at)
    _index(tenant, row)
    return row


def update(tenant: Tenant, row: Row, attributes: dict[str, Any]) -> None:
    """Eloquent `update()`: write the changed columns, touch `updated_at` only if any changed."""
    changes = {k: coerce(k, v) for k, v in attributes.items()}
    changes = {k: v for k, v in changes.items() if row.get(k) != v}
    if not changes:
        return
    _unindex(tenant, row)
    row.update(changes)
    row["updated_at"] = now_s()
    _index(tenant, row)


def delete(tenant: Tenant, row_id: int) -> Row | None:
    row = tenant.table("contacts").delete(row_id)
    if row is not None:
        _unindex(tenant, row)
    return row


def view(row: Row) -> dict[str, Any]:
    """A contact as `GET /contacts/{id}` returns it."""
    out = {name: row[name] for name in COLUMNS}
    out["created_at"] = iso(row["created_at"])
    out["updated_at"] = iso(row["updated_at"])
    out["is_enabled"] = None if row["is_enabled"] is None else bool(row["is_enabled"])
    return out


def created_view(row: Row, assigned: dict[str, Any]) -> dict[str, Any]:
    """The model as `create()` returns it: only the attributes it was given, plus keys.

    Eloquent does not re-read the row, so DB defaults (is_enabled...) are absent and uncast values
    come back as sent (a `"status_id": "3"` stays a string) [INF from Eloquent behaviour].
    """
    out: dict[str, Any] = {}
    for key, value in assigned.items():
        cast = CASTS.get(key)
        if cast == "int" and value is not None:
            value = row[key]
        elif cast == "bool" and value is not None:
            value = bool(row[key])
        out[key] = value
    out["updated_at"] = iso(row["updated_at"])
    out["created_at"] = iso(row["created_at"])
    out["id"] = row["id"]
    return out


def find_by_phone_suffix(tenant: Tenant, digits: str) -> Row | None:
    """`where('phone', 'like', "%{$digits}")->first()`: lowest id whose phone ends with digits."""
    contacts = tenant.table("contacts")
    if len(digits) < SUFFIX_LEN:
        return contacts.first(lambda r: str(r["phone"] or "").endswith(digits))
    ids = [
        i
        for i in tenant.suffixes.get(digits[-SUFFIX_LEN:], ())
        if _phone_of(tenant, i).endswith(digits)
    ]
    return contacts.get(min(ids)) if ids else None


def phone_taken(tenant: Tenant, phone: Any, ignore_id: int | None = None) -> bool:
    return bool(tenant.phones.get(str(phone), set()) - {ignore_id})


def email_taken(tenant: Tenant, email: Any, ignore_id: int | None = None) -> bool:
    return bool(tenant.emails.get(str(email).lower(), set()) - {ignore_id})


def references(tenant: Tenant, column: str, value: int) -> bool:
    """Whether any contact points at a status/source id."""
    return any(row[column] == value for row in tenant.table("contacts"))


def in_group(tenant: Tenant, group_id: int) -> bool:
    """GroupController::destroy: loose `in_array` over every contact's decoded group_id."""
    for row in tenant.table("contacts"):
        ids = row["group_id"]
        if isinstance(ids, list) and any(is_int_like(i) and int(i) == group_id for i in ids):
            return True
        if is_int_like(ids) and int(ids) == group_id:
            return True
    return False


def _phone_of(tenant: Tenant, row_id: int) -> str:
    row = tenant.table("contacts").get(row_id)
    return str(row["phone"] or "") if row else ""


def _index(tenant: Tenant, row: Row) -> None:
    phone, email = row["phone"], row["email"]
    if phone is not None:
        tenant.phones.setdefault(str(phone), set()).add(row["id"])
        if len(str(phone)) >= SUFFIX_LEN:
            tenant.suffixes.setdefault(str(phone)[-SUFFIX_LEN:], set()).add(row["id"])
    if email is not None:
        tenant.emails.setdefault(str(email).lower(), set()).add(row["id"])


def _unindex(tenant: Tenant, row: Row) -> None:
    phone, email = row["phone"], row["email"]
    if phone is not None:
        tenant.phones.get(str(phone), set()).discard(row["id"])
        tenant.suffixes.get(str(phone)[-SUFFIX_LEN:], set()).discard(row["id"])
    if email is not None:
        tenant.emails.get(str(email).lower(), set()).discard(row["id"])
