"""Trigger items and their outbox: recording new items with one delivery per matching hook.

`record_items` runs inside the caller's transaction (the poll's cursor move, or the platform
webhook's ingestion), so items, deliveries and cursor commit or roll back together.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.ids import _base36
from connector.store.paging import newest_first
from connector.store.trigger_models import Hook, HookDelivery, TriggerItem

SEQ_WIDTH = 4
"""Base-36 digits of the position inside one batch: 1.6 million items per millisecond."""


def sequential_ids(prefix: str, count: int) -> list[str]:
    """`count` prefixed ids that sort in the order given (millisecond, position, randomness)."""
    millis = _base36(int(time.time() * 1000), 9)
    return [f"{prefix}_{millis}{_base36(i, SEQ_WIDTH)}{_base36(secrets.randbits(40), 8)}"
            for i in range(count)]


@dataclass
class Recorded:
    items: list[TriggerItem] = field(default_factory=list)
    delivery_ids: list[str] = field(default_factory=list)  # one per hook: its job's id
    duplicates: int = 0


def matches(filter_: Mapping[str, Any] | None, data: Mapping[str, Any]) -> bool:
    """A hook filter is `{field: value or [values]}` over the item's data; all must match."""
    for name, wanted in (filter_ or {}).items():
        value = data.get(name)
        if isinstance(wanted, list):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


def record_items(session: Session, *, workspace_id: str, connection_id: str, trigger_key: str,
                 event: str, items: Sequence[tuple[str, dict[str, Any]]]) -> Recorded:
    """Insert the `(dedupe value, data)` pairs not seen before, in the order given, with a
    pending delivery for every active hook whose filter matches. Seen ones are skipped."""
    result = Recorded()
    if not items:
        return result
    values = [value for value, _ in items]
    existing: set[str] = set()
    for chunk in _chunks(values, 500):
        existing.update(session.scalars(select(TriggerItem.dedupe_value).where(
            TriggerItem.connection_id == connection_id, TriggerItem.trigger_key == trigger_key,
            TriggerItem.dedupe_value.in_(chunk))))
    fresh: list[tuple[str, dict[str, Any]]] = []
    for value, data in items:
        if value in existing:
            result.duplicates += 1
            continue
        existing.add(value)
        fresh.append((value, data))
    if not fresh:
        return result
    hooks = list(session.scalars(select(Hook).where(
        Hook.connection_id == connection_id, Hook.trigger_key == trigger_key,
        Hook.status == "active")))
    item_ids = sequential_ids("tri", len(fresh))
    for item_id, (value, data) in zip(item_ids, fresh, strict=True):
        item = TriggerItem(id=item_id, workspace_id=workspace_id, connection_id=connection_id,
                           trigger_key=trigger_key, event=event, dedupe_value=value, data=data)
        result.items.append(item)
    session.add_all(result.items)
    deliveries = []
    for hook in hooks:
        chosen = [item for item in result.items if matches(hook.filter, item.data)]
        ids = sequential_ids("dlv", len(chosen))
        # One RQ job per hook and batch: it drains the hook, these deliveries in item order.
        # Every delivery names that job, so the sweep can tell when it is gone.
        for delivery_id, item in zip(ids, chosen, strict=True):
            deliveries.append(HookDelivery(id=delivery_id, hook_id=hook.id, item_id=item.id,
                                           status="pending", attempts=[], job_id=ids[0]))
        if ids:
            result.delivery_ids.append(ids[0])
    session.flush()  # items before deliveries: PostgreSQL checks the foreign key per statement
    session.add_all(deliveries)
    return result


def _chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def item_view(item: TriggerItem) -> dict[str, Any]:
    """An item as the feed lists it and a REST hook receives it."""
    return {
        "id": item.id,
        "event": item.event,
        "trigger": item.trigger_key,
        "connection_id": item.connection_id,
        "created_at": item.created_at.isoformat() if item.created_at else None,
        "data": item.data,
    }


def list_items(session: Session, connection_id: str, trigger_key: str, *, limit: int,
               cursor: str | None) -> list[TriggerItem]:
    query = select(TriggerItem).where(TriggerItem.connection_id == connection_id,
                                      TriggerItem.trigger_key == trigger_key)
    return newest_first(session, query, TriggerItem.id, cursor=cursor,
                        limit=limit)
