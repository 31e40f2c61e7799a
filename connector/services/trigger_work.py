"""What the trigger jobs do: poll under a per-(connection, trigger) lock, drain a hook, sweep.

Enqueueing happens only after the rows it points at are committed (outbox); if Redis refuses,
the sweep finds the pending deliveries without a job and enqueues them.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from connector.engine.delivery import drain_hook
from connector.engine.feed_poller import poll_feed
from connector.engine.poller import PollResult, poll
from connector.queueing import enqueue_delivery, job_exists
from connector.redis_keys import POLL_LOCK_TTL_S, poll_fence_key, poll_lock_key
from connector.runtime import Runtime
from connector.services.hooks import enqueue_deliveries, sweep_deliveries
from connector.services.platform import link_pending_statuses
from connector.store.trigger_models import HookDelivery, TriggerItem

log = logging.getLogger(__name__)


def poll_once(rt: Runtime, connection_id: str, trigger_key: str) -> PollResult:
    """Poll unless another process is polling the same pair right now (then skip)."""
    lock = rt.redis.lock(poll_lock_key(connection_id, trigger_key), timeout=POLL_LOCK_TTL_S,
                         blocking=False)
    if not lock.acquire():
        return PollResult("skipped", message="another poll of this trigger is running")
    try:
        # The fencing token numbers each poll that held the lock (visible in logs); the
        # cursor's version check is what refuses a stale poll's commit.
        fence = int(rt.redis.incr(poll_fence_key(connection_id, trigger_key)))
        definition = rt.catalog.triggers.get(trigger_key)
        # A push trigger is polled through its provider's event feed (`poll` in its file).
        run = poll_feed if definition is not None and definition.kind == "push" else poll
        result = run(rt, connection_id, trigger_key)
        log.info("poll.fence", extra={"connection_id": connection_id, "fence": fence})
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - expired under us: the version fence already held
            log.warning("poll.lock_expired", extra={"connection_id": connection_id})
    enqueue_deliveries(rt, result.delivery_ids)
    start_workflows(rt, result.items)
    return result


def start_workflows(rt: Runtime, items: list[TriggerItem]) -> None:
    """Hand new items to workflows listening to their trigger (issue 4's hook point; it
    dedupes per workflow on the item's dedupe key, so a repeat starts nothing)."""
    if not items:
        return
    from connector.services.workflows import start_from_trigger_item

    for item in items:
        try:
            start_from_trigger_item(rt, workspace_id=item.workspace_id,
                                    trigger_key=item.trigger_key, item=item.data,
                                    connection_id=item.connection_id)
        except Exception:  # noqa: BLE001 - the item is stored; a workflow start is retried
            # by nothing yet (not outboxed): log it loudly enough to replay by hand.
            log.warning("trigger.workflow_start_failed", extra={"item_id": item.id},
                        exc_info=True)


def deliver(rt: Runtime, delivery_id: str, worker_id: str) -> int:
    with rt.db.session() as session:
        row = session.execute(select(HookDelivery.hook_id, HookDelivery.status).where(
            HookDelivery.id == delivery_id)).first()
    if row is None or row.status != "pending":
        return 0  # delivered (or being delivered) by the drain of an earlier job
    hook_id = row.hook_id
    retries = drain_hook(rt, hook_id, worker_id)
    for retry in retries:
        enqueue_delivery(rt, retry.delivery_id, retry.job_id, retry.delay_s)
    return len(retries)


def sweep(rt: Runtime, **options: Any) -> dict[str, int]:
    report = sweep_deliveries(
        rt, job_exists=lambda job_id: job_exists(rt, job_id),
        enqueue=lambda d: enqueue_delivery(rt, d.id, d.job_id or d.id), **options)
    report["linked_statuses"] = link_pending_statuses(rt)
    return report
