"""Outcome values: what one upstream call (or one whole operation) amounted to.

The classes are exactly DESIGN.md's outcome table; the engine decides retries from the
kind alone, so a provider never needs its own retry branches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class OutcomeKind(StrEnum):
    SUCCESS = "success"
    UPSTREAM_ERROR = "upstream_error"  # 2xx but empty / not JSON / inner status:"error"
    AUTH_INVALID = "auth_invalid"  # 401: the connection needs a new token
    SCOPE_MISSING = "scope_missing"  # 403 naming an ability / scope
    HALTED = "halted"  # 403 plan limit, opted out, API disabled: not retried
    INVALID = "invalid"  # 404 / 422 / our own pre-checks: not retried
    THROTTLED = "throttled"  # 429: re-enqueue after the announced wait
    TRANSIENT = "transient"  # nothing (harmful) reached the upstream: retry with backoff
    IN_DOUBT = "in_doubt"  # a side effect may have happened: never resent automatically

    @property
    def is_retryable(self) -> bool:
        return self in (OutcomeKind.THROTTLED, OutcomeKind.TRANSIENT)


@dataclass(frozen=True)
class FieldError:
    """One field-level complaint, `pointer` is an RFC 6901 pointer into the action input."""

    pointer: str
    message: str


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    message: str = ""
    http_status: int | None = None
    retry_after_s: float | None = None
    missing_ability: str | None = None
    field_errors: tuple[FieldError, ...] = field(default_factory=tuple)
    output: Any = None

    @property
    def ok(self) -> bool:
        return self.kind is OutcomeKind.SUCCESS

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "message": self.message,
            "http_status": self.http_status,
            "retry_after_s": self.retry_after_s,
            "missing_ability": self.missing_ability,
            "errors": [{"pointer": e.pointer, "message": e.message} for e in self.field_errors],
        }


def success(output: Any) -> Outcome:
    return Outcome(OutcomeKind.SUCCESS, output=output)


def invalid(message: str, *errors: FieldError) -> Outcome:
    return Outcome(OutcomeKind.INVALID, message=message, field_errors=tuple(errors))
