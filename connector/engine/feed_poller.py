"""One poll of a push trigger's event feed on one connection (a `poll` source, strategy
`cursor_feed`): feed pages through the rate governor, the provider's push parser, then the
cursor, items, deliveries, statuses and inbound times in one transaction.

The events become exactly what the same events pushed to the platform webhook URL become
(`push_records.record_parsed`), so a feed item and a pushed item dedupe against each other.
Each trigger keeps its own cursor and records only its own items; message statuses and inbound
times are recorded by whichever poll reads them (both are idempotent). Locking and fencing are
the list poller's (`jobs.poll_trigger`'s lock, the state's `version`).
"""

from __future__ import annotations

import logging
from typing import Any

from connector.catalog import PollSource, TriggerDefinition
from connector.engine.context import call_context
from connector.engine.cursor_feed import FeedCursor, FeedScan, scan_feed
from connector.engine.governor import GovernorWait
from connector.engine.platform_payloads import Parsed
from connector.engine.poller import (
    PollFailed,
    PollResult,
    interrupted,
    load_state,
    move_cursor,
)
from connector.engine.provider_payloads import parser_for
from connector.engine.push_records import record_parsed
from connector.providers.base import CallContext
from connector.runtime import Runtime
from connector.store.models import Connection

log = logging.getLogger(__name__)


def poll_feed(rt: Runtime, connection_id: str, trigger_key: str) -> PollResult:
    definition = rt.catalog.triggers.get(trigger_key)
    if definition is None:
        return PollResult("inactive", message=f"no trigger {trigger_key!r}")
    loaded = load_state(rt, connection_id, trigger_key)
    if loaded is None:
        return PollResult("inactive", message="the connection is gone")
    connection, version, saved = loaded
    entry = definition.provider(connection.provider)
    source = entry.poll if entry is not None else None
    if source is None:
        return PollResult("inactive", message=f"{trigger_key!r} has no event feed on "
                          f"{connection.provider}")
    missing = sorted(set(source.abilities) - set(connection.abilities))
    if missing:
        return _commit(rt, connection, definition, version, saved,
                       PollResult("failed", message=f"the token lacks {missing[0]!r}"))
    cursor = FeedCursor.from_dict(saved)
    ctx = call_context(rt, connection, rt.cipher.decrypt(connection.token_encrypted))
    try:
        scan = _scan(rt, connection.provider, source, ctx, cursor)
    except (GovernorWait, PollFailed) as stop:
        if isinstance(stop, PollFailed) and cursor.since and stop.outcome.http_status == 400:
            # The feed no longer knows our cursor (expired, or the feed was reset): failing
            # every poll from now on helps nobody. Start again from the feed's end; whatever
            # happened since the last good poll is lost, and the poll says so.
            return _commit(rt, connection, definition, version, FeedCursor().to_dict(),
                           PollResult("baseline", requests=len(ctx.exchanges), message=(
                               "the feed refused the saved cursor "
                               f"({stop.outcome.message}); reading it again from its end, "
                               "events since the last poll may be missing")))
        return _commit(rt, connection, definition, version, saved,
                       interrupted(rt, connection.id, len(ctx.exchanges), stop))
    requests = len(ctx.exchanges)
    if cursor.baseline:
        result = PollResult("baseline", requests=requests, pages=scan.pages)
        return _commit(rt, connection, definition, version, scan.cursor.to_dict(), result)
    parsed = parser_for(connection.provider)({"data": scan.events},
                                             (connection.options or {}).get("default_region"))
    result = PollResult("ok", requests=requests, pages=scan.pages, gap=scan.pages > 1)
    return _commit(rt, connection, definition, version, scan.cursor.to_dict(), result, parsed)


def _scan(rt: Runtime, provider_name: str, source: PollSource, ctx: CallContext,
          cursor: FeedCursor) -> FeedScan:
    provider = rt.provider(provider_name)
    limit = rt.settings.trigger_poll_page_size

    def fetch(since: str | None) -> dict[str, Any]:
        outcome = provider.execute(source.operation, {}, {"since": since, "limit": limit}, ctx)
        if not outcome.ok or not isinstance(outcome.output, dict):
            raise PollFailed(outcome)
        return outcome.output

    return scan_feed(fetch, cursor, limit=limit,
                     max_pages=rt.settings.trigger_event_feed_max_pages)


def _commit(rt: Runtime, connection: Connection, definition: TriggerDefinition, version: int,
            cursor: dict[str, Any] | None, result: PollResult,
            parsed: Parsed | None = None) -> PollResult:
    """Move the cursor (fenced by `version`) and record the trigger's items, in one
    transaction."""
    candidates = len(parsed.items.get(definition.key, [])) if parsed else 0
    with rt.db.session() as session:
        if not move_cursor(session, connection.id, definition.key, version, cursor, result,
                           candidates):
            return result
        if parsed is not None:
            recorded = record_parsed(session, rt.catalog.triggers,
                                     workspace_id=connection.workspace_id,
                                     connection_id=connection.id, parsed=parsed,
                                     only=definition.key)
            result.items, result.delivery_ids = recorded.items, recorded.delivery_ids
            result.new_items = len(recorded.items)
    log.info("poll.feed_done", extra={"connection_id": connection.id, "trigger": definition.key,
                                      "status": result.status, "new_items": result.new_items,
                                      "requests": result.requests})
    return result
