"""Cursor-feed scans over a fake oldest-first feed: where a scan stops, what it costs, and the
cursor it leaves (baseline included)."""

from __future__ import annotations

from typing import Any

import pytest

from connector.engine.cursor_feed import FeedCursor, scan_feed


class Feed:
    """Oldest first; the cursor is the position as text, like an opaque upstream cursor."""

    def __init__(self, events: int, *, limit: int = 10, has_more: bool = False,
                 stuck: bool = False) -> None:
        self.events = [{"id": f"evt_{n}"} for n in range(events)]
        self.limit, self.has_more, self.stuck = limit, has_more, stuck
        self.fetches: list[str | None] = []

    def fetch(self, since: str | None) -> dict[str, Any]:
        self.fetches.append(since)
        start = int(since or 0)
        chunk = self.events[start:start + self.limit]
        page: dict[str, Any] = {"items": chunk,
                                "next_cursor": since if self.stuck else str(start + len(chunk))}
        if self.has_more:
            page["has_more"] = start + len(chunk) < len(self.events)
        return page


CASES = [
    pytest.param(0, {}, 1, 0, "0", id="empty-feed-one-request"),
    pytest.param(7, {}, 1, 7, "7", id="short-page-is-the-end"),
    pytest.param(20, {}, 3, 20, "20", id="full-pages-then-an-empty-one"),
    pytest.param(20, {"has_more": True}, 2, 20, "20", id="has-more-false-ends-early"),
    pytest.param(20, {"stuck": True}, 1, 10, None, id="a-cursor-that-does-not-move-stops"),
]


@pytest.mark.parametrize("events, options, fetches, found, cursor", CASES)
def test_scan_reads_to_the_end_of_the_feed(events: int, options: dict[str, Any], fetches: int,
                                           found: int, cursor: str | None) -> None:
    feed = Feed(events, **options)
    scan = scan_feed(feed.fetch, FeedCursor(None, baseline=False), limit=10, max_pages=20)
    assert (len(feed.fetches), len(scan.events), scan.cursor.since) == (fetches, found, cursor)
    assert scan.caught_up and not scan.cursor.baseline


def test_scan_goes_on_from_the_saved_cursor_oldest_first() -> None:
    feed = Feed(15)
    scan = scan_feed(feed.fetch, FeedCursor("12", baseline=False), limit=10, max_pages=20)
    assert [e["id"] for e in scan.events] == ["evt_12", "evt_13", "evt_14"]
    assert feed.fetches == ["12"] and scan.cursor.since == "15"


def test_a_baseline_cut_by_max_pages_stays_a_baseline_until_the_end() -> None:
    feed = Feed(45)
    first = scan_feed(feed.fetch, FeedCursor(), limit=10, max_pages=2)
    assert (first.cursor, first.caught_up, first.pages) == (FeedCursor("20", True), False, 2)
    second = scan_feed(feed.fetch, first.cursor, limit=10, max_pages=2)
    third = scan_feed(feed.fetch, second.cursor, limit=10, max_pages=2)
    assert third.cursor == FeedCursor("45", baseline=False) and third.caught_up


def test_cursor_round_trips_and_defaults_to_a_baseline() -> None:
    assert FeedCursor.from_dict(None) == FeedCursor(None, baseline=True)
    saved = FeedCursor("d2Jpei1mZWVkOjE", baseline=False)
    assert FeedCursor.from_dict(saved.to_dict()) == saved
