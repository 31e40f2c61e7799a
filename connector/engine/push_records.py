"""What parsed provider events write, inside the caller's transaction: trigger items, message
statuses folded into the message's record and shown on the run that sent it, and each contact's
last inbound time.

One path for everything pushed to the platform webhook URL and everything read from a
provider's event feed, so both give the same items (services/platform.py, engine/feed_poller.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connector.catalog import TriggerDefinition
from connector.engine.platform_payloads import Parsed, StatusEvent, rank
from connector.store.activity import record_inbound
from connector.store.models import Run
from connector.store.trigger_items import Recorded, record_items
from connector.store.trigger_models import MessageDelivery

STATUS_TRIGGER = "message_status_changed"
"""The trigger whose items carry `run_id`: the run that sent the message, when known."""


def record_parsed(session: Session, triggers: Mapping[str, TriggerDefinition], *,
                  workspace_id: str, connection_id: str, parsed: Parsed,
                  only: str | None = None) -> Recorded:
    """Apply `parsed`: statuses first (so status items name their run), then the items of every
    trigger (or of `only`), then inbound times. Repeats are skipped at every step."""
    for event in parsed.statuses:
        run_id = apply_status(session, connection_id, event)
        if run_id:
            for dedupe, data in parsed.items.get(STATUS_TRIGGER, []):
                if dedupe == event.dedupe:
                    data["run_id"] = run_id
    total = Recorded()
    for trigger_key, items in parsed.items.items():
        if only is not None and trigger_key != only:
            continue
        recorded = record_items(session, workspace_id=workspace_id, connection_id=connection_id,
                                trigger_key=trigger_key, event=triggers[trigger_key].event,
                                items=items)
        total.items.extend(recorded.items)
        total.delivery_ids.extend(recorded.delivery_ids)
        total.duplicates += recorded.duplicates
    for phone, at in parsed.inbound:
        record_inbound(session, connection_id=connection_id, phone_e164=phone, at=at)
    return total


def apply_status(session: Session, connection_id: str, event: StatusEvent) -> str | None:
    """Fold one status into the message's record; a repeat (same message + status) is ignored.
    Returns the run that sent the message, when known."""
    delivery = session.get(MessageDelivery, (connection_id, event.message_id),
                           with_for_update=True)
    entry = {"status": event.status, "at": event.at.isoformat(), "error": event.error}
    if delivery is None:
        delivery = MessageDelivery(connection_id=connection_id, message_id=event.message_id,
                                   status=event.status, error=event.error, history=[entry])
        session.add(delivery)
    elif any(h["status"] == event.status for h in delivery.history):
        return delivery.run_id
    else:
        delivery.history = [*delivery.history, entry]
        if rank(event.status) > rank(delivery.status):
            delivery.status, delivery.error = event.status, event.error
    if delivery.run_id is None:
        delivery.run_id = find_run(session, connection_id, event.message_id)
    if delivery.run_id:
        show_on_run(session, delivery)
    return delivery.run_id


def find_run(session: Session, connection_id: str, message_id: str) -> str | None:
    # Runs keep the message id in their output (send_result); filtered by connection first.
    found: str | None = session.scalar(select(Run.id).where(
        Run.connection_id == connection_id,
        Run.output["message_id"].as_string() == message_id).limit(1))
    return found


def _summary(status: str, error: dict[str, Any] | None) -> str:
    if status == "failed" and error:
        return f"failed ({error.get('code')}: {error.get('title')})"
    return status


def show_on_run(session: Session, delivery: MessageDelivery) -> None:
    history = sorted(delivery.history, key=lambda h: (h["at"], rank(h["status"])))
    session.execute(update(Run).where(Run.id == delivery.run_id).values(delivery={
        "message_id": delivery.message_id, "status": delivery.status,
        "summary": _summary(delivery.status, delivery.error), "error": delivery.error,
        "history": history}))
