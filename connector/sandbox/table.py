"""An in-memory table: rows by integer id, listed newest first in O(per_page).

Upstream lists are `ORDER BY created_at DESC` (reference §1.4). Ids only grow and `created_at`
never goes backwards here, so descending id order *is* that order, with ties (same second)
broken by id desc. Paging is therefore a reversed slice of the ascending id list, never a sort.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from connector.sandbox.timestamps import now_s

Row = dict[str, Any]


def counter(start: int = 1) -> Callable[[], int]:
    """An id allocator; thread safety comes from the store lock held by every caller."""
    return itertools.count(start).__next__


class Table:
    """Rows of one resource for one tenant."""

    def __init__(self, next_id: Callable[[], int]) -> None:
        # Shared tables (statuses, groups, templates...) get one allocator for all tenants, as in
        # the upstream where only contacts live in a per-tenant `{subdomain}_contacts` table (§1.6).
        self._next_id = next_id
        self._ids: list[int] = []
        self._rows: dict[int, Row] = {}
        self._last_created = 0

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[Row]:
        """Rows in id order, i.e. the order a bare `SELECT ... LIMIT 1` meets them."""
        rows = self._rows
        return (rows[i] for i in list(self._ids))

    def insert(self, row: Row, created_at: int | None = None) -> Row:
        """Store a copy of `row` with a new id and timestamps; returns the stored row.

        `created_at` is clamped to the newest row's so the id order stays the listing order.
        """
        ts = max(now_s() if created_at is None else created_at, self._last_created)
        self._last_created = ts
        row_id = self._next_id()
        # Column order as MySQL returns it: id first, timestamps after the data columns.
        stored: Row = {"id": row_id}
        stored.update(row)
        stored.update(id=row_id, created_at=ts, updated_at=row.get("updated_at") or ts)
        self._ids.append(row_id)
        self._rows[row_id] = stored
        return stored

    def get(self, row_id: int) -> Row | None:
        return self._rows.get(row_id)

    def delete(self, row_id: int) -> Row | None:
        row = self._rows.pop(row_id, None)
        if row is not None:
            index = bisect.bisect_left(self._ids, row_id)
            del self._ids[index]
        return row

    def newest_first(self, offset: int, limit: int) -> list[Row]:
        """Rows `offset .. offset+limit` of the newest-first listing."""
        total = len(self._ids)
        start = total - 1 - offset
        if limit <= 0 or start < 0:
            return []
        stop = start - limit
        ids = self._ids[start : stop if stop >= 0 else None : -1]
        return [self._rows[i] for i in ids]

    def first(self, predicate: Callable[[Row], bool]) -> Row | None:
        """Lowest-id row matching `predicate` (MySQL's natural order for a table scan)."""
        for row in self:
            if predicate(row):
                return row
        return None
