"""Read a request's input the way Laravel's `$request->all()` builds it.

Laravel merges the JSON (or form) body over the query string, and its global middleware trims
every string and turns empty strings into null (`TrimStrings`, `ConvertEmptyStringsToNull`) before
any validator runs, so `"firstname": "  "` fails `required` just like a missing field.
Form bodies use PHP's bracket syntax (`contact[country]=DE`) for nested values.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Request
from werkzeug.datastructures import FileStorage

_BRACKETS = re.compile(r"\[([^\]]*)\]")


def request_input(request: Request) -> dict[str, Any]:
    """Everything the controller would see, cleaned like Laravel's middleware does."""
    data: dict[str, Any] = _nest(request.args.items())
    body: Any = None
    if request.is_json:
        # Invalid or non-object JSON gives Laravel an empty input bag, not an error.
        body = request.get_json(silent=True)
        body = body if isinstance(body, dict) else {}
    elif request.form or request.files:
        body = _nest(request.form.items())
        body.update(_nest(request.files.items()))
    data.update(body or {})
    cleaned: dict[str, Any] = _clean(data)
    return cleaned


def loggable(data: dict[str, Any]) -> dict[str, Any]:
    """A JSON-safe copy for the request log (uploads shown by file name)."""
    result: dict[str, Any] = _loggable(data)
    return result


def _nest(items: Any) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in items:
        head, _, rest = key.partition("[")
        if not rest:
            nested[key] = value
            continue
        parts = [head, *_BRACKETS.findall("[" + rest)]
        node = nested
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return nested


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        # PHP trim() strips " \t\n\r\0\x0B".
        value = value.strip(" \t\n\r\0\x0b")
        return value or None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _loggable(value: Any) -> Any:
    if isinstance(value, FileStorage):
        return {"upload": value.filename}
    if isinstance(value, dict):
        return {k: _loggable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_loggable(v) for v in value]
    return value
