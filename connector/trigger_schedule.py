"""Scheduler entries for triggers: one poll per (connection, poll trigger) that has a consumer
(an active REST hook, or a feed read recently), plus the hook-delivery sweep.

`scheduler.fire` claims each tick once across scheduler processes; the poll job itself takes a
per-(connection, trigger) Redis lock, so a slow poll and the next tick never overlap.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from connector.queueing import QUEUE_MAINTENANCE, QUEUE_SYNC
from connector.runtime import Runtime
from connector.scheduler import Entry
from connector.store.trigger_models import Hook, TriggerState


def trigger_entries(rt: Runtime) -> list[Entry]:
    settings = rt.settings
    poll_keys = {k for k, d in rt.catalog.triggers.items() if d.kind == "poll"}
    intervals: dict[tuple[str, str], int] = {}
    since = datetime.now(UTC) - timedelta(seconds=settings.trigger_feed_active_s)
    with rt.db.session() as session:
        for connection_id, trigger_key, interval in session.execute(
                select(Hook.connection_id, Hook.trigger_key, Hook.interval_s).where(
                    Hook.status == "active")):
            key = (connection_id, trigger_key)
            intervals[key] = min(interval, intervals.get(key, interval))
        for connection_id, trigger_key in session.execute(
                select(TriggerState.connection_id, TriggerState.trigger_key).where(
                    TriggerState.feed_read_at >= since)):
            intervals.setdefault((connection_id, trigger_key),
                                 settings.trigger_poll_default_interval_s)
    entries = [Entry("connector.jobs.poll_trigger",
                     float(max(interval, settings.trigger_poll_min_interval_s)), QUEUE_SYNC,
                     (connection_id, trigger_key))
               for (connection_id, trigger_key), interval in sorted(intervals.items())
               if trigger_key in poll_keys]
    entries.append(Entry("connector.jobs.sweep_hook_deliveries", settings.sweep_interval_s,
                         QUEUE_MAINTENANCE))
    return entries
