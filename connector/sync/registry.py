"""Source adapters by kind, from one explicit table, and the paced HTTP they share."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import requests

from connector.engine.outcome import OutcomeKind
from connector.providers.http import HttpClient
from connector.redis_keys import sync_source_pace_key
from connector.runtime import Runtime
from connector.ssrf import SsrfGuard, UnsafeUrl
from connector.store import syncs as store
from connector.store.sync_models import Sync
from connector.sync.csv_source import CsvSource, text_lines
from connector.sync.fetch import Pace, SourceHttp, headers_for_auth
from connector.sync.hubspot import HubSpotSource, wanted_properties
from connector.sync.pipedrive import PipedriveSource
from connector.sync.rest_json import RestJsonSource
from connector.sync.source import Source, SourceError

# When a definition names no rate limit: under HubSpot's 100/10 s and Pipedrive's burst limit.
DEFAULT_PACE: Mapping[str, tuple[int, float]] = {
    "hubspot": (90, 10.0), "pipedrive": (20, 2.0), "rest_json": (10, 1.0), "csv": (10, 1.0)}
CSV_CHUNK_BYTES = 64 * 1024


def source_http(rt: Runtime, sync_id: str, source: Mapping[str, Any],
                session: requests.Session, *, sleep: Callable[[float], None] = time.sleep,
                rng: random.Random | None = None) -> SourceHttp:
    limit, window = DEFAULT_PACE.get(str(source["kind"]), (10, 1.0))
    if source.get("rate_limit"):
        limit, window = int(source["rate_limit"]["max"]), float(source["rate_limit"]["window_s"])
    http = HttpClient(session, connect_timeout_s=rt.settings.http_connect_timeout_s,
                      read_timeout_s=rt.settings.http_read_timeout_s)
    return SourceHttp(http, rt.governor, Pace(sync_source_pace_key(sync_id), limit, window),
                      max_attempts=rt.settings.retry_max_attempts,
                      retry_base_s=rt.settings.retry_base_s, retry_cap_s=rt.settings.retry_cap_s,
                      sleep=sleep, rng=rng or random.Random())


def build_source(rt: Runtime, sync: Sync, definition: Mapping[str, Any],
                 secrets: Mapping[str, str], mapping: list[dict[str, Any]], http: SourceHttp,
                 guard: SsrfGuard) -> Source:
    config = definition["source"]
    kind = config["kind"]
    if kind == "hubspot":
        props = wanted_properties(mapping, definition.get("filters") or [],
                                  config.get("properties") or [])
        return HubSpotSource(config, secrets.get("token", ""), http, properties=props,
                             filters=definition.get("filters") or [])
    if kind == "pipedrive":
        return PipedriveSource(config, secrets.get("token", ""), http)
    if kind == "rest_json":
        return RestJsonSource(config, secrets, http)
    phone = next((m for m in mapping if m["to"] == "phone"), {})
    paths = phone.get("from") or [""]
    id_column = config.get("id_column") or (paths if isinstance(paths, str) else paths[0])
    if config.get("url"):
        return CsvSource(config, lambda: _url_lines(rt, config, secrets, guard), id_column)
    return CsvSource(config, lambda: _upload_lines(rt, sync.id), id_column)


def _upload_lines(rt: Runtime, sync_id: str) -> Iterable[str]:
    upload = store.get_upload(rt.db, sync_id)
    if upload is None:
        raise SourceError(OutcomeKind.INVALID, "no CSV file uploaded yet: PUT /v1/syncs/"
                                               f"{sync_id}/file first")
    return text_lines(upload.content)


def _url_lines(rt: Runtime, config: Mapping[str, Any], secrets: Mapping[str, str],
               guard: SsrfGuard) -> Iterable[str]:
    """Stream the file: a line at a time, never the whole body in memory."""
    from connector.ssrf import guarded_session

    headers, params = headers_for_auth(config.get("auth"), secrets)
    session = guarded_session(guard)
    try:
        response = session.get(str(config["url"]), headers=headers, params=params, stream=True,
                               timeout=(rt.settings.http_connect_timeout_s,
                                        rt.settings.http_read_timeout_s))
    except UnsafeUrl as unsafe:
        raise SourceError(OutcomeKind.INVALID, f"the CSV URL is not allowed: {unsafe}") \
            from None
    except requests.RequestException as exc:
        raise SourceError(OutcomeKind.TRANSIENT, f"the CSV URL could not be read: {exc}") \
            from None
    if response.status_code != 200:
        response.close()
        raise SourceError(OutcomeKind.INVALID if response.status_code < 500
                          else OutcomeKind.TRANSIENT,
                          f"the CSV URL answered HTTP {response.status_code}")
    response.encoding = response.encoding or "utf-8"
    return _closing_lines(response)


def _closing_lines(response: requests.Response) -> Iterable[str]:
    try:
        for line in response.iter_lines(chunk_size=CSV_CHUNK_BYTES, decode_unicode=True):
            yield (line if isinstance(line, str) else line.decode("utf-8")) + "\n"
    finally:
        response.close()
