"""`Idempotency-Key` on effectful POSTs: same key + same body replays the first answer.

Same key + different body is a 422 (DESIGN.md conventions); a key whose first request is still
being handled is a 409, so two concurrent retries can't both cause the effect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, make_response, request

from connector.api.inputs import runtime, workspace_id
from connector.errors import ApiError, Conflict, IdempotencyKeyReused, ValidationFailed
from connector.store import idempotency

MAX_KEY_LENGTH = 255
REPLAYED_HEADERS = ("Location", "Content-Type")


def idempotent(view: Callable[..., Any]) -> Callable[..., Response]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return make_response(view(*args, **kwargs))
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ValidationFailed("Idempotency-Key must be 1 to 255 characters", errors=[
                {"pointer": "/headers/Idempotency-Key", "message": "bad length"}])
        digest = hashlib.sha256(
            b"%s %s\n%s" % (request.method.encode(), request.path.encode(),
                            request.get_data(cache=True))).hexdigest()
        rt, wsp = runtime(), workspace_id()
        existing = idempotency.reserve(rt.db, wsp, key, digest)
        if existing is not None:
            return _replay(existing, digest)
        try:
            response = make_response(view(*args, **kwargs))
        except ApiError:
            # Rejected before any effect (validation, auth): the key stays free, as at Stripe.
            idempotency.release(rt.db, wsp, key)
            raise
        headers = {h: response.headers[h] for h in REPLAYED_HEADERS if h in response.headers}
        idempotency.complete(rt.db, wsp, key, response.status_code,
                             response.get_json(silent=True) or {}, headers)
        return response

    return wrapper


def _replay(record: Any, digest: str) -> Response:
    if record.request_hash != digest:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was first used with a different method, path or body; "
            "use a new key for a new request")
    if not record.completed:
        raise Conflict("a request with this Idempotency-Key is still being handled; retry shortly")
    response = make_response(record.response, record.status_code)
    for name, value in (record.headers or {}).items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response
