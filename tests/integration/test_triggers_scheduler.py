"""Scheduled polls: two scheduler processes running at once fire each poll once per interval."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest
from rq import Queue

from connector.app import create_app
from connector.config import Settings
from connector.queueing import QUEUE_SYNC
from connector.runtime import Runtime
from connector.scheduler import Entry
from connector.store.trigger_models import TriggerState
from connector.trigger_schedule import trigger_entries
from tests.conftest import make_connection
from tests.support.triggers import Receiver, subscribe, wait_until
from tests.support.worker import ROOT, drain, settings_env

RUN_S = 6.0


def scheduler(settings: Settings) -> subprocess.Popen[bytes]:
    env = settings_env(settings)
    env["WA_TRIGGER_POLL_MIN_INTERVAL_S"] = "1"
    return subprocess.Popen([sys.executable, "-m", "connector.cli", "scheduler"], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_entries_cover_each_polled_trigger_with_its_shortest_interval(
        rt: Runtime, settings: Settings, workspace: dict[str, Any],
        tenant: dict[str, Any]) -> None:
    app = create_app(settings.with_overrides(trigger_poll_min_interval_s=1))
    client = app.test_client()
    receiver = Receiver()
    try:
        connection = make_connection(client, workspace, tenant)
        subscribe(client, workspace, connection, "new_contact", receiver, interval_s=30)
        subscribe(client, workspace, connection, "new_contact", receiver, interval_s=5)
        subscribe(client, workspace, connection, "inbound_message", receiver)
        client.get(f"/v1/connections/{connection['id']}/triggers/new_group/items",
                   headers=workspace["headers"])
        rt.settings = rt.settings.with_overrides(trigger_poll_min_interval_s=1)
        polls = {e.args: e.interval_s for e in trigger_entries(rt)
                 if e.func == "connector.jobs.poll_trigger"}
        assert polls == {(connection["id"], "new_contact"): 5.0,
                         (connection["id"], "new_group"): 60.0}
        assert Entry("connector.jobs.sweep_hook_deliveries", rt.settings.sweep_interval_s,
                     "maintenance") in trigger_entries(rt)
    finally:
        receiver.close()
        app.extensions["wa_runtime"].close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_two_schedulers_fire_each_poll_once_per_interval(
        rt: Runtime, settings: Settings, workspace: dict[str, Any],
        tenant: dict[str, Any]) -> None:
    """Schedulers only enqueue: with no worker running, the sync queue holds exactly what they
    fired. A tick fired twice would put its job id in the queue twice."""
    app = create_app(settings.with_overrides(trigger_poll_min_interval_s=1))
    rt.settings = rt.settings.with_overrides(trigger_poll_min_interval_s=1)
    client = app.test_client()
    receiver = Receiver()
    procs = []
    try:
        connection = make_connection(client, workspace, tenant)
        subscribe(client, workspace, connection, "new_contact", receiver, interval_s=1)
        sync = Queue(QUEUE_SYNC, connection=rt.redis)
        started = time.monotonic()
        procs = [scheduler(settings), scheduler(settings)]
        wait_until(lambda: sync.count > 0, 60, "a first scheduled poll")  # start-up is slow
        time.sleep(RUN_S)
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        elapsed = time.monotonic() - started
        job_ids = sync.job_ids
        assert len(job_ids) == len(set(job_ids))
        assert RUN_S - 1 <= len(job_ids) <= elapsed + 1
        drain(rt, (QUEUE_SYNC,))
        with rt.db.session() as session:
            state = session.get(TriggerState, (connection["id"], "new_contact"))
        assert state is not None and state.poll_count == len(job_ids)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        receiver.close()
        app.extensions["wa_runtime"].close()
