"""Poll scans over a fake newest-first listing: cost, ties, page shifts, change detection."""

from __future__ import annotations

from typing import Any

import pytest

from connector.engine.polling import Cursor, content_hash, scan_changes, scan_new


class Listing:
    """Newest first by (created_at, id), like the upstream; counts the pages fetched."""

    def __init__(self, per_page: int = 10) -> None:
        self.rows: list[dict[str, Any]] = []
        self.per_page, self.fetches = per_page, 0

    def add(self, count: int, second: int) -> list[str]:
        ids = []
        for _ in range(count):
            rid = str(len(self.rows) + 1)
            self.rows.append({"id": rid, "created_at": f"2026-11-21T10:00:{second:02d}.000000Z",
                              "name": f"row {rid}"})
            ids.append(rid)
        return ids

    def fetch(self, page: int) -> dict[str, Any]:
        self.fetches += 1
        ordered = sorted(self.rows, key=lambda r: (r["created_at"], int(r["id"])), reverse=True)
        start = (page - 1) * self.per_page
        chunk = ordered[start:start + self.per_page]
        more = start + self.per_page < len(ordered)
        return {"items": [dict(r) for r in chunk], "next_page": page + 1 if more else None}


def poll(listing: Listing, cursor: Cursor | None) -> tuple[list[str], Cursor, int]:
    listing.fetches = 0
    scan = scan_new(listing.fetch, cursor)
    return [r["id"] for r in scan.new], scan.cursor, listing.fetches


def test_baseline_reads_one_page_and_reports_nothing() -> None:
    listing = Listing()
    listing.add(500, 1)
    new, cursor, fetches = poll(listing, None)
    assert (new, fetches) == ([], 1)
    assert cursor.created_at and len(cursor.ids) == 10


@pytest.mark.parametrize("rows", [10, 1000, 100_000])
def test_nothing_new_costs_one_request_whatever_the_size(rows: int) -> None:
    listing = Listing(per_page=100)
    listing.add(rows, 1)
    _, cursor, _ = poll(listing, None)
    assert poll(listing, cursor)[2] == 1


def test_items_sharing_the_cursors_second_are_neither_lost_nor_repeated() -> None:
    listing = Listing()
    listing.add(3, 5)
    _, cursor, _ = poll(listing, None)
    later = listing.add(4, 5)  # same second as the cursor
    new, cursor, _ = poll(listing, cursor)
    assert new == later
    assert poll(listing, cursor)[0] == []


def test_a_gap_is_paged_until_the_cursor_and_reported_oldest_first() -> None:
    listing = Listing(per_page=10)
    listing.add(20, 1)
    _, cursor, _ = poll(listing, None)
    created = listing.add(35, 2) + listing.add(30, 3)
    new, cursor, fetches = poll(listing, cursor)
    assert new == created and fetches == 7
    assert poll(listing, cursor) == ([], cursor, 1)


def test_items_shifted_onto_the_next_page_while_paging_are_kept_once() -> None:
    listing = Listing(per_page=5)
    listing.add(5, 1)
    _, cursor, _ = poll(listing, None)
    created = listing.add(12, 2)
    calls = {"n": 0}

    def fetch(page: int) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 2:
            created.extend(listing.add(2, 3))  # two new rows push everything down
        return listing.fetch(page)

    scan = scan_new(fetch, cursor)
    ids = [r["id"] for r in scan.new]
    assert len(ids) == len(set(ids))
    assert set(ids) <= set(created)
    assert poll(listing, scan.cursor)[0] == [i for i in created if i not in ids]


def test_listings_without_timestamps_use_the_highest_id() -> None:
    rows = [{"id": str(i)} for i in range(3, 0, -1)]
    cursor = scan_new(lambda page: {"items": rows, "next_page": None}, None).cursor
    assert cursor.max_id == 3
    rows.insert(0, {"id": "4"})
    scan = scan_new(lambda page: {"items": rows, "next_page": None}, cursor)
    assert [r["id"] for r in scan.new] == ["4"] and scan.cursor.max_id == 4


def test_cursor_round_trips() -> None:
    cursor = Cursor("2026-11-21T10:00:01.000000Z", ("1", "2"), 2)
    assert Cursor.from_dict(cursor.to_dict()) == cursor
    assert Cursor.from_dict(None) is None


def test_changes_are_found_by_content_hash_and_numbered() -> None:
    listing = Listing()
    listing.add(30, 1)
    shape = dict
    first = scan_changes(listing.fetch, None, shape)
    assert first.baseline and first.changed == [] and len(first.hashes) == 30
    listing.rows[4]["name"] = "renamed"
    listing.rows[7]["updated_at"] = "2026-11-22T00:00:00Z"  # ignored by the hash
    second = scan_changes(listing.fetch, first.hashes, shape)
    assert [(r["id"], n) for r, n in second.changed] == [("5", 1)]
    listing.rows[4]["name"] = "renamed again"
    third = scan_changes(listing.fetch, second.hashes, shape)
    assert [(r["id"], n) for r, n in third.changed] == [("5", 2)]
    assert content_hash({"a": 1, "updated_at": "x"}) == content_hash({"a": 1})
