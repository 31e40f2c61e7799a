"""Runs one sync run: claim -> lease -> pages (map, reject, hash, write) -> commit each page.

A page is committed in one transaction (links, rejects, counters, and the source's new state),
and the state only when every write of the page succeeded; otherwise the run stops there and
the next run re-reads the page. Unchanged records (same content hash as the link) cost no
upstream call at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from connector.providers.phones import InvalidPhone, normalize_phone
from connector.runtime import Runtime
from connector.ssrf import SsrfGuard, guarded_session
from connector.store import syncs as store
from connector.store.models import Connection
from connector.store.sync_models import Sync, SyncRun
from connector.sync import lease
from connector.sync.mapping import map_record, mapping_for, matches, raw_value
from connector.sync.registry import build_source, source_http
from connector.sync.source import Record, SourceError
from connector.sync.writer import ContactWriter, SyncFatal, WriteResult

log = logging.getLogger(__name__)


def content_hash(fields: Mapping[str, Any], group_id: str | None) -> str:
    blob = json.dumps({"fields": fields, "group": group_id}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class SyncRunner:
    def __init__(self, rt: Runtime, worker_id: str, *, rng: random.Random | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rt, self.worker_id = rt, worker_id
        self.rng, self.sleep = rng or random.Random(), sleep

    def execute(self, run_id: str) -> str | None:
        """The run's final status, or None when it was not ours to run."""
        settings = self.rt.settings
        with self.rt.db.session() as session:
            queued = session.get(SyncRun, run_id)
            sync_id = queued.sync_id if queued is not None else None
        if sync_id is None or not lease.take(self.rt.redis, sync_id, run_id,
                                             settings.sync_lease_s):
            self._supersede(run_id)
            return None
        claimed = store.claim_run(self.rt.db, run_id, self.worker_id)
        if claimed is None:
            lease.release(self.rt.redis, sync_id, run_id)
            return None
        run, sync = claimed
        stop = lease.keep_alive(self.rt.redis, sync_id, run_id, settings.sync_lease_s)
        counts = dict(run.counts)
        try:
            status, error, total = self._run(run, sync, counts)
        except Exception as exc:
            log.exception("sync.crashed", extra={"run_id": run_id})
            status, error, total = "failed", {"kind": "internal", "message": str(exc)}, None
        finally:
            stop.set()
        store.finish_run(self.rt.db, run_id, status, counts=counts, error=error, total=total,
                         succeeded_at=datetime.now(UTC) if status == "succeeded" else None)
        lease.release(self.rt.redis, sync_id, run_id)
        log.info("sync.run_done", extra={"run_id": run_id, "status": status, "counts": counts})
        return status

    def _supersede(self, run_id: str) -> None:
        with self.rt.db.session() as session:
            run = session.get(SyncRun, run_id)
            if run is not None and run.status == "queued":
                run.status, run.finished_at = "skipped", datetime.now(UTC)
                run.error = {"kind": "coalesced", "message": "another run of this sync was "
                                                             "active"}

    def _run(self, run: SyncRun, sync: Sync,
             counts: dict[str, int]) -> tuple[str, dict[str, Any] | None, int | None]:
        definition = sync.definition
        with self.rt.db.session() as session:
            connection = session.get(Connection, sync.connection_id)
        assert connection is not None
        secrets: dict[str, str] = json.loads(self.rt.cipher.decrypt(
            sync.credentials_encrypted)) if sync.credentials_encrypted else {}
        target = definition.get("target") or {}
        mapping = mapping_for(sync.source_kind, definition.get("mapping"))
        filters = definition.get("filters") or []
        writer = ContactWriter(self.rt, connection,
                               self.rt.cipher.decrypt(connection.token_encrypted),
                               group_id=target.get("group_id"),
                               default_region=target.get("default_region"),
                               rng=self.rng, sleep=self.sleep)
        missing = writer.missing_ability()
        if missing:
            return "failed", {"kind": "scope_missing",
                              "message": f"the connection's token lacks {missing!r}"}, None
        guard = SsrfGuard(self.rt.settings.ssrf_allow_networks)
        http = source_http(self.rt, sync.id, definition["source"], guarded_session(guard),
                           sleep=self.sleep, rng=self.rng)
        source = build_source(self.rt, sync, definition, secrets, mapping, http, guard)
        window_end = run.window_end or source.window_end(datetime.now(UTC))
        if run.window_end is None:
            store.set_window(self.rt.db, run.id, window_end)
        total: int | None = None
        status, error = "succeeded", None
        with ThreadPoolExecutor(max_workers=max(1, self.rt.settings.sync_write_threads),
                                thread_name_prefix=f"sync-{run.id}") as pool:
            try:
                for page in source.pages(dict(sync.state or {}), window_end):
                    if page.total is not None and total is None:
                        total = page.total
                    ok = self._page(page.records, run, sync, mapping, filters, target, writer,
                                    pool, counts)
                    counts["source_requests"] = http.requests
                    counts["source_throttled"] = http.throttled
                    store.commit_page(self.rt.db, sync_id=sync.id, run_id=run.id,
                                      links=ok.links, rejects=ok.rejects, counts=counts,
                                      total=total, state=page.state if ok.complete else None)
                    if not ok.complete:
                        status = "failed"
                        error = {"kind": "write_failed", "message": ok.first_failure}
                        break
            except SourceError as exc:
                status, error = "failed", {"kind": exc.kind.value, "message": exc.message}
            except SyncFatal as exc:
                status, error = "failed", {"kind": exc.outcome.kind.value,
                                           "message": exc.outcome.message}
        counts["source_requests"] = http.requests
        counts["source_throttled"] = http.throttled
        return status, error, total

    def _page(self, records: Iterable[Record], run: SyncRun, sync: Sync,
              mapping: list[dict[str, Any]], filters: list[dict[str, Any]],
              target: Mapping[str, Any], writer: ContactWriter, pool: ThreadPoolExecutor,
              counts: dict[str, int]) -> _PageResult:
        result = _PageResult()
        unique = {record.source_id: record for record in records}
        counts["read"] += len(unique)
        prepared: list[tuple[str, dict[str, Any], str]] = []
        for record in unique.values():
            if not matches(record.data, filters):
                counts["filtered"] += 1
                continue
            fields = map_record(record.data, mapping)
            try:
                fields["phone"] = normalize_phone(fields.get("phone", ""),
                                                  target.get("default_region"))
            except InvalidPhone as exc:
                raw = raw_value(record.data, mapping, "phone") or None
                reason = "no phone number in the record" if not raw else exc.reason
                result.reject(record.source_id, "phone", raw, reason, counts)
                continue
            fields["status_id"] = target["status_id"]
            fields["source_id"] = target["source_id"]
            fields["type"] = fields.get("type") or target.get("type") or "lead"
            prepared.append((record.source_id, fields,
                             content_hash(fields, target.get("group_id"))))
        links = store.links_for(self.rt.db, sync.id, [p[0] for p in prepared])
        todo = []
        for source_id, fields, digest in prepared:
            link = links.get(source_id)
            if link is not None and link.content_hash == digest:
                counts["unchanged"] += 1
            else:
                todo.append((source_id, fields, digest, link.contact_id if link else None))
        fatal: SyncFatal | None = None
        futures = [pool.submit(writer.write, *item) for item in todo]
        sent = {item[0]: item[1] for item in todo}
        for future in futures:
            try:
                written = future.result()
                if written.status == "rejected" and written.field in sent[written.source_id]:
                    written.raw_value = str(sent[written.source_id][written.field])
                result.add(written, counts)
            except SyncFatal as exc:
                fatal = fatal or exc
        if fatal is not None:
            raise fatal
        return result


class _PageResult:
    def __init__(self) -> None:
        self.links: dict[str, dict[str, str]] = {}
        self.rejects: list[dict[str, Any]] = []
        self.complete = True
        self.first_failure = ""

    def reject(self, source_id: str, field: str, raw: str | None, reason: str,
               counts: dict[str, int]) -> None:
        counts["rejected"] += 1
        self.rejects.append({"source_id": source_id, "field": field, "raw_value": raw,
                             "reason": reason})

    def add(self, written: WriteResult, counts: dict[str, int]) -> None:
        counts["tenant_reads"] += written.reads
        counts["tenant_writes"] += written.writes
        if written.status in ("created", "updated"):
            counts[written.status] += 1
            counts["written"] += 1
            if written.contact_id and written.phone and written.content_hash:
                self.links[written.source_id] = {"contact_id": written.contact_id,
                                                 "phone_e164": written.phone,
                                                 "content_hash": written.content_hash}
        elif written.status == "rejected":
            self.reject(written.source_id, written.field, written.raw_value, written.reason,
                        counts)
        else:
            counts["failed"] += 1
            self.complete = False
            self.first_failure = self.first_failure or written.reason
