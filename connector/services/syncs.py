"""Sync definitions and runs: validate and store (secrets encrypted), start runs, views.

A run is started at most once at a time per sync: the Redis lease (`sync/lease.py`) is taken
before the row is written, so a second start or a scheduler tick that comes while a run is
queued or going gets the active run back instead of a new one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy.exc import IntegrityError

from connector.catalog import FORMAT_CHECKER
from connector.catalog_rules import describe_all
from connector.config import ROOT
from connector.errors import Conflict, NotFound, ValidationFailed
from connector.ids import new_id
from connector.queueing import QUEUE_SYNC, enqueue_sync_run
from connector.runtime import Runtime
from connector.scheduler import Entry
from connector.store import syncs as store
from connector.store.connections import get_connection
from connector.store.sync_models import Sync, SyncReject, SyncRun, SyncUpload
from connector.sync import lease

SECRET_PATHS = (("token",), ("auth", "token"), ("auth", "password"))
CRON_CHECK_INTERVAL_S = 60.0
AUTH_NEEDS = {"bearer": ("token",), "header": ("name", "token"), "query": ("name", "token"),
              "basic": ("username", "password")}


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads((ROOT / "schemas" / "sync.schema.json").read_text())
    return Draft202012Validator(schema, format_checker=FORMAT_CHECKER)


def _secret_pointer(pointer: str) -> bool:
    return any(pointer.endswith("/" + "/".join(path)) for path in SECRET_PATHS)


def check_definition(body: dict[str, Any]) -> list[dict[str, str]]:
    """Schema errors, then the rules a schema can't say; every error, each with a pointer."""
    found = describe_all(_validator().iter_errors(body))
    errors = [{"pointer": p, "message": "is not valid (value hidden: it is a secret)"
               if _secret_pointer(p) else m} for p, m in found]
    if errors:
        return errors
    source = body["source"]
    mapping = body.get("mapping")
    if mapping is not None and not any(m["to"] == "phone" for m in mapping):
        errors.append({"pointer": "/mapping", "message": "map a source field to 'phone': "
                                                         "contacts are keyed by phone number"})
    if mapping is None and source["kind"] in ("rest_json", "csv"):
        errors.append({"pointer": "/mapping", "message": f"a {source['kind']} source has no "
                                                         "preset: give a mapping with 'phone'"})
    for index, entry in enumerate(mapping or []):
        if "from" not in entry and "value" not in entry:
            errors.append({"pointer": f"/mapping/{index}",
                           "message": "give 'from' (a source path) or 'value' (a constant)"})
    for index, rule in enumerate(body.get("filters") or []):
        if rule["op"] in ("eq", "ne", "in") and "value" not in rule:
            errors.append({"pointer": f"/filters/{index}/value",
                           "message": f"op {rule['op']!r} compares with a 'value'"})
    auth = source.get("auth") or {}
    for name in AUTH_NEEDS.get(auth.get("kind", "none"), ()):
        if not auth.get(name):
            errors.append({"pointer": f"/source/auth/{name}",
                           "message": f"auth kind {auth['kind']!r} needs {name!r}"})
    paging = source.get("pagination") or {}
    if paging.get("kind") in ("cursor", "next_url") and not paging.get("path"):
        errors.append({"pointer": "/source/pagination/path",
                       "message": f"{paging['kind']} paging needs the 'path' to the next value"})
    if source.get("cursor_param") and not source.get("cursor_field"):
        errors.append({"pointer": "/source/cursor_field",
                       "message": "cursor_param needs the record's 'cursor_field'"})
    schedule = body.get("schedule") or {}
    if schedule.get("kind") == "cron":
        try:
            _cron(schedule["expr"])
        except ValueError as exc:
            errors.append({"pointer": "/schedule/expr", "message": f"not a crontab: {exc}"})
    return errors


def _cron(expr: str) -> Any:
    from apscheduler.triggers.cron import CronTrigger

    return CronTrigger.from_crontab(expr, timezone="UTC")


def _split_secrets(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    definition = json.loads(json.dumps(body))
    secrets: dict[str, str] = {}
    for path in SECRET_PATHS:
        parent = definition["source"]
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and path[-1] in parent:
            secrets[".".join(path)] = str(parent.pop(path[-1]))
    return definition, secrets


def create_sync(rt: Runtime, workspace_id: str, body: dict[str, Any]) -> Sync:
    errors = check_definition(body)
    if errors:
        raise ValidationFailed("the sync definition is not valid", errors=errors)
    with rt.db.session() as session:
        if get_connection(session, workspace_id, body["connection_id"]) is None:
            raise ValidationFailed("the sync names an unknown connection", errors=[
                {"pointer": "/connection_id", "message": "no such connection in this workspace"}])
    definition, secrets = _split_secrets(body)
    sync = Sync(id=new_id("syn"), workspace_id=workspace_id, name=body["name"],
                connection_id=body["connection_id"], source_kind=body["source"]["kind"],
                definition=definition, enabled=body.get("enabled", True), state={},
                credentials_encrypted=rt.cipher.encrypt(json.dumps(secrets)) if secrets else None,
                schedule_mark=datetime.now(UTC))
    try:
        with rt.db.session() as session:
            session.add(sync)
    except IntegrityError:
        raise Conflict(f"a sync named {body['name']!r} already exists in this workspace",
                       errors=[{"pointer": "/name", "message": "already taken"}]) from None
    return sync


def load_sync(rt: Runtime, workspace_id: str, sync_id: str) -> Sync:
    with rt.db.session() as session:
        sync = store.get_sync(session, workspace_id, sync_id)
    if sync is None:
        raise NotFound(f"no sync {sync_id!r} in this workspace")
    return sync


def set_enabled(rt: Runtime, workspace_id: str, sync_id: str, enabled: bool) -> Sync:
    with rt.db.session() as session:
        sync = store.get_sync(session, workspace_id, sync_id)
        if sync is None:
            raise NotFound(f"no sync {sync_id!r} in this workspace")
        sync.enabled = enabled
    return sync


def upload_file(rt: Runtime, workspace_id: str, sync_id: str, content: str,
                filename: str | None) -> dict[str, Any]:
    sync = load_sync(rt, workspace_id, sync_id)
    if sync.source_kind != "csv" or sync.definition["source"].get("url"):
        raise Conflict("only a CSV sync without a url takes an uploaded file")
    with rt.db.session() as session:
        upload = session.get(SyncUpload, sync_id)
        if upload is None:
            session.add(SyncUpload(sync_id=sync_id, filename=filename, content=content))
        else:
            upload.filename, upload.content = filename, content
            upload.uploaded_at = datetime.now(UTC)
    return {"sync_id": sync_id, "filename": filename, "bytes": len(content.encode())}


def start_run(rt: Runtime, sync: Sync, trigger: str,
              *, enqueue: bool = True) -> tuple[SyncRun, bool]:
    """(run, True) for a new queued run; (the active run, False) when one is queued or going.

    `enqueue=False` leaves the run to the caller (the CLI runs it in its own process).
    """
    run_id = new_id("srn")
    for _ in range(3):
        if lease.reserve(rt.redis, sync.id, run_id, rt.settings.sync_queued_lease_s):
            break
        active_id = lease.holder(rt.redis, sync.id)
        if active_id is None:
            continue
        with rt.db.session() as session:
            active = session.get(SyncRun, active_id)
        if active is not None and active.status in store.ACTIVE:
            return active, False
        lease.drop_if(rt.redis, sync.id, active_id)  # its run ended without releasing
    else:
        raise Conflict("another run of this sync is starting; try again")
    run = SyncRun(id=run_id, sync_id=sync.id, workspace_id=sync.workspace_id, status="queued",
                  trigger=trigger, counts={})
    try:
        with rt.db.session() as session:
            session.add(run)
        if enqueue:
            enqueue_sync_run(rt, run_id)
    except Exception:
        lease.release(rt.redis, sync.id, run_id)
        raise
    return run, True


def scheduled_tick(rt: Runtime, sync_id: str, *, now: datetime | None = None) -> str | None:
    """Start a scheduled run if due; None when disabled, not due, or a run is active."""
    now = now or datetime.now(UTC)
    with rt.db.session() as session:
        sync = session.get(Sync, sync_id)
        if sync is None or not sync.enabled:
            return None
        schedule = sync.definition.get("schedule") or {}
        if schedule.get("kind") == "cron":
            mark = _aware(sync.schedule_mark or sync.created_at)
            due = _cron(schedule["expr"]).get_next_fire_time(None, mark + timedelta(seconds=1))
            if due is None or due > now:
                return None
            sync.schedule_mark = now  # every fire time missed until now coalesces into this one
    run, started = start_run(rt, sync, "schedule")
    return run.id if started else None


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def sync_entries(rt: Runtime) -> list[Entry]:
    """One scheduler entry per enabled scheduled sync (cron ones are checked every minute)."""
    with rt.db.session() as session:
        syncs = store.scheduled_syncs(session)
    entries = []
    for sync in syncs:
        schedule = sync.definition.get("schedule") or {}
        if schedule.get("kind") == "interval":
            entries.append(Entry("connector.jobs.schedule_sync", float(schedule["every_s"]),
                                 QUEUE_SYNC, (sync.id,)))
        elif schedule.get("kind") == "cron":
            entries.append(Entry("connector.jobs.schedule_sync", CRON_CHECK_INTERVAL_S,
                                 QUEUE_SYNC, (sync.id,)))
    return entries


def _iso(at: datetime | None) -> str | None:
    return _aware(at).isoformat() if at else None


def sync_view(sync: Sync) -> dict[str, Any]:
    definition = dict(sync.definition)
    return {"id": sync.id, "name": sync.name, "connection_id": sync.connection_id,
            "enabled": sync.enabled, "source": definition.get("source"),
            "credentials": "stored" if sync.credentials_encrypted else None,
            "mapping": definition.get("mapping"), "filters": definition.get("filters") or [],
            "target": definition.get("target"), "schedule": definition.get("schedule"),
            "state": sync.state or {}, "last_success_at": _iso(sync.last_success_at),
            "created_at": _iso(sync.created_at)}


def run_view(run: SyncRun) -> dict[str, Any]:
    counts = {name: 0 for name in store.COUNTERS} | dict(run.counts or {})
    return {
        "id": run.id, "sync_id": run.sync_id, "status": run.status, "trigger": run.trigger,
        "progress": {"read": counts["read"], "written": counts["written"], "total": run.total},
        "report": {name: counts[name] for name in ("created", "updated", "unchanged",
                                                   "rejected", "failed", "filtered")},
        "requests": {"source": counts["source_requests"],
                     "source_throttled": counts["source_throttled"],
                     "tenant_reads": counts["tenant_reads"],
                     "tenant_writes": counts["tenant_writes"]},
        "error": run.error, "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at), "finished_at": _iso(run.finished_at),
    }


def reject_view(reject: SyncReject) -> dict[str, Any]:
    return {"id": str(reject.id), "run_id": reject.run_id, "source_id": reject.source_id,
            "field": reject.field, "raw_value": reject.raw_value, "reason": reject.reason,
            "created_at": _iso(reject.created_at)}
