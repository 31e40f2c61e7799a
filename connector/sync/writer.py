"""Tenant writes of a sync, through the same action definitions and provider operations as the
action API, the connection's governor (a share of it) and the same outcome classification.

Per record: a linked contact is updated by id (a phone change therefore edits the same contact)
and put in the target group; an unlinked one is created, and when the tenant already has its
phone (Corbital answers 422 on `phone`), found by phone and updated instead. Every operation
here is safe to repeat (natural key: the phone), so an in-doubt answer is retried like a
transient one.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connector.engine.backoff import backoff
from connector.engine.context import call_context
from connector.engine.governor import GovernorWait
from connector.engine.outcome import Outcome, OutcomeKind
from connector.providers.base import LockBusy
from connector.runtime import Runtime
from connector.store.models import Connection

ACTIONS = ("create_contact", "update_contact", "add_contact_to_group", "find_contact_by_phone")
CREATE_ONLY = ("status_id", "source_id", "type")
"""Target fields set when the sync creates a contact and never overwritten afterwards: agents
move a contact's status in the tenant, and Corbital v1 refuses `status_id` above 50 on update
(upstream-apis.md §1.5, emulated by the sandbox)."""
FATAL = frozenset({OutcomeKind.AUTH_INVALID, OutcomeKind.SCOPE_MISSING, OutcomeKind.HALTED})
RETRIED = frozenset({OutcomeKind.TRANSIENT, OutcomeKind.IN_DOUBT})
MAX_THROTTLED = 50
READS = frozenset({"GET", "HEAD", "OPTIONS"})


class SyncFatal(Exception):
    """The tenant refuses the whole sync (token, ability, plan): stop the run."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


@dataclass
class WriteResult:
    source_id: str
    status: str  # created | updated | rejected | failed
    contact_id: str | None = None
    phone: str | None = None
    content_hash: str | None = None
    field: str = "record"
    raw_value: str | None = None
    reason: str = ""
    reads: int = 0
    writes: int = 0


class ContactWriter:
    def __init__(self, rt: Runtime, connection: Connection, token: str, *,
                 group_id: str | None, default_region: str | None,
                 rng: random.Random | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rt, self.connection, self.token = rt, connection, token
        self.group_id, self.default_region = group_id, default_region
        self.rng, self.sleep = rng or random.Random(), sleep
        self.provider = rt.provider(connection.provider)
        self.entries = {key: rt.catalog.actions[key].provider(connection.provider)
                        for key in ACTIONS}

    def missing_ability(self) -> str | None:
        """Preflight, as the action runner does: the first ability the token lacks, if any."""
        for key, entry in self.entries.items():
            if entry is None:
                return f"action {key!r} on {self.connection.provider}"
            missing = sorted(set(entry.abilities) - set(self.connection.abilities))
            if missing:
                return missing[0]
        return None

    def write(self, source_id: str, fields: Mapping[str, Any], content_hash: str,
              contact_id: str | None) -> WriteResult:
        result = WriteResult(source_id, "failed", phone=str(fields["phone"]),
                             content_hash=content_hash)
        changes = {k: v for k, v in fields.items() if k not in CREATE_ONLY}
        if contact_id is not None:
            outcome = self._call("update_contact", {**changes, "id": contact_id}, result)
            if outcome.ok:
                return self._grouped(result, "updated", outcome)
            if not _not_found(outcome):
                return self._settle(result, outcome)
        data = dict(fields)
        if self.group_id:
            data["group_ids"] = [self.group_id]
        outcome = self._call("create_contact", data, result)
        if outcome.ok:
            result.contact_id = _id_of(outcome.output)
            result.status = "created"
            return result
        if outcome.kind is OutcomeKind.INVALID and _about(outcome, "/phone"):
            # The tenant already has this phone (a contact made by hand, a form, or a write
            # of ours whose link was lost with a killed worker): update that contact.
            found = self._call("find_contact_by_phone", {"phone": fields["phone"]}, result)
            existing = (found.output or {}).get("contact") if found.ok else None
            if not found.ok:
                return self._settle(result, found)
            if isinstance(existing, Mapping) and existing.get("id") is not None:
                outcome = self._call("update_contact", {**changes, "id": str(existing["id"])},
                                     result)
                if outcome.ok:
                    return self._grouped(result, "updated", outcome)
        return self._settle(result, outcome)

    def _grouped(self, result: WriteResult, status: str, outcome: Outcome) -> WriteResult:
        output = outcome.output or {}
        contact = output.get("contact", output) if isinstance(output, Mapping) else {}
        result.contact_id = _id_of(contact)
        if self.group_id and self.group_id not in (contact.get("group_ids") or []):
            grouped = self._call("add_contact_to_group",
                                 {"contact_id": result.contact_id, "group_id": self.group_id},
                                 result)
            if not grouped.ok:
                return self._settle(result, grouped)
        result.status = status
        return result

    def _settle(self, result: WriteResult, outcome: Outcome) -> WriteResult:
        if outcome.kind in FATAL:
            raise SyncFatal(outcome)
        if outcome.kind is OutcomeKind.INVALID:
            first = outcome.field_errors[0] if outcome.field_errors else None
            result.status = "rejected"
            result.field = first.pointer.lstrip("/") if first else "record"
            result.raw_value = None
        result.reason = outcome.message
        return result

    def _call(self, key: str, data: Mapping[str, Any], result: WriteResult) -> Outcome:
        entry = self.entries[key]
        assert entry is not None  # missing_ability() checked it before the run began
        params = {"resource": entry.resource} if entry.resource else {}
        attempt = throttles = 0
        while True:
            ctx = call_context(self.rt, self.connection, self.token,
                               share=self.rt.settings.sync_rate_share,
                               max_wait_s=self.rt.settings.sync_governor_max_wait_s)
            if self.default_region:
                ctx.default_region = self.default_region
            try:
                outcome: Outcome = self.provider.execute(entry.operation, params, data, ctx)
            except GovernorWait as wait:
                outcome = Outcome(OutcomeKind.THROTTLED, "waiting for the connection's rate "
                                  "limit", retry_after_s=wait.wait_s)
            except LockBusy as busy:  # a form workflow is changing this contact: wait for it
                outcome = busy.outcome()
            for exchange in ctx.exchanges:
                if exchange.method.upper() in READS:
                    result.reads += 1
                else:
                    result.writes += 1
            if outcome.kind is OutcomeKind.THROTTLED and throttles < MAX_THROTTLED:
                throttles += 1
                delay = max(outcome.retry_after_s or 1.0, 0.05)
                if outcome.http_status == 429:
                    self.rt.governor.penalize(self.connection.id, delay)
                self.sleep(delay)
                continue
            if outcome.kind in RETRIED and attempt + 1 < self.rt.settings.retry_max_attempts:
                attempt += 1
                self.sleep(backoff(attempt, base_s=self.rt.settings.retry_base_s,
                                   cap_s=self.rt.settings.retry_cap_s, rng=self.rng))
                continue
            return outcome


def _id_of(contact: Any) -> str | None:
    value = contact.get("id") if isinstance(contact, Mapping) else None
    return None if value is None else str(value)


def _about(outcome: Outcome, pointer: str) -> bool:
    return any(e.pointer == pointer for e in outcome.field_errors)


def _not_found(outcome: Outcome) -> bool:
    # The provider answers a missing contact with an invalid outcome on `/id` (Corbital v1:
    # 200 with `data: null`, §1.4): the linked contact was deleted in the tenant.
    return outcome.kind is OutcomeKind.INVALID and _about(outcome, "/id")
