"""Pipedrive persons, API v2 (crm-forms.md A2): `updated_since` (inclusive), cursor paging.

Timestamps have whole seconds and the list can't filter on the id, so a resumed run re-reads
the last second's persons (the content hash makes that free) instead of skipping any.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.sync.fetch import SourceHttp
from connector.sync.source import DEFAULT_LOOKBACK_S, Page, Record

DEFAULT_PAGE_SIZE = 500


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


class PipedriveSource:
    def __init__(self, config: Mapping[str, Any], token: str, http: SourceHttp) -> None:
        self.http = http
        self.url = str(config["base_url"]).rstrip("/") + "/api/v2/persons"
        self.headers = {"x-api-token": token}
        self.limit = int(config.get("page_size") or DEFAULT_PAGE_SIZE)
        self.lookback = timedelta(seconds=int(config.get("lookback_s", DEFAULT_LOOKBACK_S)))

    def window_end(self, now: datetime) -> str:
        return rfc3339(now)

    def pages(self, state: Mapping[str, Any], window_end: str) -> Iterator[Page]:
        cursor = state.get("cursor")
        since: str | None = None
        if cursor and state.get("tiebreak") is not None:
            since = str(cursor)
        elif cursor:
            since = rfc3339(parse_time(str(cursor)) - self.lookback)
        params: dict[str, Any] = {"sort_by": "update_time", "sort_direction": "asc",
                                  "limit": self.limit, "updated_until": window_end}
        if since:
            params["updated_since"] = since
        last = since
        while True:
            body = self.http.json("GET", self.url, headers=self.headers, params=params)
            items = [p for p in (body or {}).get("data") or [] if isinstance(p, Mapping)]
            records = [Record(str(p.get("id")), p) for p in items if p.get("id") is not None]
            if items and items[-1].get("update_time"):
                last = str(items[-1]["update_time"])
            yield Page(records, {"cursor": last, "tiebreak": "0"} if last else {})
            following = ((body or {}).get("additional_data") or {}).get("next_cursor")
            if not following or not records:
                break
            params["cursor"] = following
        yield Page([], {"cursor": window_end, "tiebreak": None})
