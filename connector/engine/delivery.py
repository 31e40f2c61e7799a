"""REST-hook delivery: each hook's pending deliveries, oldest item first, signed (Standard
Webhooks), through the SSRF-guarded session; retries with backoff and jitter over about a day.

One worker at a time drains a hook (a Redis lock), so a receiver sees items in order while it
accepts them; a job that finds the lock taken leaves a "dirty" mark the holder re-checks before
it lets go, so no delivery is stranded. A failed delivery waits for its retry; later items keep
flowing. The `webhook-id` is the item id: the same on every attempt and every redelivery.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import requests
from sqlalchemy import or_, select, update

from connector.engine.backoff import backoff, parse_retry_after
from connector.redis_keys import HOOK_LOCK_TTL_S, hook_dirty_key, hook_lock_key
from connector.runtime import Runtime
from connector.ssrf import SsrfGuard, UnsafeUrl, guarded_session
from connector.store.trigger_items import item_view
from connector.store.trigger_models import Hook, HookDelivery, TriggerItem
from connector.webhook_signing import sign_headers

log = logging.getLogger(__name__)

BATCH = 50
USER_AGENT = "wa-connector-hooks/1"
RESPONSE_EXCERPT_CHARS = 500


@dataclass(frozen=True)
class Retry:
    delivery_id: str
    job_id: str
    delay_s: float


@lru_cache(maxsize=4)
def _session(allow_networks: tuple[str, ...]) -> requests.Session:
    """One guarded session per worker process (keep-alive to receivers)."""
    return guarded_session(SsrfGuard(allow_networks), pool_maxsize=16)


def body_of(item: TriggerItem) -> bytes:
    """The exact bytes a receiver gets for an item (the same on every attempt)."""
    return json.dumps(item_view(item), sort_keys=True, separators=(",", ":")).encode()


def retry_delay(attempt: int, rt: Runtime, rng: random.Random) -> float:
    """Half the capped exponential step, plus full jitter over the other half: attempt n waits
    between 0.5 and 1 x min(cap, base * 2**n) (5 s ... 6 h by default, ~1 day over 15 tries)."""
    step = min(rt.settings.hook_retry_cap_s, rt.settings.hook_retry_base_s * 2.0 ** attempt)
    return step / 2 + backoff(attempt, base_s=rt.settings.hook_retry_base_s / 2,
                              cap_s=rt.settings.hook_retry_cap_s / 2, rng=rng)


def drain_hook(rt: Runtime, hook_id: str, worker_id: str,
               rng: random.Random | None = None) -> list[Retry]:
    """Deliver every due delivery of `hook_id`; returns the retries to schedule."""
    rng = rng or random.Random()
    rt.redis.set(hook_dirty_key(hook_id), "1", ex=HOOK_LOCK_TTL_S)
    retries: list[Retry] = []
    while True:
        lock = rt.redis.lock(hook_lock_key(hook_id), timeout=HOOK_LOCK_TTL_S, blocking=False)
        if not lock.acquire():
            return retries  # the holder sees the dirty mark before it lets go
        try:
            while True:
                rt.redis.delete(hook_dirty_key(hook_id))
                batch = _due(rt, hook_id)
                if not batch:
                    break
                for delivery_id in batch:
                    retry = attempt_delivery(rt, delivery_id, worker_id, rng)
                    if retry is not None:
                        retries.append(retry)
                    if not _hook_active(rt, hook_id):
                        return retries
        finally:
            lock.release()
        if not rt.redis.exists(hook_dirty_key(hook_id)):
            return retries


def _due(rt: Runtime, hook_id: str) -> list[str]:
    now = datetime.now(UTC)
    with rt.db.session() as session:
        return list(session.scalars(
            select(HookDelivery.id).where(
                HookDelivery.hook_id == hook_id, HookDelivery.status == "pending",
                or_(HookDelivery.next_attempt_at.is_(None), HookDelivery.next_attempt_at <= now))
            .order_by(HookDelivery.item_id).limit(BATCH)))


def _hook_active(rt: Runtime, hook_id: str) -> bool:
    with rt.db.session() as session:
        hook = session.get(Hook, hook_id)
        return hook is not None and hook.status == "active"


def attempt_delivery(rt: Runtime, delivery_id: str, worker_id: str,
                     rng: random.Random) -> Retry | None:
    """One attempt: claim (pending -> delivering), POST, settle. None unless a retry is due."""
    with rt.db.session() as session:
        claimed = session.execute(update(HookDelivery).where(
            HookDelivery.id == delivery_id, HookDelivery.status == "pending").values(
            status="delivering", worker_id=worker_id,
            attempt_count=HookDelivery.attempt_count + 1))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        delivery = session.get(HookDelivery, delivery_id)
        assert delivery is not None
        hook = session.get(Hook, delivery.hook_id)
        item = session.get(TriggerItem, delivery.item_id)
    assert hook is not None and item is not None
    if hook.status != "active":
        _settle(rt, delivery, "failed", {"error": f"hook is {hook.status}"}, hook_change=None)
        return None
    body = body_of(item)
    started = time.time()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               **sign_headers(rt.cipher.decrypt(hook.secret_encrypted), item.id, int(started),
                              body)}
    record: dict[str, Any] = {"n": delivery.attempt_count, "worker_id": worker_id,
                              "at": datetime.fromtimestamp(started, UTC).isoformat()}
    response = None
    try:
        response = _session(tuple(rt.settings.ssrf_allow_networks)).post(
            hook.target_url, data=body, headers=headers,
            timeout=(rt.settings.http_connect_timeout_s, rt.settings.hook_timeout_s))
        record.update(status=response.status_code,
                      response=response.text[:RESPONSE_EXCERPT_CHARS])
    except UnsafeUrl as refused:
        record["error"] = f"refused: {refused.message}"
    except requests.RequestException as error:
        record["error"] = f"{type(error).__name__}: {str(error)[:200]}"
    record["duration_ms"] = int((time.time() - started) * 1000)
    settings = rt.settings
    if response is not None and 200 <= response.status_code < 300:
        _settle(rt, delivery, "succeeded", record, hook_change="success")
        return None
    if response is not None and response.status_code == 410:
        _settle(rt, delivery, "failed", record, hook_change=(
            "deleted", "the target answered 410 Gone: the subscription removed itself"))
        return None
    if "error" in record and str(record["error"]).startswith("refused"):
        _settle(rt, delivery, "failed", record, hook_change=(
            "disabled", f"the target URL is not allowed: {record['error']}"))
        return None
    if delivery.attempt_count >= settings.hook_max_attempts:
        _settle(rt, delivery, "failed", record, hook_change=(
            "disabled", f"delivery {delivery.id} failed {delivery.attempt_count} times; last: "
            f"{record.get('status') or record.get('error')}"))
        return None
    delay = retry_delay(delivery.attempt_count - 1, rt, rng)
    if response is not None and response.status_code in (429, 503):
        announced = parse_retry_after(response.headers, None, now=time.time())
        if announced:
            delay = max(delay, announced)
    job_id = f"{delivery.id}-{delivery.attempt_count + 1}"
    record["retry_in_s"] = round(delay, 3)
    _settle(rt, delivery, "pending", record, hook_change="failure",
            next_attempt_at=datetime.now(UTC) + timedelta(seconds=delay), job_id=job_id)
    return Retry(delivery.id, job_id, delay)


def _settle(rt: Runtime, delivery: HookDelivery, status: str, record: dict[str, Any], *,
            hook_change: Any, next_attempt_at: datetime | None = None,
            job_id: str | None = None) -> None:
    """Fenced on (delivering, attempt, worker): a sweep that took the delivery over wins."""
    with rt.db.session() as session:
        current = session.get(HookDelivery, delivery.id, with_for_update=True)
        if (current is None or current.status != "delivering"
                or current.attempt_count != delivery.attempt_count
                or current.worker_id != delivery.worker_id):
            return
        current.status = status
        current.attempts = [*current.attempts, record]
        current.next_attempt_at = next_attempt_at
        if job_id:
            current.job_id = job_id
        hook = session.get(Hook, delivery.hook_id, with_for_update=True)
        if hook is None:
            return
        if hook_change == "success":
            hook.consecutive_failures = 0
        elif hook_change == "failure":
            hook.consecutive_failures += 1
            if hook.consecutive_failures >= rt.settings.hook_disable_after_failures:
                hook.status, hook.status_detail = "disabled", (
                    f"{hook.consecutive_failures} delivery attempts failed in a row; last: "
                    f"{record.get('status') or record.get('error')}")
        elif isinstance(hook_change, tuple) and hook.status == "active":
            hook.status, hook.status_detail = hook_change
    log.info("hook.delivery", extra={"delivery_id": delivery.id, "status": status,
                                     "http_status": record.get("status")})
