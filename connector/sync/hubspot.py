"""HubSpot CRM v3 contacts, read with the search endpoint (crm-forms.md A1).

Search sorts by `lastmodifieddate` ascending inside `[cursor - lookback, run start]`. Search
stops at 10,000 results per query (HTTP 400 past it) and bulk jobs stamp thousands of records
with the same millisecond, so "restart at the last timestamp" alone loops forever (Airbyte
#43317). The position is therefore a (timestamp, object id) pair: a tie group is drained with
`lastmodifieddate EQ ts AND hs_object_id GT id`, sorted by id (keyset paging, no cap), and the
timestamp walk resumes with `GT ts` (Airbyte PR #44899 pages on the id the same way).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from connector.sync.fetch import SourceHttp
from connector.sync.source import DEFAULT_LOOKBACK_S, Page, Record

SEARCH_CAP = 10_000
DEFAULT_BASE_URL = "https://api.hubapi.com"
DEFAULT_PAGE_SIZE = 100
MODIFIED = "lastmodifieddate"
OBJECT_ID = "hs_object_id"
PUSHDOWN_OPS = {"eq": "EQ", "ne": "NEQ", "in": "IN"}
MAX_PUSHDOWN_FILTERS = 3  # plus our three, under HubSpot's six per group


def to_ms(value: Any) -> int | None:
    """HubSpot datetimes come as ISO strings (`2024-05-01T10:00:00.123Z`) or epoch ms."""
    if value is None or value == "":
        return None
    text = str(value)
    if text.isdigit():
        return int(text)
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


class HubSpotSource:
    def __init__(self, config: Mapping[str, Any], token: str, http: SourceHttp, *,
                 properties: Sequence[str], filters: Sequence[Mapping[str, Any]]) -> None:
        self.http = http
        self.url = (config.get("base_url") or DEFAULT_BASE_URL).rstrip("/") \
            + "/crm/v3/objects/contacts/search"
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.limit = int(config.get("page_size") or DEFAULT_PAGE_SIZE)
        self.lookback_ms = int(config.get("lookback_s", DEFAULT_LOOKBACK_S)) * 1000
        self.properties = sorted({MODIFIED, OBJECT_ID, *properties})
        self.pushdown = [
            _pushdown(rule) for rule in filters
            if rule["op"] in PUSHDOWN_OPS and str(rule["path"]).startswith("properties.")
        ][:MAX_PUSHDOWN_FILTERS]

    def window_end(self, now: datetime) -> str:
        return str(int(now.timestamp() * 1000))

    def pages(self, state: Mapping[str, Any], window_end: str) -> Iterator[Page]:
        hi = int(window_end)
        cursor = state.get("cursor")
        tiebreak = state.get("tiebreak")
        if cursor is not None and tiebreak is not None:
            # Resuming a run that stopped mid-window: exactly where its last page ended.
            yield from self._tie_group(int(cursor), str(tiebreak))
            low, op = int(cursor), "GT"
        else:
            low, op = max(0, int(cursor or 0) - self.lookback_ms), "GTE"
        yield from self._walk(low, op, hi)
        yield Page([], {"cursor": hi, "tiebreak": None})

    def _walk(self, low: int, op: str, hi: int) -> Iterator[Page]:
        after = 0
        last_ts: int | None = None
        while True:
            if after and after + self.limit > SEARCH_CAP and last_ts is not None:
                # The next page would cross the cap: drain the last timestamp's ties by id,
                # then start a fresh query after it.
                yield from self._tie_group(last_ts, "0")
                low, op, after = last_ts, "GT", 0
            filters = [_f(MODIFIED, op, low), _f(MODIFIED, "LTE", hi), *self.pushdown]
            body = self._search(filters, MODIFIED, after)
            records = _records(body)
            if records:
                last_ts = to_ms(records[-1].data.get("properties", {}).get(MODIFIED)) or low
            # Saved as (ts, "0"): a resume re-reads this timestamp's ties, never skips one.
            state = {"cursor": last_ts if last_ts is not None else low, "tiebreak": "0"}
            yield Page(records, state, total=body.get("total"))
            following = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not following or not records:
                return
            after = int(following)

    def _tie_group(self, ts: int, after_id: str) -> Iterator[Page]:
        last = after_id
        while True:
            filters = [_f(MODIFIED, "EQ", ts), _f(OBJECT_ID, "GT", last), *self.pushdown]
            records = _records(self._search(filters, OBJECT_ID, 0))
            if not records:
                return
            last = records[-1].source_id
            yield Page(records, {"cursor": ts, "tiebreak": last})
            if len(records) < self.limit:
                return

    def _search(self, filters: list[dict[str, Any]], sort: str, after: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
            "properties": self.properties,
            "limit": self.limit,
        }
        if after:
            body["after"] = str(after)
        answer = self.http.json("POST", self.url, headers=self.headers, json=body)
        return answer if isinstance(answer, dict) else {}


def _f(name: str, op: str, value: Any) -> dict[str, Any]:
    return {"propertyName": name, "operator": op, "value": str(value)}


def _pushdown(rule: Mapping[str, Any]) -> dict[str, Any]:
    name = str(rule["path"]).split(".", 1)[1]
    if rule["op"] == "in":
        return {"propertyName": name, "operator": "IN", "values": [str(v) for v in rule["value"]]}
    return _f(name, PUSHDOWN_OPS[rule["op"]], rule.get("value"))


def _records(body: Mapping[str, Any]) -> list[Record]:
    return [Record(str(item.get("id")), item) for item in body.get("results") or []
            if isinstance(item, Mapping) and item.get("id") is not None]


def wanted_properties(mapping: Sequence[Mapping[str, Any]], filters: Sequence[Mapping[str, Any]],
                      extra: Sequence[str]) -> list[str]:
    """Property names the mapping and filters read (`properties.<name>` paths)."""
    names = set(extra)
    paths: list[str] = [str(f["path"]) for f in filters]
    for entry in mapping:
        source = entry.get("from") or []
        paths.extend([source] if isinstance(source, str) else source)
    for path in paths:
        if path.startswith("properties."):
            names.add(path.split(".")[1].split("[")[0])
    return sorted(names)
