"""The one-active-run-per-sync lease in Redis: `wa:sync:<id>:active` holds the run id.

Taken with SET NX when a run is started (so a second start, or a tick that comes while a run is
still going, finds it), renewed by the worker's heartbeat, released with compare-and-delete.
A worker that dies stops renewing, and the next start after `sync_lease_s` resumes from the
saved state.
"""

from __future__ import annotations

import threading

import redis

from connector.redis_keys import sync_active_key

# KEYS[1]: lease   ARGV[1]: run id   ARGV[2]: ttl ms. 1 when the caller holds it afterwards.
_TAKE_LUA = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] or not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def reserve(client: redis.Redis, sync_id: str, run_id: str, ttl_s: float) -> bool:
    """Claim the sync for a new run; False while another run holds it."""
    return bool(client.set(sync_active_key(sync_id), run_id, nx=True, px=int(ttl_s * 1000)))


def holder(client: redis.Redis, sync_id: str) -> str | None:
    value = client.get(sync_active_key(sync_id))
    return value.decode() if isinstance(value, bytes) else value


def take(client: redis.Redis, sync_id: str, run_id: str, ttl_s: float) -> bool:
    """Hold (or renew) the lease for `run_id`; False when another run holds it."""
    return bool(client.eval(_TAKE_LUA, 1, sync_active_key(sync_id), run_id,
                            int(ttl_s * 1000)))


def release(client: redis.Redis, sync_id: str, run_id: str) -> None:
    client.eval(_RELEASE_LUA, 1, sync_active_key(sync_id), run_id)


def drop_if(client: redis.Redis, sync_id: str, run_id: str) -> None:
    """Forget a stale holder (its run already ended)."""
    release(client, sync_id, run_id)


def keep_alive(client: redis.Redis, sync_id: str, run_id: str,
               ttl_s: float) -> threading.Event:
    """Renew the lease every third of `ttl_s` until the returned event is set."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(ttl_s / 3):
            if not take(client, sync_id, run_id, ttl_s):
                return

    threading.Thread(target=beat, name=f"sync-lease:{run_id}", daemon=True).start()
    return stop
