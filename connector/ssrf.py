"""SSRF guard for user-supplied URLs (webhook targets, REST-hook subscriptions, sync sources).

Blocks non-public addresses (reliability.md §2.6) both when a URL is accepted (`check_url`) and
when a socket is opened (`guarded_session`): checking only at acceptance is a TOCTOU hole that
DNS rebinding walks through.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

import requests
from requests.adapters import DEFAULT_POOLBLOCK, HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.poolmanager import PoolManager
from urllib3.util import connection as urllib3_connection
from urllib3.util import parse_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., list[tuple[Any, ...]]]

ALLOWED_SCHEMES = frozenset({"http", "https"})

# (network, reason) checked in order; the reason is the user-facing category. `is_global` below
# catches whatever IANA special-purpose range this table does not name.
_BLOCKED: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.ip_network(cidr), reason)
    for cidr, reason in (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared (CGNAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local (cloud metadata)"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "documentation"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "IPv4-compatible"),
        ("64:ff9b:1::/48", "local NAT64"),
        ("100::/64", "discard"),
        ("2001::/23", "reserved"),
        ("2001:db8::/32", "documentation"),
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)
# IPv6 ranges that carry an IPv4 address in their low 32 bits: judged by that address.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# A host made only of numeric labels (`2130706433`, `0x7f.1`, `0177.0.0.1`): resolvers read
# these as IPv4 in legacy inet_aton forms. Only the canonical dotted quad is accepted.
_NUMERIC_LABEL = r"(0x[0-9a-f]*|[0-9]+)"
_NUMERIC_HOST = re.compile(rf"^{_NUMERIC_LABEL}(\.{_NUMERIC_LABEL})*$", re.IGNORECASE)


class UnsafeUrl(Exception):
    """A URL we refuse to call. `str()` is a user-facing message; `reason` is a stable slug."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class SsrfGuard:
    """Decides whether a URL or an address may be called.

    `allow_networks` are CIDRs (``"127.0.0.0/8"``) or exact host names (``"sandbox"``) that an
    operator trusts, e.g. the local sandbox in development. `resolve` is `socket.getaddrinfo`
    unless a test passes another.
    """

    def __init__(
        self, allow_networks: Sequence[str] = (), *, resolve: Resolver = socket.getaddrinfo
    ) -> None:
        if isinstance(allow_networks, str):
            allow_networks = [part for part in allow_networks.split(",") if part.strip()]
        networks = []
        hosts = set()
        for entry in allow_networks:
            entry = entry.strip()
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if not entry or "/" in entry or " " in entry:
                    raise ValueError(
                        f"allow_networks entry {entry!r} is neither a CIDR nor a host name"
                    ) from None
                hosts.add(entry.lower().rstrip("."))
        self._networks = tuple(networks)
        self._hosts = frozenset(hosts)
        self._resolve = resolve

    def __repr__(self) -> str:
        allowed = [str(n) for n in self._networks] + sorted(self._hosts)
        return f"SsrfGuard(allow_networks={allowed!r})"

    def check_url(self, url: str) -> list[IPAddress]:
        """Parse, resolve and vet `url`; return its addresses or raise `UnsafeUrl`."""
        host, port = self.check_syntax(url)
        return self.resolve(host, port)

    def check_syntax(self, url: str) -> tuple[str, int]:
        """The checks that need no DNS: scheme, userinfo, host spelling. Returns (host, port)."""
        try:
            # Vet the URL exactly as requests will send it (IDNA-encoded host, escaped
            # backslashes), parsed by the parser requests uses, so no parser differential
            # separates the host we check from the host it connects to.
            prepared = requests.PreparedRequest()
            prepared.prepare_url(url, None)
            parts = parse_url(prepared.url or "")
        except ValueError:
            raise UnsafeUrl("The URL is not valid.", reason="invalid") from None
        scheme = (parts.scheme or "").lower()
        if scheme not in ALLOWED_SCHEMES:
            raise UnsafeUrl("Only http and https URLs are allowed.", reason="scheme")
        if parts.auth is not None:
            raise UnsafeUrl(
                "URLs with credentials (user:password@) are not allowed; send them in a header.",
                reason="userinfo",
            )
        host = (parts.host or "").strip("[]").rstrip(".").lower()
        if not host:
            raise UnsafeUrl("The URL has no host.", reason="invalid")
        if _NUMERIC_HOST.match(host) and not _is_canonical_ipv4(host):
            raise UnsafeUrl(
                "Write IP addresses in dotted decimal form (a.b.c.d).", reason="ip_spelling"
            )
        return host, parts.port or (443 if scheme == "https" else 80)

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Resolve `host` and vet every address; raise `UnsafeUrl` if any one is refused.

        Raises `socket.gaierror` when the name does not resolve, so callers can tell a DNS
        failure (worth a retry) from a refusal (never retried).
        """
        try:
            infos = self._resolve(host, port, 0, socket.SOCK_STREAM)
        except UnicodeError:
            raise UnsafeUrl("The URL has no valid host.", reason="invalid") from None
        addresses: list[IPAddress] = []
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "no addresses")
        for address in addresses:
            self.check_ip(address, host=host)
        return addresses

    def check_ip(self, address: IPAddress | str, *, host: str | None = None) -> None:
        """Raise `UnsafeUrl` unless `address` is public, allowed, or `host` is an allowed name."""
        if host is not None and host.lower().rstrip(".") in self._hosts:
            return
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        reason = self._blocked_reason(ip)
        if reason is not None:
            raise UnsafeUrl(
                f"The URL points to a non-public address ({reason}); only public addresses "
                "are allowed.",
                reason="address",
            )

    def _blocked_reason(self, ip: IPAddress) -> str | None:
        if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        if any(ip in network for network in self._networks):
            return None
        if isinstance(ip, ipaddress.IPv6Address):
            embedded = ip.ipv4_mapped or ip.sixtofour or (
                ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None
            )
            if embedded is not None:
                return self._blocked_reason(embedded)
        for network, reason in _BLOCKED:
            if ip in network:
                return reason
        return None if ip.is_global else "reserved"


def _is_canonical_ipv4(host: str) -> bool:
    try:
        return str(ipaddress.IPv4Address(host)) == host
    except ValueError:
        return False


# --- connect-time enforcement ----------------------------------------------------------------


class _GuardedConnectionMixin:
    """Resolves and vets the host itself, then connects to exactly the vetted address.

    `self.host` is left alone, so the Host header, TLS SNI and certificate hostname check still
    use the name from the URL; only the socket's target is pinned.
    """

    def __init__(self, *args: Any, ssrf_guard: SsrfGuard, **kwargs: Any) -> None:
        self._ssrf_guard = ssrf_guard
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        conn: Any = self  # the HTTPConnection this mixin is combined with
        try:
            addresses = self._ssrf_guard.resolve(conn._dns_host.rstrip("."), conn.port)
        except socket.gaierror as error:
            raise NameResolutionError(conn.host, conn, error) from error
        failure: Exception | None = None
        # Same error mapping as urllib3's own `_new_conn`, so requests reports a refused or
        # timed-out connect exactly as it would without the guard.
        for address in addresses:
            try:
                sock = urllib3_connection.create_connection(
                    (str(address), conn.port),
                    conn.timeout,
                    source_address=conn.source_address,
                    socket_options=conn.socket_options,
                )
            except TimeoutError as error:
                failure = ConnectTimeoutError(
                    conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
                )
                failure.__cause__ = error
            except OSError as error:
                failure = NewConnectionError(conn, f"Failed to establish a new connection: {error}")
                failure.__cause__ = error
            else:
                sys.audit("http.client.connect", conn, conn.host, conn.port)
                return sock
        assert failure is not None
        raise failure


class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedPoolManager(PoolManager):
    def __init__(self, *args: Any, ssrf_guard: SsrfGuard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ssrf_guard = ssrf_guard

    def _new_pool(
        self, scheme: str, host: str, port: int, request_context: dict[str, Any] | None = None
    ) -> HTTPConnectionPool:
        # urllib3 documents `_new_pool` as the hook "intended to be overridden for customization".
        pool = super()._new_pool(scheme, host, port, request_context)
        secure = scheme == "https"
        pool.ConnectionCls = _GuardedHTTPSConnection if secure else _GuardedHTTPConnection
        pool.conn_kw["ssrf_guard"] = self._ssrf_guard
        return pool


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, guard: SsrfGuard, **kwargs: Any) -> None:
        self._ssrf_guard = guard  # before super().__init__, which builds the pool manager
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = DEFAULT_POOLBLOCK, **pool_kwargs: Any
    ) -> None:
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = _GuardedPoolManager(
            num_pools=connections, maxsize=maxsize, block=block,
            ssrf_guard=self._ssrf_guard, **pool_kwargs,
        )

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # A proxy resolves the target itself, out of our sight.
        raise UnsafeUrl("Requests through a proxy are not allowed here.", reason="proxy")

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        self._ssrf_guard.check_syntax(request.url or "")
        return super().send(request, *args, **kwargs)


class _NoRedirectSession(requests.Session):
    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        # Each hop would be vetted again, but a webhook target answering 3xx has failed (Standard
        # Webhooks, reliability.md §2.1), and a sync source must not bounce us elsewhere.
        # (`max_redirects = 0` is no substitute: requests then raises TooManyRedirects even with
        # allow_redirects=False, while it prepares `response.next`.)
        kwargs["allow_redirects"] = False
        return super().send(request, **kwargs)


def guarded_session(guard: SsrfGuard, **adapter_kwargs: Any) -> requests.Session:
    """A `requests.Session` that only ever connects to addresses `guard` accepts.

    Every new connection resolves the host, vets all addresses and connects to a vetted one
    (no second lookup to rebind). Redirects are never followed: a 3xx comes back as the response.
    Environment proxies and .netrc are ignored, and an explicit proxy is refused. A refused URL
    raises `UnsafeUrl`, which is not a requests error: classify it as invalid, never retry it.
    `adapter_kwargs` go to `HTTPAdapter` (pool sizes, `max_retries`).
    """
    session = _NoRedirectSession()
    session.trust_env = False
    adapter = _GuardedAdapter(guard, **adapter_kwargs)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
