"""What is new in an oldest-first event feed with an opaque cursor (WBIZ `/v1/events`).

Pure, over a `fetch(since) -> {items, next_cursor, has_more}` callable (STYLE rule 9): the
upstream decides where its cursor points, we only keep the last one it gave us. A poll with
nothing new costs one request; one with k new events about k/page_size + 1.

The end of the feed is an empty page, `has_more: false`, or (when the upstream sends no
`has_more`, as WBIZ's seed documents none) a page shorter than asked for. A cursor that does
not move also ends the scan, so a feed that keeps answering the same cursor can't loop us.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

FeedPage = Mapping[str, Any]
FeedFetch = Callable[[str | None], FeedPage]


@dataclass(frozen=True)
class FeedCursor:
    """The saved state: the upstream's cursor, and whether the first catch-up is unfinished
    (while `baseline` is true, events are skipped: history is not replayed as new)."""

    since: str | None = None
    baseline: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"since": self.since, "baseline": self.baseline}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> FeedCursor:
        if not data:
            return cls()
        since = data.get("since")
        return cls(str(since) if since else None, bool(data.get("baseline")))


@dataclass
class FeedScan:
    events: list[dict[str, Any]]  # oldest first, as the feed gave them
    cursor: FeedCursor
    pages: int
    caught_up: bool  # False: stopped at max_pages with more to read (the next poll goes on)


def scan_feed(fetch: FeedFetch, cursor: FeedCursor, *, limit: int, max_pages: int) -> FeedScan:
    """Read pages after `cursor.since` until the end of the feed or `max_pages`.

    The returned cursor is the last one the upstream gave (the old one if it gave none). A
    baseline scan stays a baseline until it reaches the end of the feed.
    """
    events: list[dict[str, Any]] = []
    since, pages, caught_up = cursor.since, 0, False
    while pages < max(max_pages, 1):
        page = fetch(since)
        pages += 1
        items = [dict(item) for item in page.get("items") or [] if isinstance(item, Mapping)]
        events.extend(items)
        given = page.get("next_cursor")
        moved = bool(given) and given != since
        since = str(given) if given else since
        more = page.get("has_more")
        if not items or not moved or more is False or (more is None and len(items) < limit):
            caught_up = True
            break
    return FeedScan(events, FeedCursor(since, cursor.baseline and not caught_up), pages,
                    caught_up)
