"""`SandboxServer`: the sandbox on a real socket, in a daemon thread, for tests and benchmarks.

A threaded werkzeug server: injected latency sleeps in its own request thread. The request handler
treats a connection the app dropped (`transport.DropConnection`) as finished, so the client sees
the socket close with no answer.
"""

from __future__ import annotations

import http.client
import io
import socket
import threading
import time
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wsgi import LimitedStream

from connector.sandbox.app import create_app
from connector.sandbox.state import EXTENSION_KEY, Store
from connector.sandbox.transport import RECEIVED_AT_KEY

READY_TIMEOUT_S = 5.0
READY_POLL_S = 0.01
IDLE_TIMEOUT_S = 120.0


class _Handler(WSGIRequestHandler):
    """Werkzeug's request handler, with keep-alive like the web server in front of a tenant.

    Werkzeug's dev server closes every connection: after each response it reads whatever is
    left on the socket, which on a kept-alive connection would be the next request. Here the
    app reads the body through a stream bounded by Content-Length, werkzeug's leftover read
    sees an empty buffer, and whatever the app left of the body is skipped before the next
    request line. A request without Content-Length (chunked) or a dropped connection (fault
    injection) still ends the connection; idle connections close after `timeout` seconds.
    """

    quiet = True
    timeout = IDLE_TIMEOUT_S

    def setup(self) -> None:
        super().setup()
        # As nginx does on kept-alive connections (`tcp_nodelay on`): werkzeug writes the
        # headers and the body separately, and Nagle would hold the body back until the client's
        # delayed ACK of the headers, ~40 ms per answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def run_wsgi(self) -> None:
        socket_file = self.rfile
        self._body: LimitedStream | None = None
        try:
            super().run_wsgi()
        finally:
            self.rfile = socket_file
        if self._body is None:
            self.close_connection = True
        elif not self.close_connection:
            self._body.exhaust()

    def make_environ(self) -> Any:
        environ = super().make_environ()
        environ[RECEIVED_AT_KEY] = time.time()
        chunked = environ.get("wsgi.input_terminated")  # werkzeug: Transfer-Encoding chunked
        length = environ.get("CONTENT_LENGTH") or "0"
        if not chunked and length.isdigit():
            self._body = LimitedStream(self.rfile, int(length))
            environ["wsgi.input"] = self._body
            self.rfile = io.BytesIO()  # what werkzeug's leftover read gets
        return environ

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "connection" and value == "close" and self._body is not None:
            return  # HTTP/1.1's default is to keep the connection
        super().send_header(keyword, value)

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        # Never wait for another request on a connection we (or the client) gave up on.
        self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if not self.quiet:
            super().log_request(code, size)


class SandboxServer:
    """Start with `start()`, talk to `url`, inspect `store`, end with `stop()` (or use `with`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True,
                 app: Flask | None = None) -> None:  # fmt: skip
        self.app = app if app is not None else create_app()
        self.store: Store = self.app.extensions[EXTENSION_KEY]
        handler = type("SandboxHandler", (_Handler,), {"quiet": quiet})
        self._server: BaseWSGIServer = make_server(
            host, port, self.app, threaded=True, request_handler=handler
        )
        self.host = host
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> SandboxServer:
        """Serve in a daemon thread and return once `/health` answers."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"sandbox:{self.port}", daemon=True
        )
        self._thread.start()
        self._wait_ready()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread (the standalone entry point)."""
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=READY_TIMEOUT_S)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=READY_POLL_S * 50)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"sandbox did not become ready at {self.url}")
            time.sleep(READY_POLL_S)
