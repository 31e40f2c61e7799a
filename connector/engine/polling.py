"""What is new in a newest-first listing: a cursor with a seen-set, and content hashes.

Pure functions over a `fetch(page) -> {items, next_page}` callable (STYLE rule 9), so the cost
rules can be unit-tested without an upstream:

- `scan_new` pages from the newest item until it meets the cursor, so a poll with nothing new
  costs one request and one with k new items about k/page_size + 1, whatever the tenant's size.
  The cursor is the newest `created_at` seen plus the ids seen at exactly that time: items that
  share a timestamp (the upstream stores whole seconds) are neither lost nor repeated. Listings
  without `created_at` (templates, bots) use the highest numeric id instead.
- `scan_changes` reads every page and compares a hash of each record with the last poll's
  (the upstream has no "updated since" filter, reference §1.4): cost = total / page_size.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Page = Mapping[str, Any]
Fetch = Callable[[int], Page]
Record = dict[str, Any]

HASH_IGNORED = frozenset({"updated_at"})
"""Fields left out of a record's content hash: they change whenever anything else does."""


@dataclass(frozen=True)
class Cursor:
    created_at: str | None = None
    ids: tuple[str, ...] = ()
    max_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"created_at": self.created_at, "ids": list(self.ids), "max_id": self.max_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Cursor | None:
        if not data:
            return None
        return cls(data.get("created_at"), tuple(data.get("ids") or ()), data.get("max_id"))


@dataclass
class NewScan:
    new: list[Record]  # oldest first
    cursor: Cursor
    pages: int
    baseline: bool = False


@dataclass
class ChangeScan:
    changed: list[tuple[Record, int]]  # (record, change number), in listing order reversed
    hashes: dict[str, list[Any]] = field(default_factory=dict)  # id -> [hash, change number]
    pages: int = 0
    baseline: bool = False


def _when(record: Mapping[str, Any]) -> datetime | None:
    raw = record.get("created_at")
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


def _numeric(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _is_older(record: Mapping[str, Any], cursor: Cursor) -> bool | None:
    """True: at or before the cursor and already seen; False: new; None: same second, unseen."""
    when, rid = _when(record), str(record.get("id"))
    if cursor.created_at is not None and when is not None:
        mark = _when({"created_at": cursor.created_at})
        assert mark is not None
        if when < mark:
            return True
        if when == mark:
            return True if rid in cursor.ids else None
        return False
    number = _numeric(record.get("id"))
    if cursor.max_id is not None and number is not None:
        return number <= cursor.max_id
    return False


def scan_new(fetch: Fetch, cursor: Cursor | None) -> NewScan:
    """Items newer than `cursor` (oldest first) and the cursor after them.

    Without a cursor this is the baseline: nothing is new, the cursor is set from page 1.
    Paging stops after the page where an item at or behind the cursor appears, never after a
    fixed number of pages. The rest of that page is still read (it costs nothing), so an
    unseen item sharing the cursor's second is kept even if it is listed after a seen one.
    An item seen twice while paging (new items shift pages down) is kept once.

    Ties: items sharing a second are assumed listed by id descending, as the upstream's
    `ORDER BY created_at DESC` over its (created_at, id) index returns them and the sandbox
    emulates; so an item newer than the cursor appears before the first one already seen.
    """
    if cursor is None:
        listing = fetch(1)
        return NewScan([], _advance(Cursor(), list(listing.get("items") or [])), 1,
                       baseline=True)
    seen: set[str] = set()
    found: list[Record] = []
    pages, page = 0, 1
    while True:
        listing = fetch(page)
        pages += 1
        items = list(listing.get("items") or [])
        reached = False
        for record in items:
            rid = str(record.get("id"))
            if rid in seen:
                continue
            seen.add(rid)
            if _is_older(record, cursor) is True:
                reached = True
                continue
            found.append(record)
        next_page = listing.get("next_page")
        if reached or not items or next_page is None:
            break
        page = int(next_page)
    found.reverse()
    return NewScan(found, _advance(cursor, found), pages)


def _advance(cursor: Cursor, records: list[Record]) -> Cursor:
    """The cursor after `records`: newest timestamp and the ids seen at it, highest id."""
    created_at, ids = cursor.created_at, set(cursor.ids)
    newest = _when({"created_at": created_at}) if created_at else None
    max_id = cursor.max_id
    for record in records:
        when = _when(record)
        number = _numeric(record.get("id"))
        if number is not None:
            max_id = number if max_id is None else max(max_id, number)
        if when is None:
            continue
        if newest is None or when > newest:
            newest, created_at, ids = when, str(record["created_at"]), set()
        if when == newest:
            ids.add(str(record.get("id")))
    return Cursor(created_at, tuple(sorted(ids)), max_id)


def content_hash(record: Mapping[str, Any]) -> str:
    content = {k: v for k, v in record.items() if k not in HASH_IGNORED}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def scan_changes(fetch: Fetch, hashes: Mapping[str, list[Any]] | None,
                 shape: Callable[[Record], Record]) -> ChangeScan:
    """Records whose shaped content changed since the last scan; every page is read.

    Without earlier hashes this is the baseline: hashes are taken, nothing is a change. A record
    seen for the first time is not a change (the "new" triggers report it).
    """
    baseline = hashes is None
    before = dict(hashes or {})
    after: dict[str, list[Any]] = {}
    changed: list[tuple[Record, int]] = []
    pages, page = 0, 1
    while True:
        listing = fetch(page)
        pages += 1
        items = list(listing.get("items") or [])
        for record in items:
            rid = str(record.get("id"))
            if rid in after:
                continue
            digest = content_hash(shape(record))
            old = before.get(rid)
            if old is None:
                after[rid] = [digest, 0]
            elif old[0] != digest:
                after[rid] = [digest, int(old[1]) + 1]
                changed.append((record, int(old[1]) + 1))
            else:
                after[rid] = [digest, int(old[1])]
        next_page = listing.get("next_page")
        if not items or next_page is None:
            break
        page = int(next_page)
    changed.reverse()
    return ChangeScan(changed, after, pages, baseline)
