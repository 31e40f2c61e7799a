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
EARLY_TOLERANCE_S = 1.0
"""RQ schedules delayed jobs at whole-second resolution, so a retry's job may start up to a
second before the delivery's `next_attempt_at`: that counts as due."""


@dataclass(frozen=True)
class Retry:
    delivery_id: str
    job_id: str
    delay_s: float


@lru_cache(maxsize=4)
def _session(allow_networks: tuple[str, ...]) -> requests.Session:
    """One guarded session per worker process (keep-alive to receivers)."""
    return guarded_session(SsrfGuard(allow_networks), pool_maxsize=16)


def _allow_list(setting: Any) -> tuple[str, ...]:
    # Settings.from_env hands a comma-separated string for this tuple field (its default is a
    # factory, so the parser doesn't know the type); tests pass a tuple.
    if isinstance(setting, str):
        return tuple(part.strip() for part in setting.split(",") if part.strip())
    return tuple(setting)


def body_of(item: TriggerItem) -> bytes:
    """The exact bytes a receiver gets for an item (the same on every attempt)."""
    return json.dumps(item_view(item), sort_keys=True, separators=(",", ":")).encode()


def retry_delay(attempt: int, rt: Runtime, rng: random.Random) -> float:
    """Half the capped exponential step, plus full jitter over the other half: attempt n waits
    between 0.5 and 1 x min(cap, base * 2**n) (5 s ... 6 h by default, ~1 day over 15 tries)."""
    step = min(rt.settings.hook_retry_cap_s, rt.settings.hook_retry_base_s * 2.0 ** attempt)
    return step / 2 + backoff(attempt, base_s=rt.settings.hook_retry_base_s / 2,
                              cap_s=rt.settings.hook_retry_cap_s / 2, rng=rng)


# The hook lock holds its owner's worker id, so the sweep can break the lock of a dead worker
# (compare-and-delete) instead of waiting for the TTL.
_RELEASE = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
            "return redis.call('del', KEYS[1]) else return 0 end")
_EXTEND = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
           "return redis.call('expire', KEYS[1], ARGV[2]) else return 0 end")


def release_hook_lock(rt: Runtime, hook_id: str, owner: str) -> bool:
    """Delete the hook's lock if `owner` holds it (its own release, or a sweep's break)."""
    return bool(rt.redis.eval(_RELEASE, 1, hook_lock_key(hook_id), owner))


def drain_hook(rt: Runtime, hook_id: str, worker_id: str,
               rng: random.Random | None = None) -> list[Retry]:
    """Deliver every due delivery of `hook_id`; returns the retries to schedule."""
    rng = rng or random.Random()
    key = hook_lock_key(hook_id)
    rt.redis.set(hook_dirty_key(hook_id), "1", ex=HOOK_LOCK_TTL_S)
    retries: list[Retry] = []
    while True:
        if not rt.redis.set(key, worker_id, nx=True, ex=HOOK_LOCK_TTL_S):
            return retries  # the holder sees the dirty mark before it lets go
        try:
            while True:
                rt.redis.delete(hook_dirty_key(hook_id))
                rt.redis.eval(_EXTEND, 1, key, worker_id, HOOK_LOCK_TTL_S)
                batch = _claim(rt, hook_id, worker_id)
                if batch is None:
                    break
                retry = _send_batch(rt, batch, worker_id, rng)
                if retry is not None:
                    retries.append(retry)
                    break  # the receiver is failing: the rest waits behind the retry
                if batch.hook.status != "active":
                    break
        finally:
            release_hook_lock(rt, hook_id, worker_id)
        if not rt.redis.exists(hook_dirty_key(hook_id)):
            return retries


@dataclass
class _Batch:
    hook: Hook
    secret: str
    deliveries: list[HookDelivery]
    items: dict[str, TriggerItem]


def _claim(rt: Runtime, hook_id: str, worker_id: str) -> _Batch | None:
    """pending -> delivering for the hook's next due deliveries (item order), in one go."""
    now = datetime.now(UTC) + timedelta(seconds=EARLY_TOLERANCE_S)
    with rt.db.session() as session:
        hook = session.get(Hook, hook_id)
        if hook is None or hook.status != "active":
            return None
        ids = list(session.scalars(
            select(HookDelivery.id).where(
                HookDelivery.hook_id == hook_id, HookDelivery.status == "pending",
                or_(HookDelivery.next_attempt_at.is_(None), HookDelivery.next_attempt_at <= now))
            .order_by(HookDelivery.item_id).limit(BATCH)))
        if not ids:
            return None
        session.execute(update(HookDelivery).where(
            HookDelivery.id.in_(ids), HookDelivery.status == "pending").values(
            status="delivering", worker_id=worker_id))
        deliveries = list(session.scalars(select(HookDelivery).where(
            HookDelivery.id.in_(ids), HookDelivery.status == "delivering",
            HookDelivery.worker_id == worker_id).order_by(HookDelivery.item_id)))
        items = {i.id: i for i in session.scalars(select(TriggerItem).where(
            TriggerItem.id.in_([d.item_id for d in deliveries])))}
    if not deliveries:
        return None
    return _Batch(hook, rt.cipher.decrypt(hook.secret_encrypted), deliveries, items)


def _send_batch(rt: Runtime, batch: _Batch, worker_id: str,
                rng: random.Random) -> Retry | None:
    """POST each claimed delivery in order and settle them together. On the first failure the
    rest go back to pending, due with the failed one's retry (order kept, no hammering)."""
    results: list[tuple[HookDelivery, str, dict[str, Any]]] = []
    retry: Retry | None = None
    stopped = False
    next_at: datetime | None = None
    for delivery in batch.deliveries:
        if stopped:
            results.append((delivery, "release", {}))
            continue
        record = _post(rt, batch, delivery, worker_id)
        verdict = _judge(rt, delivery, record)
        if verdict == "pending":
            delay = retry_delay(delivery.attempt_count, rt, rng)
            announced = record.pop("retry_after_s", None)
            if announced:
                delay = max(delay, announced)
            record["retry_in_s"] = round(delay, 3)
            next_at = datetime.now(UTC) + timedelta(seconds=delay)
            retry = Retry(delivery.id, f"{delivery.id}-{delivery.attempt_count + 2}", delay)
        stopped = verdict != "succeeded"
        results.append((delivery, verdict, record))
    _settle(rt, batch, results, worker_id, next_at, retry)
    return retry


def _post(rt: Runtime, batch: _Batch, delivery: HookDelivery, worker_id: str) -> dict[str, Any]:
    item = batch.items[delivery.item_id]
    body = body_of(item)
    started = time.time()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               **sign_headers(batch.secret, item.id, int(started), body)}
    record: dict[str, Any] = {"n": delivery.attempt_count + 1, "worker_id": worker_id,
                              "at": datetime.fromtimestamp(started, UTC).isoformat()}
    try:
        response = _session(_allow_list(rt.settings.ssrf_allow_networks)).post(
            batch.hook.target_url, data=body, headers=headers,
            timeout=(rt.settings.http_connect_timeout_s, rt.settings.hook_timeout_s))
        record.update(status=response.status_code,
                      response=response.text[:RESPONSE_EXCERPT_CHARS])
        if response.status_code in (429, 503):
            announced = parse_retry_after(response.headers, None, now=time.time())
            if announced:
                record["retry_after_s"] = announced
    except UnsafeUrl as refused:
        record["refused"] = refused.message
    except requests.RequestException as error:
        record["error"] = f"{type(error).__name__}: {str(error)[:200]}"
    record["duration_ms"] = int((time.time() - started) * 1000)
    return record


def _judge(rt: Runtime, delivery: HookDelivery, record: dict[str, Any]) -> str:
    """The delivery's status after this attempt: succeeded, failed (for good) or pending."""
    status = record.get("status")
    if isinstance(status, int) and 200 <= status < 300:
        return "succeeded"
    if status == 410 or "refused" in record:
        return "failed"
    if delivery.attempt_count + 1 >= rt.settings.hook_max_attempts:
        return "failed"
    return "pending"


def _settle(rt: Runtime, batch: _Batch, results: list[tuple[HookDelivery, str, dict[str, Any]]],
            worker_id: str, next_at: datetime | None, retry: Retry | None) -> None:
    """One transaction for the batch, fenced per delivery on (delivering, this worker): a sweep
    that took a delivery over wins."""
    with rt.db.session() as session:
        hook = session.get(Hook, batch.hook.id, with_for_update=True)
        rows = {d.id: d for d in session.scalars(select(HookDelivery).where(
            HookDelivery.id.in_([d.id for d, _, _ in results])).with_for_update())}
        for delivery, verdict, record in results:
            current = rows.get(delivery.id)
            if (current is None or current.status != "delivering"
                    or current.worker_id != worker_id):
                continue
            if verdict == "release":
                current.status, current.next_attempt_at = "pending", next_at
                continue
            current.status = verdict
            current.attempt_count += 1
            current.attempts = [*current.attempts, record]
            current.next_attempt_at = next_at if verdict == "pending" else None
            if retry is not None and retry.delivery_id == current.id:
                current.job_id = retry.job_id
            if hook is not None:
                _apply_hook_change(rt, hook, verdict, record)
        if hook is not None:
            batch.hook.status = hook.status
    log.info("hook.batch", extra={"hook_id": batch.hook.id, "deliveries": len(results),
                                  "retry": retry.delivery_id if retry else None})


def _apply_hook_change(rt: Runtime, hook: Hook, verdict: str, record: dict[str, Any]) -> None:
    status = record.get("status")
    if verdict == "succeeded":
        hook.consecutive_failures = 0
        return
    if status == 410 and hook.status == "active":
        hook.status, hook.status_detail = "deleted", (
            "the target answered 410 Gone: the subscription removed itself")
        return
    if "refused" in record and hook.status == "active":
        hook.status, hook.status_detail = "disabled", (
            f"the target URL is not allowed: {record['refused']}")
        return
    hook.consecutive_failures += 1
    if hook.status != "active":
        return
    if verdict == "failed":
        hook.status, hook.status_detail = "disabled", (
            f"a delivery failed {record.get('n')} times; last: "
            f"{status or record.get('error')}")
    elif hook.consecutive_failures >= rt.settings.hook_disable_after_failures:
        hook.status, hook.status_detail = "disabled", (
            f"{hook.consecutive_failures} delivery attempts failed in a row; last: "
            f"{status or record.get('error')}")
