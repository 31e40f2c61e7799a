"""A small Laravel validator: the rules the v1 controllers use, with Laravel's messages and skips.

Faithful on the points a client can trip over (reference §1.5, §1.7): every failing rule of a field
is reported, not only the first; a missing field is skipped unless a rule is *implicit*
(`required`, `required_without`); `nullable` lets an explicit null through but other rules still
reject a present null; `unique` runs only when the field has no earlier error; sizes count
characters for strings and compare the value for `integer` fields (hence `status_id|max:50`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from werkzeug.datastructures import FileStorage

# A rule is "name" or "name:param" or ("unique", is_taken) with is_taken(value) -> bool.
Rule = str | tuple[str, Callable[[Any], bool]]
Errors = dict[str, list[str]]

IMPLICIT = frozenset({"required", "required_without"})
NUMERIC = frozenset({"integer", "numeric"})
_MISSING = object()
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_INT_STRING = re.compile(r"^\s*[+-]?\d+\s*$")


def validate(data: dict[str, Any], rules: dict[str, list[Rule]]) -> Errors:
    """Return Laravel's `$validator->errors()` for `data` (empty when valid)."""
    errors: Errors = {}
    for attribute, attribute_rules in rules.items():
        names = {r if isinstance(r, str) else r[0] for r in attribute_rules}
        names = {n.split(":", 1)[0] for n in names}
        value = lookup(data, attribute)
        present = value is not _MISSING
        if "sometimes" in names and not present:
            continue
        value = None if value is _MISSING else value
        for rule in attribute_rules:
            name, param = _split(rule)
            if name in ("sometimes", "nullable"):
                continue
            if not _validatable(name, present, value, names, attribute in errors):
                continue
            message = _check(name, param, attribute, value, names, data)
            if message:
                errors.setdefault(attribute, []).append(message)
                if name in IMPLICIT:
                    break  # Laravel stops a field after a failed implicit rule
    return errors


def lookup(data: dict[str, Any], attribute: str) -> Any:
    """Dotted lookup (`contact.country`); returns the module's MISSING sentinel when absent."""
    current: Any = data
    for part in attribute.split("."):
        if not isinstance(current, dict) or part not in current:
            return _MISSING
        current = current[part]
    return current


def is_present(data: dict[str, Any], attribute: str) -> bool:
    """Laravel's `$request->has()`: the key exists, whatever its value."""
    return lookup(data, attribute) is not _MISSING


def is_int_like(value: Any) -> bool:
    """PHP `filter_var(FILTER_VALIDATE_INT)` as the `integer` rule uses it."""
    if isinstance(value, bool | int):
        return True
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, str) and bool(_INT_STRING.match(value))


def _split(rule: Rule) -> tuple[str, Any]:
    if isinstance(rule, tuple):
        return rule
    name, _, param = rule.partition(":")
    return name, param


def _validatable(name: str, present: bool, value: Any, names: set[str], failed: bool) -> bool:
    if name in IMPLICIT:
        return True
    if isinstance(value, str) and value.strip() == "":
        return False
    if not present or ("nullable" in names and value is None):
        return False
    return not (name == "unique" and failed)


def _label(attribute: str) -> str:
    return attribute.replace("_", " ")


def _filled(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip() != ""
    if isinstance(value, list | dict):
        return len(value) > 0
    if isinstance(value, FileStorage):
        return bool(value.filename)
    return True


def _size(value: Any, names: set[str]) -> float:
    if names & NUMERIC and is_int_like(value):
        return float(value)
    if isinstance(value, list | dict):
        return len(value)
    if isinstance(value, bool):
        return 1 if value else 0
    return len(str(value))


def _size_message(kind: str, label: str, limit: str, names: set[str]) -> str:
    if names & NUMERIC:
        bound = "greater than" if kind == "max" else "at least"
        return f"The {label} field must {'not be ' if kind == 'max' else 'be '}{bound} {limit}."
    if "array" in names:
        verb = "not have more than" if kind == "max" else "have at least"
        return f"The {label} field must {verb} {limit} items."
    if kind == "max":
        return f"The {label} field must not be greater than {limit} characters."
    return f"The {label} field must be at least {limit} characters."


def _valid_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https", "ftp") and bool(parts.hostname)


def _check(
    name: str, param: Any, attribute: str, value: Any, names: set[str], data: dict[str, Any]
) -> str | None:
    label = _label(attribute)
    if name == "required":
        return None if _filled(value) else f"The {label} field is required."
    if name == "required_without":
        if _filled(lookup(data, param) if is_present(data, param) else None) or _filled(value):
            return None
        return f"The {label} field is required when {_label(param)} is not present."
    if name == "string":
        return None if isinstance(value, str) else f"The {label} field must be a string."
    if name == "integer":
        return None if is_int_like(value) else f"The {label} field must be an integer."
    if name == "boolean":
        ok = value in (True, False, "0", "1") and not isinstance(value, float)
        return None if ok else f"The {label} field must be true or false."
    if name == "array":
        return None if isinstance(value, dict | list) else f"The {label} field must be an array."
    if name == "email":
        ok = isinstance(value, str) and bool(_EMAIL.match(value))
        return None if ok else f"The {label} field must be a valid email address."
    if name == "url":
        return None if _valid_url(value) else f"The {label} field must be a valid URL."
    if name == "file":
        ok = isinstance(value, FileStorage)
        return None if ok else f"The {label} field must be a file."
    if name == "in":
        ok = not isinstance(value, dict | list) and _php_string(value) in param.split(",")
        return None if ok else f"The selected {label} is invalid."
    if name in ("min", "max"):
        size = _size(value, names)
        limit = float(param)
        ok = size <= limit if name == "max" else size >= limit
        return None if ok else _size_message(name, label, param, names)
    if name == "unique":
        return f"The {label} has already been taken." if param(value) else None
    raise ValueError(f"unknown rule {name}")


def _php_string(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else ""
    return "" if value is None else str(value)
