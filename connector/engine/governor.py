"""The per-connection rate governor: one sliding-window log per connection in Redis.

Shared by every worker process on every machine, so that in normal operation the connector stays
under the upstream's limit and never sees a 429.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from connector.redis_keys import governor_block_key, governor_key, governor_margin_key

if TYPE_CHECKING:
    from redis import Redis

DEFAULT_MARGIN_S = 0.03
"""Added to every window. A request granted at t reaches the upstream a little later (thread
switch, connection setup, network), and that delay varies, so two grants exactly one window
apart could arrive inside one upstream window. 30 ms covers the jitter on a LAN or loopback; it
costs 0.05 % of the rate for a 60 s window (3 % for a 1 s window)."""

MARGIN_CAP_S = 0.5
"""The most a connection's learned margin grows to (a 1 s window then runs at 2/3 speed)."""

MARGIN_MEMORY_S = 600
"""A learned margin is forgotten after this long without another 429 (back to the base)."""

_US_PER_S = 1_000_000

# Why a log and not a token bucket: the upstream (Laravel's throttle) counts in a FIXED window that
# starts at the first hit. A bucket that refills continuously would allow a burst at the end of
# one upstream window plus a refill's worth at the start of the next, i.e. up to 2x the limit in
# one upstream window. A sliding log grants at most `limit` in ANY window of the given length,
# which also satisfies any fixed window. Memory is `limit` entries per connection.
#
# All times come from Redis `TIME`, so every process shares one clock. Lua turns numbers into
# strings with "%.14g", which would round 16-digit microsecond values, hence string.format.
#
# The margin adapts to the jitter the upstream shows us: every 429 doubles the connection's
# margin (at least twice the base, at most MARGIN_CAP_S), remembered for MARGIN_MEMORY_S after
# the last 429. A quiet path keeps the small base margin and nearly the full rate.
#
# KEYS[1]: grant log (ZSET, score = grant time in µs)   KEYS[2]: penalty deadline in µs
# KEYS[3]: learned margin in µs
# ARGV[1]: limit   ARGV[2]: window in µs   ARGV[3]: unique member for this grant
# ARGV[4]: base margin in µs
# Returns 0 when granted, else the µs to wait.
_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local blocked_until = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked_until > now then
  return blocked_until - now
end
local limit = tonumber(ARGV[1])
local margin = math.max(tonumber(ARGV[4]), tonumber(redis.call('GET', KEYS[3]) or '0'))
local span = tonumber(ARGV[2]) + margin
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - span))
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(span / 1000) + 1)
  return 0
end
-- A slot frees when the (count - limit + 1)-th oldest grant leaves the window; count exceeds
-- limit only right after the limit was lowered.
local oldest = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
return tonumber(oldest[2]) + span - now
"""

# KEYS[1]: penalty deadline in µs   KEYS[2]: learned margin in µs
# ARGV[1]: penalty in µs   ARGV[2]: base margin in µs   ARGV[3]: margin cap in µs
# ARGV[4]: margin memory in s. Never shortens a longer penalty.
_PENALIZE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local penalty = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if now + penalty > current then
  redis.call('SET', KEYS[1], string.format('%.0f', now + penalty),
             'PX', math.ceil(penalty / 1000) + 1)
end
local learned = tonumber(redis.call('GET', KEYS[2]) or '0')
local margin = math.min(math.max(2 * learned, 2 * tonumber(ARGV[2])), tonumber(ARGV[3]))
redis.call('SET', KEYS[2], string.format('%.0f', margin), 'EX', tonumber(ARGV[4]))
return 0
"""


class GovernorWait(Exception):
    """The next slot is further away than the caller may block; reschedule after `wait_s`."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"rate limit reached: next slot in {wait_s:.3f} s")
        self.wait_s = wait_s


class RateGovernor:
    """Grants at most `limit` upstream requests per `window_s` for each connection.

    Takes the Redis client as a parameter and opens nothing itself; scripts are loaded lazily
    on first use (EVALSHA with a fallback to EVAL).
    """

    def __init__(self, redis: Redis, *, margin_s: float = DEFAULT_MARGIN_S) -> None:
        if margin_s < 0:
            raise ValueError(f"margin_s must be >= 0 (got {margin_s})")
        self._redis = redis
        self._margin_s = margin_s
        self._acquire_script = redis.register_script(_ACQUIRE_LUA)
        self._penalize_script = redis.register_script(_PENALIZE_LUA)

    def try_acquire(self, connection_id: str, limit: int | None, window_s: float) -> float:
        """Take a slot if one is free: 0.0 when granted, else the seconds until one frees.

        A `limit` of 0 or None means unlimited and never touches Redis.
        """
        if not limit:
            return 0.0
        if limit < 0:
            raise ValueError(f"limit must be >= 0 or None (got {limit})")
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0 (got {window_s})")
        wait_us = self._acquire_script(
            keys=[governor_key(connection_id), governor_block_key(connection_id),
                  governor_margin_key(connection_id)],
            args=[int(limit), math.ceil(window_s * _US_PER_S), secrets.token_hex(8),
                  math.ceil(self._margin_s * _US_PER_S)],
        )
        return int(wait_us) / _US_PER_S

    def acquire(
        self,
        connection_id: str,
        limit: int | None,
        window_s: float,
        *,
        max_wait_s: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Block until a slot is granted, sleeping at most `max_wait_s` in total.

        Raises `GovernorWait` as soon as the next wait would exceed that budget, so a worker
        reschedules the job instead of sitting idle. Other workers may take a freed slot first;
        the budget bounds the retries.
        """
        waited_s = 0.0
        while True:
            wait_s = self.try_acquire(connection_id, limit, window_s)
            if wait_s == 0.0:
                return
            if waited_s + wait_s > max_wait_s:
                raise GovernorWait(wait_s)
            sleep(wait_s)
            waited_s += wait_s

    def penalize(self, connection_id: str, seconds: float) -> None:
        """After an upstream 429: refuse every grant for this connection for `seconds`, and
        widen its margin (the 429 says arrivals bunched more than the margin allowed for)."""
        if seconds <= 0:
            return
        self._penalize_script(
            keys=[governor_block_key(connection_id), governor_margin_key(connection_id)],
            args=[math.ceil(seconds * _US_PER_S), math.ceil(self._margin_s * _US_PER_S),
                  math.ceil(MARGIN_CAP_S * _US_PER_S), MARGIN_MEMORY_S],
        )

    def margin_s(self, connection_id: str) -> float:
        """The margin now added to this connection's window (base or learned)."""
        learned = self._redis.get(governor_margin_key(connection_id))
        return max(self._margin_s, int(learned or 0) / _US_PER_S)

    def reset(self, connection_id: str) -> None:
        """Forget the connection's grants and penalty (e.g. after its limit was changed)."""
        self._redis.delete(governor_key(connection_id), governor_block_key(connection_id),
                           governor_margin_key(connection_id))
