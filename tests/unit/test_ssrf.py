"""connector.ssrf: which URLs and addresses the guard refuses, at check time and at connect time.

Only literal IPs and `localhost` are used, so no test needs external DNS. The few tests that open
sockets talk to HTTP(S) servers on 127.0.0.1 that the test itself starts.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connector.ssrf import SsrfGuard, UnsafeUrl, guarded_session

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"

REFUSED = [
    # schemes and userinfo
    pytest.param("ftp://93.184.216.34/", "scheme", id="ftp"),
    pytest.param("file:///etc/passwd", "scheme", id="file"),
    pytest.param("gopher://93.184.216.34:70/", "scheme", id="gopher"),
    pytest.param("javascript:alert(1)", "scheme", id="javascript"),
    pytest.param("http://user:pw@93.184.216.34/", "userinfo", id="userinfo"),
    pytest.param("http://user@93.184.216.34/", "userinfo", id="username-only"),
    pytest.param("http://93.184.216.34 @127.0.0.1/", "userinfo", id="space-before-at"),
    pytest.param("http:///path", "invalid", id="no-host"),
    pytest.param("not a url", "invalid", id="garbage"),
    pytest.param("http://127.0.0.1:99999/", "invalid", id="bad-port"),
    # IPv4 special ranges
    pytest.param("http://127.0.0.1/", "address", id="loopback"),
    pytest.param("http://127.255.255.254:8080/", "address", id="loopback-range"),
    pytest.param("http://localhost/", "address", id="localhost"),
    pytest.param("http://LOCALHOST./", "address", id="localhost-fqdn-upper"),
    pytest.param("http://0.0.0.0/", "address", id="unspecified"),
    pytest.param("http://10.1.2.3/", "address", id="private-10"),
    pytest.param("http://172.16.0.1/", "address", id="private-172"),
    pytest.param("http://172.31.255.255/", "address", id="private-172-top"),
    pytest.param("http://192.168.1.1/", "address", id="private-192"),
    pytest.param("http://169.254.169.254/latest/meta-data/", "address", id="metadata"),
    pytest.param("http://169.254.1.1/", "address", id="link-local"),
    pytest.param("http://100.64.0.1/", "address", id="cgnat"),
    pytest.param("http://100.127.255.254/", "address", id="cgnat-top"),
    pytest.param("http://198.18.0.1/", "address", id="benchmark"),
    pytest.param("http://198.19.255.254/", "address", id="benchmark-top"),
    pytest.param("http://224.0.0.1/", "address", id="multicast"),
    pytest.param("http://240.0.0.1/", "address", id="reserved"),
    pytest.param("http://255.255.255.255/", "address", id="broadcast"),
    pytest.param("http://192.0.2.1/", "address", id="documentation"),
    # IPv6
    pytest.param("http://[::1]/", "address", id="v6-loopback"),
    pytest.param("http://[::]/", "address", id="v6-unspecified"),
    pytest.param("http://[fc00::1]/", "address", id="v6-ula-fc"),
    pytest.param("http://[fd12:3456:789a::1]/", "address", id="v6-ula-fd"),
    pytest.param("http://[fe80::1]/", "address", id="v6-link-local"),
    pytest.param("http://[ff02::1]/", "address", id="v6-multicast"),
    pytest.param("http://[::ffff:127.0.0.1]/", "address", id="v4-mapped-loopback"),
    pytest.param("http://[::ffff:7f00:1]/", "address", id="v4-mapped-hex"),
    pytest.param("http://[::ffff:169.254.169.254]/", "address", id="v4-mapped-metadata"),
    pytest.param("http://[::ffff:10.0.0.1]/", "address", id="v4-mapped-private"),
    pytest.param("http://[::127.0.0.1]/", "address", id="v4-compatible"),
    pytest.param("http://[64:ff9b::7f00:1]/", "address", id="nat64-loopback"),
    pytest.param("http://[2002:7f00:1::]/", "address", id="6to4-loopback"),
    pytest.param("http://[2001:db8::1]/", "address", id="v6-documentation"),
    # legacy IPv4 spellings that resolvers read as 127.0.0.1
    pytest.param("http://2130706433/", "ip_spelling", id="decimal"),
    pytest.param("http://0x7f.1/", "ip_spelling", id="hex-short"),
    pytest.param("http://0x7f000001/", "ip_spelling", id="hex"),
    pytest.param("http://0177.0.0.1/", "ip_spelling", id="octal"),
    pytest.param("http://127.1/", "ip_spelling", id="short-form"),
    pytest.param("http://0/", "ip_spelling", id="zero"),
]


@pytest.mark.parametrize("url, reason", REFUSED)
def test_check_url_refuses(url, reason):
    with pytest.raises(UnsafeUrl) as info:
        SsrfGuard().check_url(url)
    assert info.value.reason == reason
    assert str(info.value)  # a user-facing sentence


@pytest.mark.parametrize(
    "url, expected",
    [
        pytest.param(f"http://{PUBLIC_V4}/", [PUBLIC_V4], id="public-v4"),
        pytest.param(f"https://{PUBLIC_V4}:8443/hook?x=1", [PUBLIC_V4], id="public-v4-port"),
        pytest.param(f"HTTPS://{PUBLIC_V4}/", [PUBLIC_V4], id="upper-scheme"),
        pytest.param(f"http://[{PUBLIC_V6}]/", [PUBLIC_V6], id="public-v6"),
        pytest.param(f"http://[::ffff:{PUBLIC_V4}]/", [f"::ffff:{PUBLIC_V4}"],
                     id="v4-mapped-public"),
        pytest.param("http://8.8.8.8/", ["8.8.8.8"], id="public-dns"),
    ],
)
def test_check_url_accepts_public_addresses(url, expected):
    assert SsrfGuard().check_url(url) == [ipaddress.ip_address(ip) for ip in expected]


@pytest.mark.parametrize(
    "allow, url",
    [
        pytest.param(["127.0.0.0/8"], "http://127.0.0.1:5001/", id="loopback-cidr"),
        pytest.param(["127.0.0.0/8"], "http://[::ffff:127.0.0.1]/", id="mapped-in-cidr"),
        pytest.param(["10.0.0.0/8", "192.168.0.0/16"], "http://192.168.5.5/", id="second-cidr"),
        pytest.param(["10.1.2.3"], "http://10.1.2.3/", id="single-address"),
        pytest.param(["fd00::/8"], "http://[fd00::5]/", id="ula-cidr"),
        pytest.param(["localhost"], "http://localhost:5001/", id="hostname"),
        pytest.param("127.0.0.0/8,10.0.0.0/8", "http://10.0.0.9/", id="comma-string"),
    ],
)
def test_allowed_networks_let_operators_reach_internal_hosts(allow, url):
    assert SsrfGuard(allow).check_url(url)


@pytest.mark.parametrize(
    "allow, url",
    [
        pytest.param(["127.0.0.0/8"], "http://10.0.0.1/", id="other-range"),
        pytest.param(["127.0.0.1/32"], "http://127.0.0.2/", id="outside-cidr"),
        pytest.param(["sandbox"], "http://localhost/", id="other-hostname"),
        pytest.param(["127.0.0.0/8"], "http://2130706433/", id="spelling-still-refused"),
        pytest.param(["127.0.0.0/8"], "file:///etc/passwd", id="scheme-still-refused"),
    ],
)
def test_allowed_networks_do_not_open_anything_else(allow, url):
    with pytest.raises(UnsafeUrl):
        SsrfGuard(allow).check_url(url)


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "a b", ""])
def test_guard_rejects_malformed_allow_entries(entry):
    with pytest.raises(ValueError):
        SsrfGuard([entry])


@pytest.mark.parametrize("spelling", ["2130706433", "0x7f.1", "0177.0.0.1", "127.1"])
def test_the_resolver_itself_reads_legacy_spellings_as_loopback(spelling):
    """Why the spelling check exists: glibc's getaddrinfo turns these into 127.0.0.1."""
    infos = socket.getaddrinfo(spelling, 80, 0, socket.SOCK_STREAM)
    assert {info[4][0] for info in infos} == {"127.0.0.1"}


def _resolver(*answers):
    """A getaddrinfo stand-in returning one answer list per call (the last one repeats)."""
    calls = []

    def resolve(host, port, family=0, type=0, proto=0, flags=0):
        ips = answers[min(len(calls), len(answers) - 1)]
        calls.append(host)
        return [
            (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "",
             (ip, port))
            for ip in ips
        ]

    resolve.calls = calls
    return resolve


def test_a_name_resolving_to_any_private_address_is_refused():
    guard = SsrfGuard(resolve=_resolver([PUBLIC_V4, "10.0.0.1"]))
    with pytest.raises(UnsafeUrl):
        guard.check_url("http://mixed.example/")


def test_an_unresolvable_name_raises_gaierror_not_unsafe_url():
    guard = SsrfGuard(resolve=_resolver([]))
    with pytest.raises(socket.gaierror):
        guard.check_url("http://nowhere.example/")


def test_refusal_message_names_the_category_not_the_address():
    guard = SsrfGuard(resolve=_resolver(["10.9.8.7"]))
    with pytest.raises(UnsafeUrl) as info:
        guard.check_url("http://intranet.example/")
    assert "private" in str(info.value) and "10.9.8.7" not in str(info.value)


# --- guarded_session -------------------------------------------------------------------------


def test_session_refuses_before_connecting():
    with guarded_session(SsrfGuard()) as session, pytest.raises(UnsafeUrl) as info:
        session.get("http://127.0.0.1:9/", timeout=1)
    assert info.value.reason == "address"


def test_session_refuses_bad_schemes_and_userinfo_before_resolving():
    resolve = _resolver([PUBLIC_V4])
    with guarded_session(SsrfGuard(resolve=resolve)) as session:
        with pytest.raises(UnsafeUrl):
            session.get("http://u:p@public.example/", timeout=1)
        with pytest.raises(UnsafeUrl):
            session.get("http://0x7f.1/", timeout=1)
    assert resolve.calls == []


def test_session_defeats_dns_rebinding():
    """The name is public when checked and private when connecting: the connect is refused."""
    resolve = _resolver([PUBLIC_V4], ["127.0.0.1"])
    guard = SsrfGuard(resolve=resolve)
    assert guard.check_url("http://rebind.example/") == [ipaddress.ip_address(PUBLIC_V4)]
    with guarded_session(guard) as session, pytest.raises(UnsafeUrl):
        session.get("http://rebind.example/", timeout=1)
    assert resolve.calls == ["rebind.example", "rebind.example"]


def test_session_refuses_proxies():
    with guarded_session(SsrfGuard()) as session, pytest.raises(UnsafeUrl) as info:
        session.get(f"http://{PUBLIC_V4}/", proxies={"http": "http://10.0.0.1:3128"}, timeout=1)
    assert info.value.reason == "proxy"


def test_session_ignores_environment_proxies_and_netrc():
    session = guarded_session(SsrfGuard())
    assert session.trust_env is False
    session.close()


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/")
            self.end_headers()
            return
        body = self.headers["Host"].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def test_session_connects_to_the_vetted_address_and_keeps_the_host_header(local_server):
    port = local_server
    resolve = _resolver(["127.0.0.1"])
    guard = SsrfGuard(["sandbox.test"], resolve=resolve)
    with guarded_session(guard) as session:
        response = session.get(f"http://sandbox.test:{port}/", timeout=5)
    assert response.status_code == 200
    assert response.text == f"sandbox.test:{port}"
    assert resolve.calls == ["sandbox.test"]


@pytest.mark.parametrize("allow_redirects", [True, False])
def test_session_returns_a_redirect_instead_of_following_it(local_server, allow_redirects):
    guard = SsrfGuard(["127.0.0.0/8"])
    with guarded_session(guard) as session:
        response = session.get(
            f"http://127.0.0.1:{local_server}/redirect", allow_redirects=allow_redirects, timeout=5
        )
    assert response.status_code == 302 and response.history == []


def test_session_reports_a_refused_connection_as_a_requests_connection_error():
    guard = SsrfGuard(["127.0.0.0/8"])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with guarded_session(guard) as session, pytest.raises(requests.ConnectionError):
        session.get(f"http://127.0.0.1:{closed_port}/", timeout=5)


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS echo server on 127.0.0.1 with a self-signed certificate for `sandbox.test`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sandbox.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("sandbox.test")]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    server_names = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    context.sni_callback = lambda sock, server_name, ctx: server_names.append(server_name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], str(cert_path), server_names
    server.shutdown()
    server.server_close()
    thread.join()


def test_https_keeps_sni_and_certificate_checks_on_the_host_name(tls_server):
    port, ca_bundle, server_names = tls_server
    guard = SsrfGuard(["sandbox.test"], resolve=_resolver(["127.0.0.1"]))
    with guarded_session(guard) as session:
        response = session.get(f"https://sandbox.test:{port}/", verify=ca_bundle, timeout=5)
    assert response.text == f"sandbox.test:{port}"
    assert server_names == ["sandbox.test"]


def test_https_to_a_pinned_address_still_fails_a_certificate_for_another_name(tls_server):
    port, ca_bundle, _ = tls_server
    guard = SsrfGuard(["127.0.0.0/8"], resolve=_resolver(["127.0.0.1"]))
    with guarded_session(guard) as session, pytest.raises(requests.exceptions.SSLError):
        session.get(f"https://127.0.0.1:{port}/", verify=ca_bundle, timeout=5)
