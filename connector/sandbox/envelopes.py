"""The v1 JSON envelopes (reference §1.4): `status: success|error`, optional `message`, `data`."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify


def success(data: Any = None, *, message: str | None = None, status: int = 200) -> Response:
    """`{"status":"success", "message"?, "data"}`; a delete answers without `data`."""
    body: dict[str, Any] = {"status": "success"}
    if message is not None:
        body["message"] = message
    if data is not None or message is None:
        body["data"] = data
    return _json(body, status)


def error(status: int, message: str, **extra: Any) -> Response:
    """`{"status":"error","message", "errors"?|"error"?...}`."""
    return _json({"status": "error", "message": message, **extra}, status)


def validation_failed(errors: dict[str, list[str]]) -> Response:
    return error(422, "Validation failed", errors=errors)


def bare(body: dict[str, Any], status: int) -> Response:
    """Framework-level answers (429, 404 route, 500) that have no `status` key."""
    return _json(body, status)


def _json(body: dict[str, Any], status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response
