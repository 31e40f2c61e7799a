"""CRM sync (issue 5) against the HubSpot and Pipedrive emulators and a Corbital sandbox tenant,
over HTTP, with real Redis and the real database."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psutil
import pytest
import requests

from connector.scheduler import fire
from connector.services.syncs import scheduled_tick, sync_entries
from connector.store.db import Database
from connector.store.models import Run
from connector.store.sync_models import Sync
from tests.conftest import make_connection, make_tenant
from tests.support.crm import (
    create_sync,
    get_run,
    hubspot_sync,
    make_company,
    make_portal,
    portal_stats,
    put_csv,
    run_now,
    seed_contacts,
    seed_persons,
    target_for,
    tenant_contacts,
    tenant_writes,
    touch_contact,
    touch_person,
    wait_run,
)
from tests.support.tenant_api import make_contact
from tests.support.worker import ROOT, drain, settings_env, start_workers, stop_workers

SAME_MS = 1_735_000_000_123


def test_12k_contacts_in_one_millisecond_all_imported_then_only_changes_written(
        client, workspace, sandbox, rt, database_url):
    """None is lost to HubSpot's 10,000-result search cap; a second run with 1% changed writes
    exactly the changed records and nothing for the unchanged ones."""
    if "postgresql" in database_url:
        pytest.skip("12k-record import runs on SQLite only (suite time budget)")
    tenant = make_tenant(sandbox, rate_limit_max=0)
    connection = make_connection(client, workspace, tenant, rate_limit=0)
    portal = make_portal(sandbox.url)
    seed_contacts(portal, 12_000, modified_ms=SAME_MS)
    target = target_for(tenant)
    sync = hubspot_sync(client, workspace, connection, portal, target)

    first = run_now(client, workspace, rt, sync["id"])

    assert first["status"] == "succeeded", first
    assert first["report"]["created"] == 12_000
    assert first["progress"]["total"] == 12_000
    assert portal_stats(portal)["cap_errors"] == 0
    phones = {c["phone"] for c in tenant_contacts(tenant)}
    assert {f"+49151{10_000_000 + n:08d}" for n in range(1, 12_001)} <= phones

    changed = range(1, 12_001, 100)  # 120 records = 1%
    for contact_id in changed:
        touch_contact(portal, contact_id, firstname=f"Renamed{contact_id}")
    _, since = tenant_writes(tenant)

    second = run_now(client, workspace, rt, sync["id"])

    assert second["status"] == "succeeded", second
    assert second["report"]["updated"] == len(changed)
    assert second["report"]["created"] == 0
    writes, _ = tenant_writes(tenant, since)
    assert writes == len(changed) == second["requests"]["tenant_writes"]


@contextmanager
def rt_session(settings):
    db = Database(settings.resolved_database_url)
    try:
        with db.session() as session:
            yield session
    finally:
        db.dispose()


def _by_phone(tenant):
    return {c["phone"]: c for c in tenant_contacts(tenant)}


def test_phone_changed_in_the_crm_updates_the_same_contact(client, workspace, connection, tenant,
                                                           sandbox, rt):
    portal = make_portal(sandbox.url)
    seed_contacts(portal, 3, phone_base=31_000_000)
    sync = hubspot_sync(client, workspace, connection, portal, target_for(tenant))
    assert run_now(client, workspace, rt, sync["id"])["report"]["created"] == 3
    before = _by_phone(tenant)["+4915131000002"]

    touch_contact(portal, 2, phone="+49 151 31999999")
    second = run_now(client, workspace, rt, sync["id"])

    assert second["report"] | {} == {"created": 0, "updated": 1, "unchanged": 2, "rejected": 0,
                                     "failed": 0, "filtered": 0}
    after = _by_phone(tenant)
    assert len(after) == 3
    assert "+4915131000002" not in after
    assert after["+4915131999999"]["id"] == before["id"]


def test_a_contact_locked_by_a_workflow_is_waited_for_not_failed(client, workspace, connection,
                                                                 tenant, sandbox, rt,
                                                                 monkeypatch):
    """A form workflow holds a contact's lock while the sync updates the same contact: the
    sync waits for it (a throttle) and writes once the lock is free, instead of failing."""
    import threading

    from connector import runtime as runtime_module

    monkeypatch.setattr(runtime_module, "LOCK_WAIT_S", 0.2)
    portal = make_portal(sandbox.url)
    seed_contacts(portal, 1, phone_base=37_000_000)
    sync = hubspot_sync(client, workspace, connection, portal, target_for(tenant))
    assert run_now(client, workspace, rt, sync["id"])["report"]["created"] == 1
    contact_id = _by_phone(tenant)["+4915137000001"]["id"]
    touch_contact(portal, 1, firstname="Renamed")
    held, release = threading.Event(), threading.Event()

    def workflow_holding_the_lock() -> None:
        with rt.lock(f"contact:{connection['id']}:{contact_id}"):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=workflow_holding_the_lock)
    holder.start()
    assert held.wait(10)
    threading.Timer(1.0, release.set).start()  # the sync's first try finds the lock taken
    try:
        run = run_now(client, workspace, rt, sync["id"])
    finally:
        release.set()
        holder.join()
    assert run["status"] == "succeeded", run
    assert (run["report"]["updated"], run["report"]["failed"]) == (1, 0)
    assert _by_phone(tenant)["+4915137000001"]["firstname"] == "Renamed"


def test_invalid_phones_are_rejected_with_raw_value_and_reason_and_the_run_goes_on(
        client, workspace, connection, tenant, sandbox, rt):
    portal = make_portal(sandbox.url)
    seed_contacts(portal, 20, invalid_phone_every=5, phone_base=32_000_000)
    sync = hubspot_sync(client, workspace, connection, portal, target_for(tenant))

    run = run_now(client, workspace, rt, sync["id"])

    assert run["status"] == "succeeded"
    assert (run["report"]["created"], run["report"]["rejected"]) == (16, 4)
    rejected = client.get(f"/v1/syncs/{sync['id']}/rejected?run={run['id']}",
                          headers=workspace["headers"]).get_json()["items"]
    assert sorted(r["source_id"] for r in rejected) == ["10", "15", "20", "5"]
    five = next(r for r in rejected if r["source_id"] == "5")
    assert five["field"] == "phone" and five["raw_value"] == "call me 5"
    assert "only digits" in five["reason"]
    assert len(tenant_contacts(tenant)) == 16


def test_hubspot_429s_slow_the_run_down_and_it_finishes(client, workspace, connection, tenant,
                                                        sandbox, rt):
    portal = make_portal(sandbox.url, rate_limit_max=3, rate_limit_window_s=1)
    for batch in range(6):
        seed_contacts(portal, 10, modified_ms=SAME_MS + batch, phone_base=33_000_000)
    sync = hubspot_sync(client, workspace, connection, portal, target_for(tenant),
                        source={"page_size": 5})

    run = run_now(client, workspace, rt, sync["id"])

    assert run["status"] == "succeeded", run
    assert run["report"]["created"] == 60
    assert run["requests"]["source_throttled"] > 0
    assert portal_stats(portal)["throttled"] == run["requests"]["source_throttled"]


def test_worker_killed_mid_run_next_run_resumes_from_saved_state_and_skips_nothing(
        client, workspace, tenant, sandbox, settings):
    connection = make_connection(client, workspace, tenant, rate_limit=20, rate_window_s=1)
    portal = make_portal(sandbox.url)
    for batch in range(8):  # distinct timestamps, so the saved cursor really moves
        seed_contacts(portal, 10, modified_ms=SAME_MS + batch, phone_base=34_000_000)
    sync = hubspot_sync(client, workspace, connection, portal, target_for(tenant),
                        source={"page_size": 10})
    env = {**settings_env(settings), "WA_SYNC_LEASE_S": "1.5"}
    pool = subprocess.Popen([sys.executable, "worker.py", "--processes", "1",
                             "--exit-with-parent"], cwd=ROOT, env=env)
    try:
        first = client.post(f"/v1/syncs/{sync['id']}/run", headers=workspace["headers"])
        first_id = first.get_json()["id"]
        deadline = time.monotonic() + 60
        while get_run(client, workspace, sync["id"], first_id)["progress"]["written"] < 20:
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)
        for child in psutil.Process(pool.pid).children():
            child.kill()  # SIGKILL: no warm shutdown, the job dies mid-page
        killed = get_run(client, workspace, sync["id"], first_id)
        assert killed["status"] == "running"
        time.sleep(2.0)  # let the dead worker's 1.5 s lease run out (nothing to poll for)

        second = client.post(f"/v1/syncs/{sync['id']}/run", headers=workspace["headers"])
        assert second.status_code == 202, second.get_json()
        done = wait_run(client, workspace, sync["id"], second.get_json()["id"])
    finally:
        stop_workers(pool)

    assert done["status"] == "succeeded", done
    assert done["progress"]["read"] < 80  # resumed, not started over
    assert get_run(client, workspace, sync["id"], first_id)["status"] == "failed"
    phones = [c["phone"] for c in tenant_contacts(tenant)]
    assert len(phones) == len(set(phones)) == 80
    assert set(phones) == {f"+49151{34_000_000 + n:08d}" for n in range(1, 81)}


def test_two_schedulers_fire_one_run_per_tick_and_busy_or_missed_ticks_coalesce(
        client, workspace, connection, tenant, sandbox, rt):
    portal = make_portal(sandbox.url)
    seed_contacts(portal, 5, phone_base=35_000_000)
    sync = hubspot_sync(client, workspace, connection, portal, target_for(tenant),
                        schedule={"kind": "interval", "every_s": 900})
    [entry] = [e for e in sync_entries(rt) if e.args == (sync["id"],)]

    now = time.time()
    assert fire(rt, entry, now=now) is True  # scheduler A
    assert fire(rt, entry, now=now) is False  # scheduler B, same tick
    assert fire(rt, entry, now=now + 900) is True  # next tick, while the first run is queued
    assert fire(rt, entry, now=now + 1800) is True  # and one more (missed while busy)
    drain(rt)

    runs = client.get(f"/v1/syncs/{sync['id']}/runs", headers=workspace["headers"]).get_json()
    assert [r["status"] for r in runs["items"]] == ["succeeded"]
    assert runs["items"][0]["trigger"] == "schedule"


def test_cron_schedule_coalesces_missed_fire_times(client, workspace, connection, tenant,
                                                   sandbox, rt):
    portal = make_portal(sandbox.url)
    sync = hubspot_sync(client, workspace, connection, portal, target_for(tenant),
                        schedule={"kind": "cron", "expr": "*/5 * * * *"})
    later = datetime.now(UTC) + timedelta(minutes=31)  # six fire times missed

    assert scheduled_tick(rt, sync["id"], now=later) is not None
    assert scheduled_tick(rt, sync["id"], now=later) is None
    drain(rt)
    runs = client.get(f"/v1/syncs/{sync['id']}/runs", headers=workspace["headers"]).get_json()
    assert len(runs["items"]) == 1


def test_a_manual_start_while_a_run_is_active_returns_that_run(client, workspace, connection,
                                                               tenant, sandbox, rt):
    portal = make_portal(sandbox.url)
    sync = hubspot_sync(client, workspace, connection, portal, target_for(tenant))
    first = client.post(f"/v1/syncs/{sync['id']}/run", headers=workspace["headers"])
    again = client.post(f"/v1/syncs/{sync['id']}/run", headers=workspace["headers"])
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["started"] is False
    drain(rt)


def test_pipedrive_persons_import_then_only_the_changed_person_is_written(
        client, workspace, connection, tenant, sandbox, rt):
    company = make_company(sandbox.url)
    # Seeded two seconds back: a record stamped in the second the run starts is the next run's.
    seed_persons(company, 25, phone_base=36_000_000, updated_s=int(time.time()) - 2)
    sync = create_sync(client, workspace, {
        "name": "pd", "connection_id": connection["id"], "target": target_for(tenant),
        "source": {"kind": "pipedrive", "token": company["token"],
                   "base_url": company["base_url"], "page_size": 10}})

    first = run_now(client, workspace, rt, sync["id"])
    # One second back: Pipedrive times have whole seconds and `updated_until` (the run's start)
    # is exclusive, so a change in the very second a run starts belongs to the next run.
    touch_person(company, 7, first_name="Changed", updated_s=int(time.time()) - 1)
    second = run_now(client, workspace, rt, sync["id"])

    assert first["report"]["created"] == 25 and first["requests"]["source"] == 3
    # The lookback re-reads the persons seeded a moment ago; only the changed one is written.
    assert (second["report"]["updated"], second["report"]["unchanged"]) == (1, 24)
    assert second["requests"]["tenant_writes"] == 1
    assert "+4915136000007" in _by_phone(tenant)


def test_rest_json_source_with_header_auth_cursor_paging_and_updated_since(
        client, workspace, connection, tenant, sandbox, rt):
    company = make_company(sandbox.url)
    seed_persons(company, 12, phone_base=37_000_000)
    sync = create_sync(client, workspace, {
        "name": "rest", "connection_id": connection["id"], "target": target_for(tenant),
        "source": {"kind": "rest_json", "url": f"{company['base_url']}/api/v2/persons",
                   "auth": {"kind": "header", "name": "x-api-token", "token": company["token"]},
                   "query": {"sort_by": "update_time"}, "records_path": "data",
                   "id_field": "id", "cursor_field": "update_time",
                   "cursor_param": "updated_since", "page_size": 5,
                   "pagination": {"kind": "cursor", "path": "additional_data.next_cursor",
                                  "param": "cursor", "size_param": "limit"}},
        "mapping": [{"to": "phone", "from": "phones[primary=true].value"},
                    {"to": "first_name", "from": "name", "transform": ["first_word"]},
                    {"to": "last_name", "from": "name", "transform": ["rest_words"]}]})

    run = run_now(client, workspace, rt, sync["id"])

    assert run["status"] == "succeeded", run
    assert run["report"]["created"] == 12 and run["requests"]["source"] == 3
    state = client.get(f"/v1/syncs/{sync['id']}", headers=workspace["headers"]).get_json()
    assert state["state"]["cursor"]  # the next run asks for updated_since=<cursor - lookback>


def test_csv_upload_then_csv_url_rows_hash_skipped_on_rerun(client, workspace, connection,
                                                             tenant, sandbox, rt):
    rows = "Phone;First;Last\n+49 151 38000001;Ana;Souza\n0151 38000002;Ben;Okafor\nn/a;X;Y\n"
    mapping = [{"to": "phone", "from": "Phone"}, {"to": "first_name", "from": "First"},
               {"to": "last_name", "from": "Last"}]
    target = {**target_for(tenant), "default_region": "DE"}
    upload = create_sync(client, workspace, {
        "name": "csv-up", "connection_id": connection["id"], "target": target,
        "source": {"kind": "csv", "delimiter": ";"}, "mapping": mapping})
    put = client.put(f"/v1/syncs/{upload['id']}/file", data=rows,
                     headers={**workspace["headers"], "Content-Type": "text/csv"})
    assert put.status_code == 200, put.get_json()

    first = run_now(client, workspace, rt, upload["id"])
    again = run_now(client, workspace, rt, upload["id"])

    assert (first["report"]["created"], first["report"]["rejected"]) == (2, 1)
    assert (again["report"]["unchanged"], again["requests"]["tenant_writes"]) == (2, 0)
    url = put_csv(sandbox.url, "leads.csv", rows.replace("Ana", "Anna"))
    by_url = create_sync(client, workspace, {
        "name": "csv-url", "connection_id": connection["id"], "target": target,
        "source": {"kind": "csv", "url": url, "delimiter": ";"}, "mapping": mapping})
    third = run_now(client, workspace, rt, by_url["id"])
    assert third["status"] == "succeeded", third
    assert (third["report"]["updated"], third["report"]["rejected"]) == (2, 1)
    assert _by_phone(tenant)["+4915138000001"]["firstname"] == "Anna"


def test_definitions_are_validated_and_credentials_never_returned(client, workspace, connection,
                                                                  rt):
    bad = client.post("/v1/syncs", headers=workspace["headers"], json={
        "name": "bad", "connection_id": connection["id"], "target": {"status_id": "1"},
        "source": {"kind": "hubspot"}, "schedule": {"kind": "cron", "expr": "61 * * * *"}})
    assert bad.status_code == 422
    pointers = {e["pointer"] for e in bad.get_json()["errors"]}
    assert {"/source/token", "/target/source_id"} <= pointers

    good = {"name": "ok", "connection_id": connection["id"],
            "target": {"status_id": "1", "source_id": "1"},
            "source": {"kind": "hubspot", "token": "pat-secret-value-123"}}
    created = client.post("/v1/syncs", headers=workspace["headers"], json=good)
    assert created.status_code == 201
    assert "pat-secret-value-123" not in created.get_data(as_text=True)
    shown = client.get(f"/v1/syncs/{created.get_json()['id']}", headers=workspace["headers"])
    assert "pat-secret-value-123" not in shown.get_data(as_text=True)
    assert shown.get_json()["credentials"] == "stored"
    with rt.db.session() as session:
        row = session.get(Sync, created.get_json()["id"])
        assert "pat-secret-value-123" not in (row.credentials_encrypted or "")
        assert "pat-secret" not in str(row.definition)
    dup = client.post("/v1/syncs", headers=workspace["headers"], json=good)
    assert dup.status_code == 409


def test_cli_sync_run_by_name_shows_progress_and_reports(client, workspace, connection, tenant,
                                                         sandbox, settings):
    portal = make_portal(sandbox.url)
    seed_contacts(portal, 40, phone_base=39_000_000)
    sync = hubspot_sync(client, workspace, connection, portal, target_for(tenant),
                        source={"page_size": 10})

    done = subprocess.run([sys.executable, "-m", "connector.cli", "sync", "run", sync["name"],
                           "--json"], cwd=ROOT, env=settings_env(settings),
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert f"sync {sync['name']}" in done.stderr  # the progress bar's label
    run = json.loads(done.stdout)
    assert run["trigger"] == "cli" and run["report"]["created"] == 40


def test_a_sync_leaves_the_connection_room_for_interactive_sends(client, workspace, sandbox,
                                                                 settings, database_url):
    """The sync takes at most half of the connection's rate limit (Settings.sync_rate_share),
    so an action on the same connection gets a slot at once and the tenant never says 429."""
    if "postgresql" in database_url:
        pytest.skip("rate sharing lives in Redis; one database suffices (suite time budget)")
    tenant = make_tenant(sandbox, rate_limit_max=20, rate_limit_decay_s=1)
    connection = make_connection(client, workspace, tenant, rate_limit=20, rate_window_s=1)
    portal = make_portal(sandbox.url)
    seed_contacts(portal, 30, phone_base=40_000_000)
    sync = hubspot_sync(client, workspace, connection, portal, target_for(tenant),
                        source={"page_size": 10})
    pool = start_workers(settings, processes=2)
    try:
        run_id = client.post(f"/v1/syncs/{sync['id']}/run",
                             headers=workspace["headers"]).get_json()["id"]
        deadline = time.monotonic() + 60
        while get_run(client, workspace, sync["id"], run_id)["progress"]["written"] < 5:
            assert time.monotonic() < deadline, "the sync made no progress"
            time.sleep(0.05)
        action = client.post(f"/v1/connections/{connection['id']}/actions/list_groups",
                             json={}, headers={**workspace["headers"], "Prefer": "wait=20"})
        done = wait_run(client, workspace, sync["id"], run_id)
    finally:
        stop_workers(pool)

    assert action.status_code == 200, action.get_json()
    assert action.get_json()["status"] == "succeeded"
    with rt_session(settings) as session:
        assert session.get(Run, action.get_json()["id"]).throttle_count == 0
    assert done["status"] == "succeeded" and done["report"]["created"] == 30
    stats = requests.get(f"{tenant['sandbox']}/_admin/tenants/{tenant['slug']}/stats",
                         timeout=10).json()
    assert stats["throttled"] == 0


def test_a_phone_already_in_the_tenant_is_updated_not_duplicated_and_put_in_the_group(
        client, workspace, connection, tenant, sandbox, rt):
    existing = make_contact(tenant, phone="+4915141000001", firstname="Old")
    portal = make_portal(sandbox.url)
    seed_contacts(portal, 2, phone_base=41_000_000)
    target = target_for(tenant)
    sync = hubspot_sync(client, workspace, connection, portal, target)

    run = run_now(client, workspace, rt, sync["id"])

    rejected = client.get(f"/v1/syncs/{sync['id']}/rejected", headers=workspace["headers"])
    assert (run["report"]["created"], run["report"]["updated"]) == (1, 1), rejected.get_json()
    contacts = _by_phone(tenant)
    assert len(contacts) == 2
    merged = contacts["+4915141000001"]
    assert merged["id"] == existing["id"] and merged["firstname"] == "First1"
    assert int(target["group_id"]) in [int(g) for g in merged["group_id"]]
