"""What an upstream answer amounts to: `classify(exchange) -> Outcome`, pure and table-driven.

The table is DESIGN.md's "Outcome classification". Providers differ only in data (`ErrorRules`:
message patterns, markers, field names), never in branches here (STYLE rule 7).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.engine.backoff import parse_retry_after
from connector.engine.outcome import FieldError, Outcome, OutcomeKind
from connector.providers.http import Exchange

MESSAGE_LIMIT_CHARS = 300
"""Upstream words quoted in an outcome message are cut to this length."""


@dataclass(frozen=True)
class ErrorRules:
    """What one provider's error answers look like. Data only; `classify` holds the logic.

    - `scope_message_pattern`: a regex over the upstream message of a 403; a match means a
      missing ability, named by the group `ability` (or the first group).
    - `halt_reasons`: (marker, explanation) pairs searched (case-insensitively) in a 403 body;
      every 403 that is not a scope message halts, a marker only explains why.
    - `config_errors`: (marker, explanation) pairs; an error answer of any status holding a
      marker is a configuration mistake, halted instead of retried or reported as invalid.
    - `field_names`: upstream field name -> our input field name, for validation pointers.
    - `ability_format`: how the ability named by the pattern becomes our ability string.
    """

    scope_message_pattern: str | None = None
    halt_reasons: tuple[tuple[str, str], ...] = ()
    config_errors: tuple[tuple[str, str], ...] = ()
    field_names: Mapping[str, str] = field(default_factory=dict)
    # How a named ability becomes ours, e.g. waapi's permission "read" -> "instances:{}".
    ability_format: str = "{}"

    def __post_init__(self) -> None:
        if self.scope_message_pattern is not None:
            re.compile(self.scope_message_pattern)  # a bad pattern fails when the rules are built


DEFAULT_RULES = ErrorRules()


def classify(
    exchange: Exchange,
    *,
    side_effect: bool,
    rules: ErrorRules = DEFAULT_RULES,
    now: float | None = None,
) -> Outcome:
    """Classify one exchange. Never raises.

    Args:
        side_effect: the request may have changed something upstream (a send, a create), so a
            timeout or 5xx after it was written is `in_doubt`, not `transient`.
        now: epoch seconds for absolute rate-limit times; defaults to `exchange.received_at`.
    """
    if exchange.error is not None or exchange.status is None:
        return _transport(exchange, side_effect)
    answer = _Answer(exchange, rules, side_effect, now)
    if not 200 <= exchange.status < 300:
        config = _find_marker(answer.haystack, rules.config_errors)
        if config is not None:
            return answer.outcome(OutcomeKind.HALTED, f"connection misconfigured: {config}")
    handler = _BY_STATUS.get(exchange.status) or _BY_CLASS.get(exchange.status // 100, _unexpected)
    return handler(answer)


@dataclass(frozen=True)
class _Answer:
    """An exchange with a status, and the few views of its body the handlers need."""

    exchange: Exchange
    rules: ErrorRules
    side_effect: bool
    now: float | None

    @property
    def status(self) -> int:
        return self.exchange.status or 0

    @property
    def body(self) -> Any:
        return self.exchange.body

    @property
    def words(self) -> str:
        """The upstream's own explanation, short and single-line."""
        return _upstream_words(self.exchange)

    @property
    def haystack(self) -> str:
        body = self.exchange.body
        raw = json.dumps(body, default=str) if body is not None else (self.exchange.text or "")
        return raw.lower()

    def outcome(self, kind: OutcomeKind, message: str, **extra: Any) -> Outcome:
        return Outcome(kind, message=message, http_status=self.exchange.status, **extra)

    def quoted(self, prefix: str) -> str:
        words = self.words
        return f"{prefix} ({self.status}): {words}" if words else f"{prefix} ({self.status})"


def _transport(exchange: Exchange, side_effect: bool) -> Outcome:
    error = exchange.error or "other"
    if exchange.sent and side_effect:
        return Outcome(
            OutcomeKind.IN_DOUBT,
            message=f"{error} after the request was sent: the upstream may have acted on it; "
            "check there before replaying",
            http_status=exchange.status,
        )
    if error == "too_large":
        # Retrying a read would fetch the same oversized answer.
        return Outcome(
            OutcomeKind.UPSTREAM_ERROR,
            message="the upstream answer was too large to read; ask for a smaller page",
            http_status=exchange.status,
        )
    where = "after the request was sent" if exchange.sent else "before anything was sent"
    return Outcome(OutcomeKind.TRANSIENT, message=f"{error} {where}", http_status=exchange.status)


def _success(answer: _Answer) -> Outcome:
    body = answer.body
    if answer.status == 204:
        return Outcome(OutcomeKind.SUCCESS, http_status=204, output=None)
    if body is None:
        text = (answer.exchange.text or "").strip()
        what = "an empty answer" if not text else "an answer that is not JSON"
        return answer.outcome(OutcomeKind.UPSTREAM_ERROR, f"the upstream sent {what}")
    if _inner_error(body):
        return answer.outcome(
            OutcomeKind.UPSTREAM_ERROR, answer.quoted("the upstream reported an error")
        )
    if not isinstance(body, dict | list):
        return answer.outcome(OutcomeKind.UPSTREAM_ERROR, "the upstream sent an unexpected answer")
    return Outcome(OutcomeKind.SUCCESS, http_status=answer.status, output=body)


def _redirect(answer: _Answer) -> Outcome:
    location = _header(answer.exchange.headers, "location") or "elsewhere"
    return answer.outcome(
        OutcomeKind.HALTED,
        f"the upstream redirected ({answer.status}) to {location.split('?', 1)[0]}; "
        "check the connection's base URL",
    )


def _unauthorized(answer: _Answer) -> Outcome:
    return answer.outcome(
        OutcomeKind.AUTH_INVALID,
        answer.quoted("the upstream rejected the token") + "; save a new token on the connection",
    )


def _forbidden(answer: _Answer) -> Outcome:
    pattern = answer.rules.scope_message_pattern
    match = re.search(pattern, answer.words, re.IGNORECASE) if pattern else None
    if match is not None:
        ability = match.groupdict().get("ability") or (match.group(1) if match.groups() else None)
        if ability:
            ability = answer.rules.ability_format.format(ability)
        return answer.outcome(
            OutcomeKind.SCOPE_MISSING,
            f"the token lacks the ability {ability or '(unnamed)'}; enable it for the API token "
            "in the tenant's API settings",
            missing_ability=ability,
        )
    reason = _find_marker(answer.haystack, answer.rules.halt_reasons)
    message = answer.quoted("the upstream refused")
    return answer.outcome(OutcomeKind.HALTED, f"{reason}: {message}" if reason else message)


def _invalid(answer: _Answer) -> Outcome:
    errors = tuple(_field_errors(answer.body, answer.rules.field_names))
    return answer.outcome(
        OutcomeKind.INVALID, answer.quoted("the upstream refused the input"), field_errors=errors
    )


def _throttled(answer: _Answer) -> Outcome:
    retry_after = _retry_after(answer)
    wait = f"; retry after {retry_after:g} s" if retry_after is not None else ""
    return answer.outcome(
        OutcomeKind.THROTTLED, answer.quoted("rate limited") + wait, retry_after_s=retry_after
    )


def _server_error(answer: _Answer) -> Outcome:
    if answer.side_effect:
        return answer.outcome(
            OutcomeKind.IN_DOUBT,
            answer.quoted("upstream error after the request was sent")
            + "; it may have acted on it, check there before replaying",
        )
    return answer.outcome(
        OutcomeKind.TRANSIENT, answer.quoted("upstream error"), retry_after_s=_retry_after(answer)
    )


def _unexpected(answer: _Answer) -> Outcome:
    return answer.outcome(OutcomeKind.UPSTREAM_ERROR, answer.quoted("unexpected upstream answer"))


_Handler = Callable[[_Answer], Outcome]

_BY_STATUS: Mapping[int, _Handler] = {
    400: _invalid,
    401: _unauthorized,
    403: _forbidden,
    404: _invalid,
    408: _server_error,  # the upstream gave up waiting for us: same doubt as a 5xx
    409: _invalid,
    422: _invalid,
    429: _throttled,
}

_BY_CLASS: Mapping[int, _Handler] = {
    2: _success,
    3: _redirect,
    4: _invalid,
    5: _server_error,
}


def _retry_after(answer: _Answer) -> float | None:
    now = answer.now if answer.now is not None else answer.exchange.received_at
    return parse_retry_after(answer.exchange.headers, answer.body, now=now)


def _inner_error(body: Any) -> bool:
    """A 2xx carrying `status: "error"` (Corbital) or `data.status == "error"` (waapi)."""
    if not isinstance(body, dict):
        return False
    if _is_error_flag(body.get("status")):
        return True
    data = body.get("data")
    return isinstance(data, dict) and _is_error_flag(data.get("status"))


def _is_error_flag(value: Any) -> bool:
    return isinstance(value, str) and value.lower() == "error"


def _upstream_words(exchange: Exchange) -> str:
    body = exchange.body
    parts: list[str] = []
    if isinstance(body, dict):
        for container in (body, body.get("data")):
            if isinstance(container, dict):
                parts.extend(_strings(container.get("message")))
                parts.extend(_strings(container.get("error")))
        errors = body.get("errors")
        if isinstance(errors, str | list):
            parts.extend(_strings(errors))
    elif body is None and exchange.text:
        parts.append(exchange.text if not exchange.text.lstrip().startswith("<") else "")
    words = "; ".join(dict.fromkeys(p.strip() for p in parts if p and p.strip()))
    words = " ".join(words.split())
    return words[:MESSAGE_LIMIT_CHARS]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    if isinstance(value, dict):
        message = value.get("message")
        return [message] if isinstance(message, str) else []
    return []


def _field_errors(body: Any, field_names: Mapping[str, str]) -> list[FieldError]:
    """Laravel's `errors{field: [messages]}` as pointers into our input."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, dict):
        return []
    out: list[FieldError] = []
    for upstream_field, messages in errors.items():
        pointer = _pointer(str(upstream_field), field_names)
        for message in _strings(messages) or [str(messages)]:
            out.append(FieldError(pointer, message[:MESSAGE_LIMIT_CHARS]))
    return out


def _pointer(upstream_field: str, field_names: Mapping[str, str]) -> str:
    """`group_id.0` -> `/group_ids/0` when the rules map `group_id` to `group_ids`."""
    if upstream_field in field_names:
        segments = field_names[upstream_field].split(".")
    else:
        head, *rest = upstream_field.split(".")
        segments = [*field_names.get(head, head).split("."), *rest]
    escaped = (s.replace("~", "~0").replace("/", "~1") for s in segments)
    return "/" + "/".join(escaped)


def _find_marker(haystack: str, pairs: tuple[tuple[str, str], ...]) -> str | None:
    for marker, explanation in pairs:
        if marker.lower() in haystack:
            return explanation
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None
