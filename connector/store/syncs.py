"""Sync rows: definitions, run bookkeeping, page commits (links + rejects + state together)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connector.store.db import Database
from connector.store.paging import newest_first
from connector.store.sync_models import Sync, SyncLink, SyncReject, SyncRun, SyncUpload

ACTIVE = ("queued", "running")
COUNTERS = ("read", "filtered", "written", "created", "updated", "unchanged", "rejected",
            "failed", "source_requests", "source_throttled", "tenant_reads", "tenant_writes")


def get_sync(session: Session, workspace_id: str, sync_id: str) -> Sync | None:
    sync = session.get(Sync, sync_id)
    return sync if sync is not None and sync.workspace_id == workspace_id else None


def find_sync(session: Session, workspace_id: str | None, name_or_id: str) -> Sync | None:
    query = select(Sync).where((Sync.name == name_or_id) | (Sync.id == name_or_id))
    if workspace_id:
        query = query.where(Sync.workspace_id == workspace_id)
    return session.scalars(query.limit(1)).first()


def list_syncs(session: Session, workspace_id: str, *, limit: int,
               cursor: str | None) -> list[Sync]:
    query = select(Sync).where(Sync.workspace_id == workspace_id)
    return newest_first(session, query, Sync.id, cursor=cursor,
                        limit=limit)


def scheduled_syncs(session: Session) -> list[Sync]:
    return list(session.scalars(select(Sync).where(Sync.enabled.is_(True))))


def list_runs(session: Session, sync_id: str, *, limit: int, cursor: str | None) -> list[SyncRun]:
    query = select(SyncRun).where(SyncRun.sync_id == sync_id)
    return newest_first(session, query, SyncRun.id, cursor=cursor,
                        limit=limit)


def list_rejects(session: Session, sync_id: str, *, run_id: str | None, limit: int,
                 cursor: int | None) -> list[SyncReject]:
    query = select(SyncReject).where(SyncReject.sync_id == sync_id)
    if run_id:
        query = query.where(SyncReject.run_id == run_id)
    return newest_first(session, query, SyncReject.id, cursor=cursor,
                        limit=limit)


def get_upload(db: Database, sync_id: str) -> SyncUpload | None:
    with db.session() as session:
        return session.get(SyncUpload, sync_id)


def claim_run(db: Database, run_id: str, worker_id: str) -> tuple[SyncRun, Sync] | None:
    """queued -> running; None when the run is not queued (done, superseded, or claimed)."""
    with db.session() as session:
        run = session.get(SyncRun, run_id, with_for_update=True)
        if run is None or run.status != "queued":
            return None
        sync = session.get(Sync, run.sync_id)
        assert sync is not None  # a foreign key guarantees it
        now = datetime.now(UTC)
        run.status, run.worker_id, run.started_at = "running", worker_id, now
        run.counts = {name: 0 for name in COUNTERS}
        # Runs of this sync left active by a dead worker: their lease is gone (we hold it).
        session.execute(
            update(SyncRun)
            .where(SyncRun.sync_id == run.sync_id, SyncRun.id != run.id,
                   SyncRun.status.in_(ACTIVE))
            .values(status="failed", finished_at=now,
                    error={"kind": "abandoned", "message": "its worker stopped; a later run "
                                                           "resumed from the saved state"}))
        return run, sync


def finish_run(db: Database, run_id: str, status: str, *, counts: Mapping[str, int],
               error: Mapping[str, Any] | None = None, succeeded_at: datetime | None = None,
               total: int | None = None) -> None:
    with db.session() as session:
        run = session.get(SyncRun, run_id)
        if run is None:
            return
        run.status, run.finished_at = status, datetime.now(UTC)
        run.counts = dict(counts)
        run.error = dict(error) if error else None
        if total is not None:
            run.total = total
        if succeeded_at is not None:
            sync = session.get(Sync, run.sync_id)
            if sync is not None:
                sync.last_success_at = succeeded_at


def set_window(db: Database, run_id: str, window_end: str) -> None:
    with db.session() as session:
        run = session.get(SyncRun, run_id)
        if run is not None:
            run.window_end = window_end


def links_for(db: Database, sync_id: str, source_ids: Iterable[str]) -> dict[str, SyncLink]:
    ids = list(source_ids)
    if not ids:
        return {}
    with db.session() as session:
        rows = session.scalars(select(SyncLink).where(SyncLink.sync_id == sync_id,
                                                      SyncLink.source_id.in_(ids)))
        return {row.source_id: row for row in rows}


def commit_page(db: Database, *, sync_id: str, run_id: str, links: Mapping[str, dict[str, str]],
                rejects: Iterable[Mapping[str, Any]], counts: Mapping[str, int],
                total: int | None, state: Mapping[str, Any] | None) -> None:
    """One transaction: the page's links and rejects, the run's counters, and (when the page's
    writes all succeeded) the sync's new state."""
    with db.session() as session:
        existing = {row.source_id: row for row in session.scalars(
            select(SyncLink).where(SyncLink.sync_id == sync_id,
                                   SyncLink.source_id.in_(list(links))))} if links else {}
        for source_id, link in links.items():
            row = existing.get(source_id)
            if row is None:
                session.add(SyncLink(sync_id=sync_id, source_id=source_id, **link))
            else:
                row.contact_id, row.phone_e164 = link["contact_id"], link["phone_e164"]
                row.content_hash = link["content_hash"]
        for reject in rejects:
            session.add(SyncReject(sync_id=sync_id, run_id=run_id, **reject))
        run = session.get(SyncRun, run_id)
        if run is not None:
            run.counts = dict(counts)
            if total is not None:
                run.total = total
        if state is not None:
            sync = session.get(Sync, sync_id)
            if sync is not None:
                sync.state = dict(state)
