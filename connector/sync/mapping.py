"""The mapping table: source paths -> contact fields, a few transforms, and record filters.

Paths are dotted (`properties.firstname`, `phones.0.value`) with one selector form for lists of
objects, `phones[primary=true].value` (the first item whose `primary` equals true). A mapping
entry may list several paths: the first non-empty value wins. No expressions, no eval.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_SELECTOR = re.compile(r"^(?P<name>[^\[\]]*)\[(?P<key>[^=\]]+)=(?P<value>[^\]]*)\]$")

TRANSFORMS: Mapping[str, Callable[[str], str]] = {
    "trim": str.strip,
    "lower": str.lower,
    "upper": str.upper,
    "title": str.title,
    "digits": lambda s: re.sub(r"\D", "", s),
    "first_word": lambda s: s.split()[0] if s.split() else "",
    "rest_words": lambda s: " ".join(s.split()[1:]),
}

PRESETS: Mapping[str, list[dict[str, Any]]] = {
    "hubspot": [
        {"to": "phone", "from": ["properties.mobilephone", "properties.phone"]},
        {"to": "first_name", "from": "properties.firstname", "transform": ["trim"],
         "default": "-"},
        {"to": "last_name", "from": "properties.lastname", "transform": ["trim"], "default": "-"},
        {"to": "email", "from": "properties.email", "transform": ["trim", "lower"]},
        {"to": "company", "from": "properties.company"},
    ],
    "pipedrive": [
        {"to": "phone", "from": ["phones[label=mobile].value", "phones[primary=true].value",
                                 "phones.0.value"]},
        {"to": "first_name", "from": ["first_name", "name"], "transform": ["trim"],
         "default": "-"},
        {"to": "last_name", "from": "last_name", "transform": ["trim"], "default": "-"},
        {"to": "email", "from": ["emails[primary=true].value", "emails.0.value"],
         "transform": ["trim", "lower"]},
    ],
}


def _literal(text: str) -> Any:
    return {"true": True, "false": False, "null": None}.get(text, text)


def get_path(record: Any, path: str) -> Any:
    """The value at `path` in `record`, or None when any step is missing."""
    current = record
    for segment in path.split("."):
        match = _SELECTOR.match(segment)
        if match:
            if match["name"]:
                current = current.get(match["name"]) if isinstance(current, Mapping) else None
            wanted = _literal(match["value"])
            current = next((item for item in current or () if isinstance(item, Mapping)
                            and item.get(match["key"]) == wanted), None) \
                if isinstance(current, list) else None
        elif isinstance(current, Mapping):
            current = current.get(segment)
        elif isinstance(current, list) and segment.isdigit():
            index = int(segment)
            current = current[index] if index < len(current) else None
        else:
            return None
        if current is None:
            return None
    return current


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone stored as a number must not become "4915...0.0"
    return str(value) if not isinstance(value, Mapping | list) else ""


def map_record(data: Mapping[str, Any], mapping: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Contact fields from a raw record; empty values are left out."""
    fields: dict[str, str] = {}
    for entry in mapping:
        if "value" in entry:
            value = str(entry["value"])
        else:
            paths = entry.get("from") or []
            value = ""
            for path in [paths] if isinstance(paths, str) else paths:
                value = _text(get_path(data, path))
                if value.strip():
                    break
        for name in entry.get("transform") or ():
            value = TRANSFORMS[name](value)
        if not value.strip() and entry.get("default") is not None:
            value = str(entry["default"])
        if value.strip():
            fields[entry["to"]] = value
    return fields


def raw_value(data: Mapping[str, Any], mapping: Sequence[Mapping[str, Any]], to: str) -> str:
    """The untransformed source value behind contact field `to` (for rejects), or ""."""
    for entry in mapping:
        if entry["to"] != to:
            continue
        paths = entry.get("from") or []
        for path in [paths] if isinstance(paths, str) else paths:
            value = _text(get_path(data, path))
            if value.strip():
                return value
    return ""


def matches(data: Mapping[str, Any], filters: Sequence[Mapping[str, Any]]) -> bool:
    """True when the record passes every filter."""
    for rule in filters:
        value = get_path(data, rule["path"])
        op, wanted = rule["op"], rule.get("value")
        if op == "exists" and value in (None, ""):
            return False
        if op == "missing" and value not in (None, ""):
            return False
        if op == "eq" and _text(value) != _text(wanted):
            return False
        if op == "ne" and _text(value) == _text(wanted):
            return False
        if op == "in" and _text(value) not in {_text(w) for w in wanted or ()}:
            return False
    return True


def mapping_for(kind: str, mapping: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The definition's mapping, or the source kind's preset."""
    return [dict(m) for m in (mapping or PRESETS.get(kind, []))]
