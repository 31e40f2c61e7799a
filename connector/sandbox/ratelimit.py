"""Laravel-style fixed-window rate limiter keyed by API token (reference §1.2, check 7).

`RateLimiter::tooManyAttempts()` then `hit()`: the window opens at the first hit and lasts the decay
period; over the limit the request is refused *without* counting it, and `retry_after` is the time
left in the window. Laravel truncates to whole seconds; we keep the window exact (first hit +
decay), which is never more lenient than the upstream, and round `retry_after` up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Window:
    start: float
    end: float
    hits: int = 0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int
    hits_in_window: int


class FixedWindowLimiter:
    """One window per key; callers hold the store lock."""

    def __init__(self) -> None:
        self._windows: dict[str, Window] = {}

    def attempt(self, key: str, max_hits: int | None, decay_s: float, now: float) -> Decision:
        """Count one hit for `key` unless the window is full.

        `max_hits` of None or 0 means unlimited: hits are still counted so the admin stats can
        report the busiest window.
        """
        window = self._windows.get(key)
        if window is None or now >= window.end:
            window = Window(start=now, end=now + decay_s)
            self._windows[key] = window
        if max_hits and window.hits >= max_hits:
            retry = max(1, math.ceil(window.end - now))
            return Decision(allowed=False, retry_after_s=retry, hits_in_window=window.hits)
        window.hits += 1
        return Decision(allowed=True, retry_after_s=0, hits_in_window=window.hits)

    def forget(self, key: str) -> None:
        self._windows.pop(key, None)


def max_in_sliding_window(times: list[float], span_s: float) -> int:
    """Most accepted requests in any interval of `span_s` seconds (`times` sorted)."""
    best = 0
    left = 0
    for right, t in enumerate(times):
        while t - times[left] >= span_s:
            left += 1
        best = max(best, right - left + 1)
    return best
