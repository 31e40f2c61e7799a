"""The rate governor against a real Redis: the limit holds across threads and clients."""

from __future__ import annotations

import os
import threading
import time

import pytest
import redis as redis_lib

from connector.engine.governor import MARGIN_CAP_S, MARGIN_MEMORY_S, GovernorWait, RateGovernor
from connector.redis_keys import governor_block_key, governor_key, governor_margin_key

REDIS_URL = os.environ.get("WA_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def _client() -> redis_lib.Redis:
    return redis_lib.Redis.from_url(REDIS_URL)


@pytest.fixture
def redis():
    client = _client()
    try:
        client.ping()
    except redis_lib.ConnectionError:
        pytest.exit(f"Redis is not reachable at {REDIS_URL}; start it or set WA_TEST_REDIS_URL")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def test_grants_up_to_the_limit_then_reports_the_wait(redis):
    governor = RateGovernor(redis)
    assert [governor.try_acquire("con_a", 3, 10) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait_s = governor.try_acquire("con_a", 3, 10)
    assert 9.9 < wait_s <= 10.03
    assert redis.zcard(governor_key("con_a")) == 3


def test_connections_are_limited_independently(redis):
    governor = RateGovernor(redis)
    assert governor.try_acquire("con_a", 1, 10) == 0.0
    assert governor.try_acquire("con_a", 1, 10) > 0
    assert governor.try_acquire("con_b", 1, 10) == 0.0


@pytest.mark.parametrize("limit", [pytest.param(0, id="zero"), pytest.param(None, id="none")])
def test_unlimited_bypasses_redis(redis, limit):
    governor = RateGovernor(redis)
    assert all(governor.try_acquire("con_a", limit, 1) == 0.0 for _ in range(100))
    governor.acquire("con_a", limit, 1, max_wait_s=0)
    assert redis.keys("*") == []


@pytest.mark.parametrize(
    "limit, window_s",
    [pytest.param(-1, 1, id="negative-limit"), pytest.param(5, 0, id="zero-window")],
)
def test_bad_limits_are_rejected(redis, limit, window_s):
    with pytest.raises(ValueError):
        RateGovernor(redis).try_acquire("con_a", limit, window_s)


def test_two_governors_on_different_clients_share_the_limit(redis):
    other = _client()
    try:
        first, second = RateGovernor(redis), RateGovernor(other)
        assert first.try_acquire("con_a", 2, 10) == 0.0
        assert second.try_acquire("con_a", 2, 10) == 0.0
        assert first.try_acquire("con_a", 2, 10) > 0
        assert second.try_acquire("con_a", 2, 10) > 0
    finally:
        other.close()


def test_penalize_blocks_every_grant_until_it_expires(redis):
    governor = RateGovernor(redis)
    governor.penalize("con_a", 5)
    wait_s = governor.try_acquire("con_a", 100, 1)
    assert 4.5 < wait_s <= 5.0
    assert redis.zcard(governor_key("con_a")) == 0
    assert 0 < redis.pttl(governor_block_key("con_a")) <= 5001


def test_penalize_never_shortens_a_longer_penalty(redis):
    governor = RateGovernor(redis)
    governor.penalize("con_a", 30)
    governor.penalize("con_a", 1)
    assert governor.try_acquire("con_a", 100, 1) > 25


def test_a_short_penalty_lifts_by_itself(redis):
    governor = RateGovernor(redis)
    governor.penalize("con_a", 0.05)
    governor.acquire("con_a", 10, 1, max_wait_s=1)


def test_each_429_widens_the_margin_up_to_a_cap_and_it_is_remembered(redis):
    governor = RateGovernor(redis, margin_s=0.03)
    assert governor.margin_s("con_a") == pytest.approx(0.03)
    assert governor.try_acquire("con_a", 1, 10) == 0.0
    assert 10.0 < governor.try_acquire("con_a", 1, 10) <= 10.03  # window + base margin
    widened = []
    for _ in range(6):
        governor.penalize("con_a", 0.001)
        widened.append(round(governor.margin_s("con_a"), 3))
    assert widened == [0.06, 0.12, 0.24, 0.48, MARGIN_CAP_S, MARGIN_CAP_S]
    assert 0 < redis.ttl(governor_margin_key("con_a")) <= MARGIN_MEMORY_S
    time.sleep(0.01)  # past the 1 ms penalty: the wait now reflects the learned margin
    assert 10.45 < governor.try_acquire("con_a", 1, 10) <= 10.5
    assert governor.margin_s("con_b") == pytest.approx(0.03)  # per connection


def test_reset_forgets_grants_and_penalty(redis):
    governor = RateGovernor(redis)
    governor.try_acquire("con_a", 1, 10)
    governor.penalize("con_a", 10)
    governor.reset("con_a")
    assert governor.try_acquire("con_a", 1, 10) == 0.0
    assert governor.margin_s("con_a") == governor.margin_s("con_b")


def test_lowering_the_limit_waits_for_enough_grants_to_expire(redis):
    governor = RateGovernor(redis, margin_s=0)
    for _ in range(5):
        assert governor.try_acquire("con_a", 5, 10) == 0.0
    # With the limit now 2, four of the five grants must leave the window first; all five were
    # granted within a few ms, so the wait is close to the full window.
    assert 9.5 < governor.try_acquire("con_a", 2, 10) <= 10


def test_acquire_sleeps_for_the_reported_wait_then_is_granted(redis):
    governor = RateGovernor(redis)
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        time.sleep(seconds)

    governor.acquire("con_a", 1, 0.2, max_wait_s=1, sleep=sleep)
    governor.acquire("con_a", 1, 0.2, max_wait_s=1, sleep=sleep)
    assert len(slept) == 1 and 0.1 < slept[0] <= 0.23


def test_acquire_raises_governor_wait_instead_of_blocking_past_the_budget(redis):
    governor = RateGovernor(redis)
    governor.acquire("con_a", 1, 60, max_wait_s=0)
    with pytest.raises(GovernorWait) as info:
        governor.acquire("con_a", 1, 60, max_wait_s=5, sleep=pytest.fail)
    assert 59 < info.value.wait_s <= 60.03
    assert "next slot" in str(info.value)


def test_no_window_ever_holds_more_than_the_limit_under_contention(redis):
    """4 threads on 2 clients hammer one connection: the log is atomic and the rate is met."""
    limit, window_s, duration_s = 20, 1.0, 3.0
    other = _client()
    governors = [RateGovernor(redis), RateGovernor(other)]
    granted: list[float] = []
    lock = threading.Lock()
    start = time.time()

    def hammer(governor):
        while time.time() - start < duration_s:
            if governor.try_acquire("con_hot", limit, window_s) == 0.0:
                at = time.time()
                with lock:
                    granted.append(at)

    threads = [threading.Thread(target=hammer, args=(governors[i % 2],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.close()

    granted.sort()
    # Property: any `limit + 1` consecutive grants span at least one window.
    spans = [granted[i + limit] - granted[i] for i in range(len(granted) - limit)]
    assert spans and min(spans) >= window_s
    # The limit is actually used, not just respected (3 windows of 1.03 s fit in 3 s).
    assert len(granted) / duration_s >= 0.9 * limit / window_s
