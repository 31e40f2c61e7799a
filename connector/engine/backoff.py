"""Retry timing: capped exponential backoff with full jitter, and the upstream's announced wait.

Time and randomness are parameters (STYLE rule 9), so both functions are pure.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

RETRY_AFTER_CAP_S = 3600.0
"""Longest wait we accept from an upstream; a larger announcement is treated as this."""

EPOCH_HEURISTIC_MIN_S = 1_000_000_000.0
"""Without a clock, an `X-RateLimit-Reset` at least this big is an epoch (2001-09-09 onwards)."""


def backoff(attempt: int, *, base_s: float = 0.5, cap_s: float = 60.0, rng: random.Random) -> float:
    """Seconds to wait before retry number `attempt` (0-based): full jitter.

    `uniform(0, min(cap, base * 2**attempt))` (Brooker, "Exponential backoff and jitter"): the
    jitter spreads the retries of many workers so they don't hit the upstream in waves.
    """
    exponent = min(max(attempt, 0), 64)  # 2**64 * base is past any cap; avoids float overflow
    return rng.uniform(0.0, min(cap_s, base_s * 2.0**exponent))


def parse_retry_after(
    headers: Mapping[str, str], body: Any, *, now: float | None
) -> float | None:
    """The wait in seconds an upstream announced, or None when it announced none.

    Sources, first match wins: body `retry_after` (Corbital v1's 429 carries only this, §1.2),
    `Retry-After` (delay-seconds or HTTP-date, RFC 9110 §10.2.3), `X-RateLimit-Reset` (an epoch
    when it is greater than `now`, else delay-seconds). The result is capped at one hour and
    never negative. `now` is epoch seconds; when it is None, absolute times can't be converted
    and are ignored.
    """
    for candidate in (
        _from_body(body),
        _from_retry_after(_header(headers, "retry-after"), now),
        _from_reset(_header(headers, "x-ratelimit-reset"), now),
    ):
        if candidate is not None:
            return min(max(candidate, 0.0), RETRY_AFTER_CAP_S)
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value).strip()
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _from_body(body: Any) -> float | None:
    return _number(body.get("retry_after")) if isinstance(body, Mapping) else None


def _from_retry_after(value: str | None, now: float | None) -> float | None:
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    if now is None:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; email.utils leaves "-0000" naive
        when = when.replace(tzinfo=UTC)
    return when.timestamp() - now


def _from_reset(value: str | None, now: float | None) -> float | None:
    number = _number(value)
    if number is None:
        return None
    if now is None:
        return None if number >= EPOCH_HEURISTIC_MIN_S else number
    return number - now if number > now else number
