"""Scheduler entries for triggers: one poll per (connection, polled trigger) that has a consumer
(an active REST hook, or a feed read recently), plus the hook-delivery sweep. A trigger is
polled on a connection when it is a poll trigger, or a push trigger with an event feed (`poll`)
on the connection's provider (WBIZ `/v1/events`).

`scheduler.fire` claims each tick once across scheduler processes; the poll job itself takes a
per-(connection, trigger) Redis lock, so a slow poll and the next tick never overlap.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from connector.queueing import QUEUE_MAINTENANCE, QUEUE_SYNC
from connector.runtime import Runtime
from connector.scheduler import Entry
from connector.store.models import Connection
from connector.store.trigger_models import Hook, TriggerState


def trigger_entries(rt: Runtime) -> list[Entry]:
    settings = rt.settings
    triggers = rt.catalog.triggers
    intervals: dict[tuple[str, str], int] = {}
    providers: dict[str, str] = {}  # connection id -> provider: which triggers poll there
    since = datetime.now(UTC) - timedelta(seconds=settings.trigger_feed_active_s)
    with rt.db.session() as session:
        for connection_id, provider, trigger_key, interval in session.execute(
                select(Hook.connection_id, Connection.provider, Hook.trigger_key,
                       Hook.interval_s).join(Connection, Connection.id == Hook.connection_id)
                .where(Hook.status == "active")):
            key = (connection_id, trigger_key)
            intervals[key] = min(interval, intervals.get(key, interval))
            providers[connection_id] = provider
        for connection_id, provider, trigger_key in session.execute(
                select(TriggerState.connection_id, Connection.provider, TriggerState.trigger_key)
                .join(Connection, Connection.id == TriggerState.connection_id)
                .where(TriggerState.feed_read_at >= since)):
            intervals.setdefault((connection_id, trigger_key),
                                 settings.trigger_poll_default_interval_s)
            providers[connection_id] = provider
    entries = [Entry("connector.jobs.poll_trigger",
                     float(max(interval, settings.trigger_poll_min_interval_s)), QUEUE_SYNC,
                     (connection_id, trigger_key))
               for (connection_id, trigger_key), interval in sorted(intervals.items())
               if trigger_key in triggers
               and triggers[trigger_key].polled_on(providers[connection_id])]
    entries.append(Entry("connector.jobs.sweep_hook_deliveries", settings.sweep_interval_s,
                         QUEUE_MAINTENANCE))
    return entries
