"""One poll of one (connection, poll trigger): provider list calls through the rate governor,
then items, deliveries and the cursor in one transaction.

The caller (`jobs.poll_trigger`) holds a Redis lock so two polls of the same pair don't run at
once; the cursor's `version` is the fence behind it: a poll whose lock expired mid-way finds the
version moved and commits nothing (its items are recorded by the poll that moved it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from connector.catalog import TriggerDefinition
from connector.engine.context import call_context
from connector.engine.governor import GovernorWait
from connector.engine.outcome import Outcome
from connector.engine.polling import Cursor, Record, scan_changes, scan_new
from connector.runtime import Runtime
from connector.store.models import Connection
from connector.store.trigger_items import record_items
from connector.store.trigger_models import TriggerItem, TriggerState

log = logging.getLogger(__name__)

CHANGE_KEY = "change_id"
"""A poll trigger whose dedupe_key is `change_id` reports changes (content hashes, full scan);
any other reports new records (cursor)."""

FULL_SCAN_PAGE_SIZE = 500


class PollFailed(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


@dataclass
class PollResult:
    status: str  # ok | baseline | throttled | failed | fenced | inactive
    new_items: int = 0
    requests: int = 0
    pages: int = 0
    gap: bool = False
    message: str = ""
    items: list[TriggerItem] = field(default_factory=list)
    delivery_ids: list[str] = field(default_factory=list)


def _shape(definition: TriggerDefinition, record: Record) -> dict[str, Any]:
    """The record's fields that the trigger's item schema declares."""
    names = definition.item_schema.get("properties", {})
    return {name: record[name] for name in names if name in record}


def load_state(rt: Runtime, connection_id: str, trigger_key: str
               ) -> tuple[Connection, int, dict[str, Any] | None] | None:
    """The connection, the poll state's version and saved cursor (a new state starts at
    version 0 with no cursor); None when the connection is gone."""
    with rt.db.session() as session:
        connection = session.get(Connection, connection_id)
        state = session.get(TriggerState, (connection_id, trigger_key))
        if connection is None:
            return None
        if state is None:
            state = TriggerState(connection_id=connection_id, trigger_key=trigger_key,
                                 version=0, poll_count=0)
            session.add(state)
            session.flush()
        return connection, state.version, state.cursor


def poll(rt: Runtime, connection_id: str, trigger_key: str) -> PollResult:
    definition = rt.catalog.triggers.get(trigger_key)
    if definition is None or definition.kind != "poll":
        return PollResult("inactive", message=f"no poll trigger {trigger_key!r}")
    loaded = load_state(rt, connection_id, trigger_key)
    if loaded is None:
        return PollResult("inactive", message="the connection is gone")
    connection, version, saved = loaded
    entry = definition.provider(connection.provider)
    if entry is None or entry.operation is None:
        return PollResult("failed", message=f"{trigger_key!r} can't be polled on "
                          f"{connection.provider}")
    missing = sorted(set(entry.abilities) - set(connection.abilities))
    if missing:
        return _finish(rt, connection, trigger_key, version, saved,
                       PollResult("failed", message=f"the token lacks {missing[0]!r}"))
    ctx = call_context(rt, connection, rt.cipher.decrypt(connection.token_encrypted))
    provider = rt.provider(connection.provider)
    changes = definition.dedupe_key == CHANGE_KEY
    size = FULL_SCAN_PAGE_SIZE if changes else rt.settings.trigger_poll_page_size
    params = {"resource": entry.resource} if entry.resource else {}

    def fetch(page: int) -> dict[str, Any]:
        outcome = provider.execute(entry.operation, params, {"page": page, "per_page": size},
                                   ctx)
        if not outcome.ok or not isinstance(outcome.output, dict):
            raise PollFailed(outcome)
        return outcome.output

    items: list[tuple[str, dict[str, Any]]] = []
    cursor: dict[str, Any] | None
    try:
        if changes:
            scan = scan_changes(fetch, (saved or {}).get("hashes") if saved else None,
                                lambda r: _shape(definition, r))
            for record, number in scan.changed:
                change_id = f"{record.get('id')}:{number}"
                items.append((change_id, {CHANGE_KEY: change_id, **_shape(definition, record)}))
            cursor, pages, baseline = {"hashes": scan.hashes}, scan.pages, scan.baseline
        else:
            found = scan_new(fetch, Cursor.from_dict(saved))
            for record in found.new:
                data = _shape(definition, record)
                items.append((str(data.get(definition.dedupe_key)), data))
            cursor, pages, baseline = found.cursor.to_dict(), found.pages, found.baseline
    except (GovernorWait, PollFailed) as stop:
        return _finish(rt, connection, trigger_key, version, saved,
                       interrupted(rt, connection.id, len(ctx.exchanges), stop))
    result = PollResult("baseline" if baseline else "ok", requests=len(ctx.exchanges),
                        pages=pages, gap=pages > 1 and not changes)
    return _finish(rt, connection, trigger_key, version, cursor, result, items=items,
                   event=definition.event)


def interrupted(rt: Runtime, connection_id: str, requests: int,
                stop: GovernorWait | PollFailed) -> PollResult:
    """The result of a poll cut short by the rate governor or a failed request; an upstream
    429 also holds the connection's other calls back for its retry_after."""
    if isinstance(stop, GovernorWait):
        return PollResult("throttled", requests=requests,
                          message=f"rate limit: {stop.wait_s:.1f} s")
    if stop.outcome.http_status == 429 and stop.outcome.retry_after_s:
        rt.governor.penalize(connection_id, stop.outcome.retry_after_s)
    return PollResult("failed", requests=requests,
                      message=f"{stop.outcome.kind.value}: {stop.outcome.message}")


def move_cursor(session: Session, connection_id: str, trigger_key: str, version: int,
                cursor: dict[str, Any] | None, result: PollResult, candidates: int) -> bool:
    """Save the cursor and the poll's summary if the state is still at `version`; otherwise
    roll back, mark `result` fenced and return False (another poll moved it first)."""
    now = datetime.now(UTC)
    summary = {"at": now.isoformat(), "status": result.status, "requests": result.requests,
               "pages": result.pages, "new_items": candidates, "message": result.message}
    values: dict[str, Any] = {"cursor": cursor, "version": TriggerState.version + 1,
                              "poll_count": TriggerState.poll_count + 1, "last_poll_at": now,
                              "last_poll": summary}
    if result.gap:
        # A poll that needed more than one page caught up a gap (downtime, a burst).
        values["last_gap"] = {"at": now.isoformat(), "pages": result.pages, "items": candidates}
    moved = session.execute(update(TriggerState).where(
        TriggerState.connection_id == connection_id,
        TriggerState.trigger_key == trigger_key,
        TriggerState.version == version).values(**values))
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        log.warning("poll.fenced", extra={"connection_id": connection_id, "trigger": trigger_key})
        session.rollback()
        result.status = "fenced"
        return False
    return True


def _finish(rt: Runtime, connection: Connection, trigger_key: str, version: int,
            cursor: dict[str, Any] | None, result: PollResult, *,
            items: list[tuple[str, dict[str, Any]]] | None = None, event: str = "") -> PollResult:
    """Move the cursor (fenced by `version`) and record the items, in one transaction."""
    with rt.db.session() as session:
        if not move_cursor(session, connection.id, trigger_key, version, cursor, result,
                           len(items or [])):
            return result
        recorded = record_items(session, workspace_id=connection.workspace_id,
                                connection_id=connection.id, trigger_key=trigger_key,
                                event=event, items=items or [])
    result.new_items = len(recorded.items)
    result.items = recorded.items
    result.delivery_ids = recorded.delivery_ids
    log.info("poll.done", extra={"connection_id": connection.id, "trigger": trigger_key,
                                 "status": result.status, "new_items": result.new_items,
                                 "requests": result.requests})
    return result
