"""The one error hierarchy of the HTTP API; `app.py` renders every `ApiError` as problem+json.

Subclasses are named by meaning (STYLE rule 6). `type` is a stable slug that clients may branch
on; `detail` is for humans; `errors[]` holds `{pointer, message}` for field problems.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

PROBLEM_BASE = "https://wa-connector.dev/problems/"


class ApiError(Exception):
    type = "internal"
    title = "Internal error"
    status = 500

    def __init__(self, detail: str = "", *, errors: Iterable[Mapping[str, str]] = (),
                 extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = [dict(e) for e in errors]
        self.extra = dict(extra or {})

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class BadRequest(ApiError):
    type, title, status = "bad-request", "Bad request", 400


class MalformedJson(ApiError):
    type, title, status = "malformed-json", "Request body is not valid JSON", 400


class Unauthenticated(ApiError):
    type, title, status = "unauthenticated", "Missing or invalid API key", 401


class SignatureInvalid(Unauthenticated):
    type, title = "signature-invalid", "The webhook signature is missing or does not match"


class Forbidden(ApiError):
    type, title, status = "forbidden", "Forbidden", 403


class AbilityMissing(ApiError):
    type, title, status = "ability-missing", "The connection's token lacks an ability", 403


class NotFound(ApiError):
    type, title, status = "not-found", "Not found", 404


class MethodNotAllowed(ApiError):
    type, title, status = "method-not-allowed", "Method not allowed", 405


class Conflict(ApiError):
    type, title, status = "conflict", "Conflict", 409


class PayloadTooLarge(ApiError):
    type, title, status = "payload-too-large", "Request body too large", 413


class UnsupportedMediaType(ApiError):
    type, title, status = "unsupported-media-type", "Unsupported content type", 415


class ValidationFailed(ApiError):
    type, title, status = "validation-failed", "Input does not match the schema", 422


class IdempotencyKeyReused(ApiError):
    type, title, status = "idempotency-key-reused", \
        "Idempotency-Key was used with a different request", 422


class UnsupportedAction(ApiError):
    type, title, status = "unsupported-action", "The connection's provider cannot do this", 422


class UpstreamUnavailable(ApiError):
    type, title, status = "upstream-unavailable", "The tenant API could not be reached", 502


def pointer_errors(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"pointer": pointer, "message": message} for pointer, message in pairs]
