"""Requests to a source: paced by the rate governor, 429s waited out, transient errors retried.

Every source URL is user-supplied, so requests go through the SSRF-guarded session. A 429 makes
the governor refuse the source's key for the announced wait (or a backoff when the source,
like HubSpot, announces none), so the run slows down instead of failing.
"""

from __future__ import annotations

import base64
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from connector.engine.backoff import backoff
from connector.engine.classify import classify
from connector.engine.governor import GovernorWait, RateGovernor
from connector.engine.outcome import OutcomeKind
from connector.providers.http import Exchange, HttpClient
from connector.ssrf import UnsafeUrl
from connector.sync.source import SourceError

log = logging.getLogger(__name__)

MAX_THROTTLED = 50
"""429s tolerated in a row for one request before the run gives up."""

THROTTLE_BASE_S = 1.0
THROTTLE_CAP_S = 30.0


@dataclass
class Pace:
    """The source's own rate limit, enforced by the shared governor under `key`."""

    key: str
    limit: int | None = None
    window_s: float = 1.0


@dataclass
class SourceHttp:
    http: HttpClient
    governor: RateGovernor
    pace: Pace
    max_attempts: int = 5
    retry_base_s: float = 0.5
    retry_cap_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    requests: int = 0
    throttled: int = 0
    # The `Link: <...>; rel="next"` target of the last successful answer (link_header paging).
    last_link_next: str | None = None

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """The parsed JSON answer of a successful request, else `SourceError`."""
        attempt = throttles = 0
        while True:
            self._wait_for_slot()
            exchange = self._send(method, url, **kwargs)
            outcome = classify(exchange, side_effect=False)
            if outcome.ok:
                self.last_link_next = _link_next(exchange.headers)
                return exchange.body
            if outcome.kind is OutcomeKind.THROTTLED and throttles < MAX_THROTTLED:
                throttles += 1
                self.throttled += 1
                wait = outcome.retry_after_s or backoff(
                    throttles, base_s=THROTTLE_BASE_S, cap_s=THROTTLE_CAP_S, rng=self.rng)
                # The host only: a query string or a next-page URL may carry a key.
                log.info("sync.source_throttled",
                         extra={"wait_s": wait, "host": urlsplit(url).hostname})
                self.governor.penalize(self.pace.key, wait)
                continue
            if outcome.kind is OutcomeKind.TRANSIENT and attempt + 1 < self.max_attempts:
                attempt += 1
                self.sleep(backoff(attempt, base_s=self.retry_base_s, cap_s=self.retry_cap_s,
                                   rng=self.rng))
                continue
            raise SourceError(outcome.kind, f"the source answered: {outcome.message}")

    def _send(self, method: str, url: str, **kwargs: Any) -> Exchange:
        self.requests += 1
        try:
            return self.http.request(method, url, **kwargs)
        except UnsafeUrl as unsafe:
            raise SourceError(OutcomeKind.INVALID, f"the source URL is not allowed: {unsafe}") \
                from None

    def _wait_for_slot(self) -> None:
        # Blocking is right here: a sync job has nothing else to do, and the governor also
        # holds the 429 penalty, so this is where a throttled run slows down.
        while True:
            try:
                self.governor.acquire(self.pace.key, self.pace.limit or 1_000_000,
                                      self.pace.window_s, max_wait_s=THROTTLE_CAP_S,
                                      sleep=self.sleep)
                return
            except GovernorWait as wait:
                self.sleep(min(wait.wait_s, THROTTLE_CAP_S))


def headers_for_auth(auth: Mapping[str, Any] | None,
                     secrets: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, query params) for a `rest_auth` object and its decrypted secrets."""
    kind = (auth or {}).get("kind", "none")
    name = str((auth or {}).get("name") or "")
    token = secrets.get("auth.token", "")
    if kind == "bearer":
        return {"Authorization": f"Bearer {token}"}, {}
    if kind == "header":
        return {name: token}, {}
    if kind == "query":
        return {}, {name: token}
    if kind == "basic":
        pair = f"{(auth or {}).get('username') or ''}:{secrets.get('auth.password', '')}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}, {}
    return {}, {}


def _link_next(headers: Mapping[str, str]) -> str | None:
    value = next((v for k, v in headers.items() if k.lower() == "link"), None)
    for link in requests.utils.parse_header_links(value) if value else ():
        if link.get("rel") == "next" and link.get("url"):
            return str(link["url"])
    return None
