"""REST hooks: subscribe (SSRF-checked, secret shown once), unsubscribe, deliveries, redeliver,
and the outbox sweep that re-enqueues deliveries whose job or worker is gone."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from connector.engine.delivery import release_hook_lock
from connector.errors import Conflict, NotFound, ValidationFailed
from connector.ids import new_id
from connector.queueing import enqueue_delivery
from connector.redis_keys import worker_heartbeat_key
from connector.runtime import Runtime
from connector.ssrf import SsrfGuard, UnsafeUrl
from connector.store.connections import get_connection
from connector.store.paging import newest_first
from connector.store.trigger_models import Hook, HookDelivery
from connector.webhook_signing import generate_webhook_secret

log = logging.getLogger(__name__)

OUTBOX_GRACE_S = 30.0
"""A due delivery gets this long to have its job run before the sweep re-enqueues it."""

SUBSCRIBE_FIELDS = frozenset({"connection", "trigger", "target_url", "filter", "interval_s"})


def _bad(pointer: str, message: str, detail: str | None = None) -> ValidationFailed:
    return ValidationFailed(detail or message, errors=[{"pointer": pointer, "message": message}])


def subscribe(rt: Runtime, workspace_id: str, body: dict[str, Any]) -> tuple[Hook, str]:
    """Create a hook; returns it and its signing secret (shown to the caller this once)."""
    unknown = sorted(set(body) - SUBSCRIBE_FIELDS)
    if unknown:
        raise _bad(f"/{unknown[0]}", f"unknown field {unknown[0]!r}")
    for name in ("connection", "trigger", "target_url"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise _bad(f"/{name}", f"'{name}' is required (a string)")
    definition = rt.catalog.triggers.get(body["trigger"])
    if definition is None:
        raise _bad("/trigger", f"no trigger {body['trigger']!r}; GET /v1/catalog/triggers")
    filter_ = body.get("filter")
    if filter_ is not None and not isinstance(filter_, dict):
        raise _bad("/filter", "filter must be an object of {field: value or [values]}")
    interval = body.get("interval_s", rt.settings.trigger_poll_default_interval_s)
    if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
        raise _bad("/interval_s", "interval_s must be a positive integer (seconds)")
    interval = max(interval, rt.settings.trigger_poll_min_interval_s)
    try:
        SsrfGuard(rt.settings.ssrf_allow_networks).check_url(body["target_url"])
    except UnsafeUrl as refused:
        raise _bad("/target_url", refused.message,
                   f"the target URL can't be used: {refused.message}") from None
    with rt.db.session() as session:
        connection = get_connection(session, workspace_id, body["connection"])
        if connection is None:
            raise _bad("/connection", f"no connection {body['connection']!r} in this workspace")
        entry = definition.provider(connection.provider)
        if entry is None:
            raise _bad("/trigger", f"{definition.key!r} is not available on "
                       f"{connection.provider!r}")
        missing = sorted(set(entry.abilities) - set(connection.abilities))
        if missing:
            raise _bad("/trigger", f"the connection's token lacks {missing[0]!r}")
        secret = generate_webhook_secret()
        hook = Hook(id=new_id("hook"), workspace_id=workspace_id, connection_id=connection.id,
                    trigger_key=definition.key, target_url=body["target_url"],
                    secret_encrypted=rt.cipher.encrypt(secret), filter=filter_,
                    interval_s=interval, status="active", consecutive_failures=0)
        session.add(hook)
    return hook, secret


def get_hook(rt: Runtime, workspace_id: str, hook_id: str) -> Hook:
    with rt.db.session() as session:
        hook = session.get(Hook, hook_id)
    if hook is None or hook.workspace_id != workspace_id or hook.status == "deleted":
        raise NotFound(f"no hook {hook_id!r} in this workspace")
    return hook


def unsubscribe(rt: Runtime, workspace_id: str, hook_id: str) -> None:
    get_hook(rt, workspace_id, hook_id)
    with rt.db.session() as session:
        session.execute(update(Hook).where(Hook.id == hook_id).values(
            status="deleted", status_detail="unsubscribed with DELETE /v1/hooks/{id}"))
        session.execute(update(HookDelivery).where(
            HookDelivery.hook_id == hook_id, HookDelivery.status == "pending").values(
            status="failed"))


def hook_view(hook: Hook, secret: str | None = None) -> dict[str, Any]:
    view = {"id": hook.id, "connection": hook.connection_id, "trigger": hook.trigger_key,
            "target_url": hook.target_url, "filter": hook.filter, "interval_s": hook.interval_s,
            "status": hook.status, "status_detail": hook.status_detail,
            "created_at": hook.created_at.isoformat() if hook.created_at else None}
    if secret is not None:
        view["secret"] = secret
    return view


def list_deliveries(rt: Runtime, workspace_id: str, hook_id: str, *, limit: int,
                    cursor: str | None) -> list[HookDelivery]:
    get_hook(rt, workspace_id, hook_id)
    query = select(HookDelivery).where(HookDelivery.hook_id == hook_id)
    with rt.db.session() as session:
        return newest_first(session, query, HookDelivery.id, cursor=cursor,
                            limit=limit)


def delivery_view(delivery: HookDelivery) -> dict[str, Any]:
    return {"id": delivery.id, "hook_id": delivery.hook_id, "item_id": delivery.item_id,
            "webhook_id": delivery.item_id, "status": delivery.status,
            "attempt_count": delivery.attempt_count, "attempts": delivery.attempts,
            "next_attempt_at": (delivery.next_attempt_at.isoformat()
                                if delivery.next_attempt_at else None),
            "created_at": delivery.created_at.isoformat() if delivery.created_at else None}


def redeliver(rt: Runtime, workspace_id: str, hook_id: str, delivery_id: str) -> HookDelivery:
    """Send a delivery again (same `webhook-id`); a disabled hook is re-activated by it."""
    hook = get_hook(rt, workspace_id, hook_id)
    with rt.db.session() as session:
        delivery = session.get(HookDelivery, delivery_id, with_for_update=True)
        if delivery is None or delivery.hook_id != hook.id:
            raise NotFound(f"no delivery {delivery_id!r} for hook {hook_id!r}")
        if delivery.status in ("pending", "delivering"):
            raise Conflict(f"delivery {delivery_id!r} is {delivery.status} already")
        delivery.status, delivery.next_attempt_at = "pending", None
        delivery.job_id = f"{delivery.id}-r{delivery.attempt_count + 1}"
        if hook.status == "disabled":
            session.execute(update(Hook).where(Hook.id == hook.id).values(
                status="active", status_detail=None, consecutive_failures=0))
    enqueue_delivery(rt, delivery.id, delivery.job_id)
    return delivery


def enqueue_deliveries(rt: Runtime, delivery_ids: list[str]) -> None:
    """Enqueue new deliveries after their rows committed (outbox)."""
    try:
        for delivery_id in delivery_ids:
            enqueue_delivery(rt, delivery_id, delivery_id)
    except Exception:  # noqa: BLE001 - Redis down: rows are durable, the sweep enqueues them
        log.warning("hooks.enqueue_deferred", extra={"count": len(delivery_ids)}, exc_info=True)


def sweep_deliveries(rt: Runtime, *, job_exists: Callable[[str], bool],
                     enqueue: Callable[[HookDelivery], None], now: datetime | None = None,
                     grace_s: float = OUTBOX_GRACE_S) -> dict[str, int]:
    """Hand deliveries of dead workers back (`delivering` without a heartbeat -> pending) and
    enqueue due pending deliveries that have no live job (Redis lost, enqueue failed)."""
    now = now or datetime.now(UTC)
    reclaimed = reenqueued = 0
    with rt.db.session() as session:
        delivering = list(session.scalars(select(HookDelivery).where(
            HookDelivery.status == "delivering")))
    for delivery in delivering:
        if delivery.worker_id and rt.redis.exists(worker_heartbeat_key(delivery.worker_id)):
            continue
        with rt.db.session() as session:
            moved = session.execute(update(HookDelivery).where(
                HookDelivery.id == delivery.id, HookDelivery.status == "delivering",
                HookDelivery.attempt_count == delivery.attempt_count).values(
                status="pending", next_attempt_at=None,
                job_id=f"{delivery.id}-s{delivery.attempt_count + 1}",
                attempts=[*delivery.attempts, {
                    "n": delivery.attempt_count, "worker_id": delivery.worker_id,
                    "at": now.isoformat(), "error": "the worker died during the attempt"}]))
        if moved.rowcount == 1:  # type: ignore[attr-defined]
            delivery.job_id = f"{delivery.id}-s{delivery.attempt_count + 1}"
            if delivery.worker_id:
                release_hook_lock(rt, delivery.hook_id, delivery.worker_id)
            enqueue(delivery)
            reclaimed += 1
    cutoff = now - timedelta(seconds=grace_s)
    with rt.db.session() as session:
        due = list(session.scalars(select(HookDelivery).where(
            HookDelivery.status == "pending",
            or_(HookDelivery.next_attempt_at.is_(None), HookDelivery.next_attempt_at <= cutoff),
            HookDelivery.created_at <= cutoff).limit(1000)))
    checked: set[str] = set()
    for delivery in due:
        job_id = delivery.job_id or delivery.id
        if job_id in checked:
            continue  # deliveries of one batch share their hook's job
        checked.add(job_id)
        if not job_exists(job_id):
            delivery.job_id = job_id
            enqueue(delivery)
            reenqueued += 1
    if reclaimed or reenqueued:
        log.info("hooks.sweep", extra={"reclaimed": reclaimed, "reenqueued": reenqueued})
    return {"reclaimed": reclaimed, "reenqueued": reenqueued}
