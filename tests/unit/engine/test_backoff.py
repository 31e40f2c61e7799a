"""Backoff timing and the upstream's announced wait: pure functions, explicit clock and rng."""

from __future__ import annotations

import random
from typing import Any

import pytest

from connector.engine.backoff import RETRY_AFTER_CAP_S, backoff, parse_retry_after

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
NOW_HTTP_DATE = "Fri, 15 Jan 2027 08:00:00 GMT"


class _Extreme(random.Random):
    """Returns the top of every uniform range, to check the cap."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.mark.parametrize(
    "attempt, ceiling",
    [
        pytest.param(0, 0.5, id="first"),
        pytest.param(1, 1.0, id="second"),
        pytest.param(4, 8.0, id="fifth"),
        pytest.param(7, 60.0, id="capped"),
        pytest.param(10_000, 60.0, id="huge-attempt-no-overflow"),
        pytest.param(-3, 0.5, id="negative-attempt-as-first"),
    ],
)
def test_backoff_ceiling_doubles_until_cap(attempt: int, ceiling: float) -> None:
    assert backoff(attempt, rng=_Extreme()) == ceiling


def test_backoff_is_full_jitter_within_range() -> None:
    rng = random.Random(7)
    delays = [backoff(3, base_s=1.0, cap_s=60.0, rng=rng) for _ in range(200)]
    assert all(0.0 <= d <= 8.0 for d in delays)
    assert min(delays) < 2.0 and max(delays) > 6.0  # spread over the whole range


def test_backoff_same_seed_same_delays() -> None:
    first = [backoff(n, rng=random.Random(42)) for n in range(5)]
    assert first == [backoff(n, rng=random.Random(42)) for n in range(5)]


CASES = [
    pytest.param({}, {"retry_after": 7}, 7.0, id="body-retry-after"),
    pytest.param({}, {"retry_after": "12"}, 12.0, id="body-retry-after-string"),
    pytest.param({"Retry-After": "5"}, {"retry_after": 9}, 9.0, id="body-wins-over-header"),
    pytest.param({"Retry-After": "30"}, None, 30.0, id="retry-after-seconds"),
    pytest.param({"retry-after": "30"}, None, 30.0, id="header-name-any-case"),
    pytest.param({"Retry-After": "Fri, 15 Jan 2027 08:01:00 GMT"}, None, 60.0, id="http-date"),
    pytest.param({"Retry-After": NOW_HTTP_DATE}, None, 0.0, id="http-date-now"),
    pytest.param({"Retry-After": "Fri, 15 Jan 2027 07:00:00 GMT"}, None, 0.0, id="past-date-0"),
    pytest.param({"X-RateLimit-Reset": str(int(NOW) + 42)}, None, 42.0, id="reset-epoch"),
    pytest.param({"X-RateLimit-Reset": "42"}, None, 42.0, id="reset-seconds"),
    pytest.param({"Retry-After": "-5"}, None, 0.0, id="never-negative"),
    pytest.param({"Retry-After": "86400"}, None, RETRY_AFTER_CAP_S, id="capped-at-an-hour"),
    pytest.param({"Retry-After": "soon"}, None, None, id="garbage-ignored"),
    pytest.param({"Retry-After": "soon", "X-RateLimit-Reset": "3"}, None, 3.0,
                 id="garbage-falls-through"),
    pytest.param({}, {"retry_after": True}, None, id="bool-is-not-a-number"),
    pytest.param({}, {"retry_after": "nan"}, None, id="nan-ignored"),
    pytest.param({}, ["retry_after"], None, id="body-not-an-object"),
    pytest.param({}, None, None, id="nothing-announced"),
]


@pytest.mark.parametrize("headers, body, expected", CASES)
def test_parse_retry_after(headers: dict[str, str], body: Any, expected: float | None) -> None:
    assert parse_retry_after(headers, body, now=NOW) == expected


@pytest.mark.parametrize(
    "headers, expected",
    [
        pytest.param({"Retry-After": "8"}, 8.0, id="seconds-need-no-clock"),
        pytest.param({"Retry-After": NOW_HTTP_DATE}, None, id="date-needs-a-clock"),
        pytest.param({"X-RateLimit-Reset": "1800000042"}, None, id="epoch-needs-a-clock"),
        pytest.param({"X-RateLimit-Reset": "20"}, 20.0, id="small-reset-is-seconds"),
    ],
)
def test_parse_retry_after_without_clock(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, None, now=None) == expected
