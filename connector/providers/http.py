"""The one place that talks HTTP: every upstream call becomes an `Exchange` value, not an exception.

Only this module catches `requests` errors (STYLE rule 8). It records whether the request may have
reached the upstream (`sent`), which is what decides between a retry and `in_doubt`.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urljoin

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from connector.security import redact, redact_headers, redact_url

TEXT_LIMIT_CHARS = 4096
"""`Exchange.text` keeps at most this much of the raw response (for messages and run records)."""

MAX_BODY_BYTES = 16 * 1024 * 1024
"""A response larger than this is abandoned with error "too_large" (a 500-contact page is ~1 MB)."""

POOL_MAXSIZE = 32
"""Keep-alive connections per host in one client; sized for the threads of one worker."""

POOL_HOSTS = 8
"""Hosts whose connection pools one client keeps (most workers talk to one or two upstreams)."""

MAX_REDIRECTS = 5
"""`fetch` follows at most this many redirects (file links often bounce to a CDN)."""

_CHUNK_BYTES = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

TRANSPORT_ERRORS = frozenset(
    {
        "dns_error",
        "connect_error",
        "connect_timeout",
        "read_timeout",
        "connection_dropped",
        "ssl_error",
        "too_large",
        "other",
    }
)


@dataclass(frozen=True, repr=False)
class Exchange:
    """One request and what came back: a status and body, or a transport `error`.

    `sent` is True when the request may have reached the upstream (so a side effect may have
    happened); `body` is the parsed JSON or None; `text` the raw answer, truncated (for a
    transport error: the exception's text). Headers and bodies may hold secrets: `repr()` leaves
    them out and `record()` redacts them.
    """

    method: str = "GET"
    url: str = ""
    request_headers: Mapping[str, str] = field(default_factory=dict)
    request_body: Any = None
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    text: str | None = None
    error: str | None = None
    sent: bool = False
    elapsed_ms: float = 0.0
    # Wall-clock epoch seconds when the answer arrived: the `now` for an absolute Retry-After.
    received_at: float | None = None

    def __repr__(self) -> str:
        return (
            f"Exchange(method={self.method!r}, url={_url_without_query(self.url)!r}, "
            f"status={self.status!r}, error={self.error!r}, sent={self.sent!r}, "
            f"elapsed_ms={self.elapsed_ms:.1f})"
        )

    def record(self, secrets: Iterable[str] = ()) -> dict[str, Any]:
        """A JSON-able view for the run record, with URL, headers and bodies redacted."""
        secrets = tuple(s for s in secrets if s)
        return {
            "method": self.method,
            "url": redact_url(self.url, secrets),
            "request_headers": redact_headers(self.request_headers, secrets),
            "request_body": redact(self.request_body, secrets),
            "status": self.status,
            "headers": redact_headers(self.headers, secrets),
            "body": redact(self.body if self.body is not None else self.text, secrets),
            "error": self.error,
            "sent": self.sent,
            "elapsed_ms": round(self.elapsed_ms, 1),
        }


@dataclass(frozen=True)
class FilePart:
    """One file of a multipart/form-data request; `repr()` and run records never show its bytes."""

    field_name: str
    filename: str
    content_type: str
    content: bytes = field(repr=False)

    def describe(self) -> dict[str, Any]:
        """What a run record keeps of the file: name, type and size."""
        return {"field": self.field_name, "filename": self.filename,
                "content_type": self.content_type, "size_bytes": len(self.content)}


@dataclass(frozen=True)
class Fetched:
    """A downloaded file: one exchange per hop (the last is the answer, with neither body nor
    text: bytes never go into a run record) and the bytes of a 2xx answer, else None."""

    exchanges: tuple[Exchange, ...]
    content: bytes | None = field(default=None, repr=False)

    @property
    def exchange(self) -> Exchange:
        return self.exchanges[-1]


class HttpClient:
    """A keep-alive `requests.Session` that turns every call into an `Exchange`.

    One client per worker process; its threads may share it (a `Session` with a sized connection
    pool is safe for that as long as nobody mutates its settings after construction).
    """

    def __init__(
        self,
        session: requests.Session | None = None,
        *,
        connect_timeout_s: float = 3.05,
        read_timeout_s: float = 30.0,
        user_agent: str = "wa-connector/0.1",
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        if session is None:
            session = requests.Session()
            # max_retries=0: urllib3 must never resend on its own; the engine decides (rule 8).
            adapter = HTTPAdapter(
                pool_connections=POOL_HOSTS, pool_maxsize=POOL_MAXSIZE, max_retries=0
            )
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            # With trust_env, requests reads the proxy variables (and ~/.netrc) from the
            # environment again on every request, ~0.5 ms of CPU a call. Without any proxy
            # variable there is nothing to find; with one, keep requests' own handling (it also
            # honours NO_PROXY per host).
            session.trust_env = bool(urllib.request.getproxies_environment())
        # Calls carry their own headers and nothing else: no cookie is ever kept, so a Laravel
        # session cookie one tenant sets never rides along to another tenant on the same host.
        session.cookies.set_policy(_NO_COOKIES)
        self._session = session
        self._timeout_s = (connect_timeout_s, read_timeout_s)
        self._max_body_bytes = max_body_bytes
        # Laravel renders HTML error pages unless the client asks for JSON (§1.2).
        self._default_headers = {"Accept": "application/json", "User-Agent": user_agent}

    def close(self) -> None:
        self._session.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Exchange:
        """Send one request; transport failures come back as `Exchange.error`, never raised."""
        request_headers = {**self._default_headers, **(headers or {})}
        started = time.monotonic()
        base = _Attempt(method.upper(), url, request_headers, json)
        try:
            prepared = _prepare(method.upper(), url, headers=request_headers, json=json,
                                params=dict(params) if params else None)
        except (requests.RequestException, ValueError) as exc:
            return base.failed("other", sent=False, started=started, detail=exc)
        base = _Attempt(method.upper(), prepared.url or url, request_headers, json)
        try:
            response = self._session.send(
                prepared, timeout=self._timeout_s, stream=True, allow_redirects=False
            )
        except requests.RequestException as exc:
            error, sent = _transport_error(exc)
            return base.failed(error, sent=sent, started=started, detail=exc)
        try:
            raw, too_large = self._read(response)
        except requests.RequestException as exc:
            error, _ = _transport_error(exc)
            # The status line arrived, so the request certainly reached the upstream.
            return base.failed(error, sent=True, started=started, detail=exc,
                               status=response.status_code, headers=response.headers)
        finally:
            response.close()
        if too_large:
            return base.failed("too_large", sent=True, started=started, detail=None,
                               status=response.status_code, headers=response.headers)
        text = _decode(raw, response.encoding)
        return Exchange(
            method=base.method,
            url=base.url,
            request_headers=request_headers,
            request_body=json,
            status=response.status_code,
            headers=dict(response.headers),
            body=_parse_json(text),
            text=text[:TEXT_LIMIT_CHARS],
            sent=True,
            elapsed_ms=(time.monotonic() - started) * 1000.0,
            received_at=time.time(),
        )

    def _read(self, response: requests.Response) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(_CHUNK_BYTES):
            size += len(chunk)
            if size > self._max_body_bytes:
                return b"", True
            chunks.append(chunk)
        return b"".join(chunks), False

    # `request` above keeps its own inline send-and-read: it is every action's hot path. The
    # rarer multipart and download paths share `_exchange` below.

    def request_form(
        self,
        method: str,
        url: str,
        *,
        files: Sequence[FilePart],
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Exchange:
        """Send one multipart/form-data request (`files` plus plain `data` fields).

        The exchange records each file's field, name, content type and size, never its bytes.
        """
        request_headers = {**self._default_headers, **(headers or {})}
        fields = dict(data or {})
        recorded = {"form": fields, "files": [part.describe() for part in files]}
        started = time.monotonic()
        base = _Attempt(method.upper(), url, request_headers, recorded)
        parts = [(p.field_name, (p.filename, p.content, p.content_type)) for p in files]
        try:
            prepared = _prepare(method.upper(), url, headers=request_headers, files=parts,
                                data=fields)
        except (requests.RequestException, ValueError) as exc:
            return base.failed("other", sent=False, started=started, detail=exc)
        exchange, _ = self._exchange(prepared, replace(base, url=prepared.url or url), started)
        return exchange

    def fetch(
        self,
        url: str,
        *,
        max_bytes: int,
        headers: Mapping[str, str] | None = None,
        max_redirects: int = MAX_REDIRECTS,
    ) -> Fetched:
        """GET a file as bytes: at most `max_bytes` (else error "too_large", read no further),
        following up to `max_redirects` redirects, each hop sent through this client's session
        (an SSRF-guarded session vets every hop; it raises `UnsafeUrl` for a refused one)."""
        request_headers = {**self._default_headers, "Accept": "*/*", **(headers or {})}
        exchanges: list[Exchange] = []
        for _ in range(max_redirects + 1):
            started = time.monotonic()
            base = _Attempt("GET", url, request_headers, None)
            try:
                prepared = _prepare("GET", url, headers=request_headers)
            except (requests.RequestException, ValueError) as exc:
                exchanges.append(base.failed("other", sent=False, started=started, detail=exc))
                break
            exchange, content = self._exchange(
                prepared, replace(base, url=prepared.url or url), started, download_cap=max_bytes)
            exchanges.append(exchange)
            location = _header(exchange.headers, "location")
            if exchange.status in _REDIRECTS and location:
                url = urljoin(exchange.url, location)
                continue
            return Fetched(tuple(exchanges), content)
        return Fetched(tuple(exchanges), None)

    def _exchange(
        self,
        prepared: requests.PreparedRequest,
        base: _Attempt,
        started: float,
        *,
        download_cap: int | None = None,
    ) -> tuple[Exchange, bytes | None]:
        """Send `prepared` and read the answer: JSON for an API call; raw bytes (the body only
        of a 2xx, at most `download_cap`) for a download, whose exchange then keeps no body."""
        try:
            response = self._session.send(
                prepared, timeout=self._timeout_s, stream=True, allow_redirects=False
            )
        except requests.RequestException as exc:
            error, sent = _transport_error(exc)
            return base.failed(error, sent=sent, started=started, detail=exc), None
        download = download_cap is not None
        cap = self._max_body_bytes if download_cap is None else download_cap
        wanted = not download or 200 <= response.status_code < 300
        declared = response.headers.get("Content-Length", "")
        try:
            if wanted and declared.isdigit() and int(declared) > cap:
                raw, too_large = b"", True
            else:
                raw, too_large = self._read_upto(response, cap) if wanted else (b"", False)
        except requests.RequestException as exc:
            error, _ = _transport_error(exc)
            return base.failed(error, sent=True, started=started, detail=exc,
                               status=response.status_code, headers=response.headers), None
        finally:
            response.close()
        if too_large:
            return base.failed("too_large", sent=True, started=started, detail=None,
                               status=response.status_code, headers=response.headers), None
        text = None if download else _decode(raw, response.encoding)
        exchange = Exchange(
            method=base.method,
            url=base.url,
            request_headers=base.request_headers,
            request_body=base.request_body,
            status=response.status_code,
            headers=dict(response.headers),
            body=None if text is None else _parse_json(text),
            text=None if text is None else text[:TEXT_LIMIT_CHARS],
            sent=True,
            elapsed_ms=(time.monotonic() - started) * 1000.0,
            received_at=time.time(),
        )
        return exchange, raw if download and wanted else None

    @staticmethod
    def _read_upto(response: requests.Response, max_bytes: int) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(_CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                return b"", True
            chunks.append(chunk)
        return b"".join(chunks), False


def _prepare(method: str, url: str, **parts: Any) -> requests.PreparedRequest:
    """The request exactly as given: unlike `Session.prepare_request`, nothing of the session
    (headers, auth, cookies, .netrc) is merged in; that merge cost ~0.1 ms a call and we set
    none of it."""
    prepared = requests.PreparedRequest()
    prepared.prepare(method=method, url=url, **parts)
    return prepared


class _RefuseCookies(http.cookiejar.DefaultCookiePolicy):
    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


_NO_COOKIES = _RefuseCookies()


@dataclass(frozen=True)
class _Attempt:
    method: str
    url: str
    request_headers: Mapping[str, str]
    request_body: Any

    def failed(
        self,
        error: str,
        *,
        sent: bool,
        started: float,
        detail: BaseException | None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Exchange:
        # The exception text names the host and the failure (never headers or bodies); it helps
        # an operator tell "connection refused" from "no route" in the run record.
        return Exchange(
            method=self.method,
            url=self.url,
            request_headers=self.request_headers,
            request_body=self.request_body,
            status=status,
            headers=dict(headers or {}),
            text=_describe(detail),
            error=error,
            sent=sent,
            elapsed_ms=(time.monotonic() - started) * 1000.0,
            received_at=time.time(),
        )


def _transport_error(exc: requests.RequestException) -> tuple[str, bool]:
    """Map a `requests` exception to (error kind, may the request have reached the upstream)."""
    if isinstance(exc, requests.ConnectTimeout):
        return "connect_timeout", False
    if isinstance(exc, requests.ReadTimeout):
        return "read_timeout", True
    if isinstance(exc, requests.exceptions.SSLError):
        return "ssl_error", False  # the TLS handshake precedes the request bytes
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection_dropped", True
    if isinstance(exc, requests.ConnectionError):
        return _connection_error(exc)
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return "other", True
    return "other", False


def _connection_error(exc: requests.ConnectionError) -> tuple[str, bool]:
    reason: Any = exc.args[0] if exc.args else None
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    if isinstance(reason, urllib3.exceptions.NameResolutionError):
        return "dns_error", False
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        return "connect_error", False  # refused / unreachable: nothing was written
    if isinstance(reason, urllib3.exceptions.ConnectTimeoutError):
        return "connect_timeout", False
    if isinstance(reason, urllib3.exceptions.ReadTimeoutError):
        return "read_timeout", True
    if isinstance(reason, urllib3.exceptions.ProtocolError):
        # "Connection aborted." wraps RemoteDisconnected / ConnectionResetError / BrokenPipeError:
        # the connection died after the request was (at least partly) written.
        return "connection_dropped", True
    if isinstance(reason, http.client.RemoteDisconnected | ConnectionResetError):
        return "connection_dropped", True
    # Anything else (e.g. a closed pool) is not known to precede sending: assume it may have.
    return "other", True


def _decode(raw: bytes, charset: str | None) -> str:
    """The answer as text; a charset Python doesn't know (a misconfigured proxy) reads as
    UTF-8 rather than failing a call whose request has already left."""
    try:
        return raw.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


def _parse_json(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json can go
        return None


def _describe(detail: BaseException | None) -> str | None:
    if detail is None:
        return None
    return f"{type(detail).__name__}: {detail}"[:TEXT_LIMIT_CHARS]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None


def _url_without_query(url: str) -> str:
    return url.split("?", 1)[0]
