"""Request parsing shared by the views: JSON bodies, pagination, `Prefer: wait`, the runtime."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import current_app, g, request

from connector.errors import MalformedJson, UnsupportedMediaType, ValidationFailed
from connector.runtime import Runtime

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_PREFER_WAIT = re.compile(r"(?:^|[;,\s])wait\s*=\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


def runtime() -> Runtime:
    rt: Runtime = current_app.extensions["wa_runtime"]
    return rt


def workspace_id() -> str:
    return str(g.workspace_id)


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a problem naming what is wrong with it."""
    if not request.mimetype or request.mimetype != "application/json":
        raise UnsupportedMediaType(
            f"send the body as application/json (got {request.mimetype or 'no content type'})")
    raw = request.get_data(cache=True)
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedJson(f"the body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be a JSON object",
                               errors=[{"pointer": "", "message": "expected an object"}])
    return body


def page_args() -> tuple[int, str | None]:
    raw = request.args.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be an integer from 1 to {MAX_LIMIT}",
                               errors=[{"pointer": "/limit", "message": f"got {raw!r}"}])
    return int(raw), request.args.get("cursor") or None


def page(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """A list answer: newest first, `next_cursor` when there may be more."""
    return {"items": items, "next_cursor": items[-1]["id"] if len(items) == limit else None}


def prefer_wait_s(max_s: float) -> float:
    """Seconds asked for with `Prefer: wait=N` (RFC 7240), capped; 0 when absent."""
    match = _PREFER_WAIT.search(request.headers.get("Prefer", ""))
    return min(float(match.group(1)), max_s) if match else 0.0
