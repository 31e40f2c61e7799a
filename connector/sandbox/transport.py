"""What happens to a tenant request on the wire: emulated latency, injected faults, the request log.

Faults are decided once per request, before routing reaches the v1 middleware, like a proxy in
front of the upstream: a `latency` fault sleeps before the request has any effect,
`status`/`drop`/`empty_200` answer instead of the app (nothing happened), the `*_after_effect`
kinds let the app run and then lose or spoil the answer. The configured `latency_ms` pads every
answer to that service time.
Every sleep here happens without the store lock, so slow requests never serialise the others.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.http import HTTP_STATUS_CODES

from connector.sandbox.envelopes import bare
from connector.sandbox.faults import Plan
from connector.sandbox.inputs import loggable
from connector.sandbox.state import current_store
from connector.sandbox.timestamps import iso_precise

ACTION_KEY = "corbital_sandbox.wire"
RECEIVED_AT_KEY = "corbital_sandbox.received_at"
"""Set by the socket server (`server.py`) when a request's head was read (epoch seconds)."""
TENANT_PREFIX = "/api/"


class DropConnection(ConnectionError):
    """Raised out of the WSGI app so the server treats the connection as gone and writes nothing."""


@dataclass
class WireAction:
    drop: bool = False
    delay_s: float = 0.0


def init_app(app: Flask) -> None:
    app.before_request(_before)
    app.after_request(_after)
    app.wsgi_app = WireMiddleware(app.wsgi_app)  # type: ignore[method-assign]


class WireMiddleware:
    """Holds the response back so a fault can delay it or drop the socket instead of sending it."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        held: list[Any] = []

        def hold(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            held[:] = [status, headers, exc_info]
            return _no_write

        body = self.app(environ, hold)
        action: WireAction | None = environ.get(ACTION_KEY)
        if action is not None and action.delay_s:
            time.sleep(action.delay_s)  # the client's read timeout fires while we wait
        if action is not None and action.drop:
            if hasattr(body, "close"):
                body.close()
            _shut(environ.get("werkzeug.socket"))
            raise DropConnection("sandbox fault: connection dropped")
        start_response(*held)
        return body


def _no_write(data: bytes) -> None:
    raise RuntimeError("the sandbox app never uses the WSGI write() callable")


def _shut(sock: socket.socket | None) -> None:
    # Closing both directions makes the client see EOF instead of an answer (requests raises
    # ConnectionError); werkzeug then finds the socket dead and ends the connection quietly.
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _tenant_of_path(path: str) -> str | None:
    view_args = request.view_args or {}
    if "tenant" in view_args:
        return str(view_args["tenant"])
    parts = path.strip("/").split("/")
    if len(parts) >= 4 and parts[1] == "v1":
        return parts[2]
    return parts[1] if len(parts) >= 2 else None


def _before() -> Response | None:
    if not request.path.startswith(TENANT_PREFIX):
        return None
    store = current_store()
    started = time.time()
    tenant = _tenant_of_path(request.path)
    g.entry = {
        "started_at": started,
        "tenant": tenant,
        "method": request.method,
        "path": request.path,
        "query": request.args.to_dict(),
        "json": request.get_json(silent=True) if request.is_json else None,
        "form": loggable(request.form.to_dict() | request.files.to_dict()) or None,
    }
    with store.lock:
        store.inflight[id(g.entry)] = {"tenant": tenant, "method": request.method,
                                       "path": request.path}
        plan = store.faults.take(tenant, request.method, request.path)
        latency_s = store.latency_ms / 1000
    g.plan = plan
    delay_s = plan.delay_s
    g.answer_due = request.environ.get(RECEIVED_AT_KEY, started) + latency_s + delay_s
    g.entry["faults"] = list(plan.kinds)
    g.entry["fault"] = "latency" if plan.delay_s else None
    if delay_s:
        # A latency fault holds the request before it has any effect; sleeping here, lock
        # released, is the point of the fault.
        time.sleep(delay_s)
    fault = plan.before
    if fault is None:
        return None
    g.entry["fault"] = fault.kind
    if fault.kind == "status":
        return _fault_answer(fault.status)
    if fault.kind == "drop":
        request.environ[ACTION_KEY] = WireAction(drop=True)
    return Response(b"", status=200, content_type="text/html; charset=UTF-8")


def _after(response: Response) -> Response:
    entry = g.pop("entry", None)
    if entry is None:
        return response
    # The emulated latency is the tenant's service time as its client sees it: the answer
    # leaves `latency_ms` after the request was read, whatever the emulator itself spent (on a
    # 2-core box its own ~1-5 ms of CPU would otherwise come on top of every call).
    pad_s = g.pop("answer_due", 0.0) - time.time()
    if pad_s > 0:
        time.sleep(pad_s)
    with current_store().lock:
        current_store().inflight.pop(id(entry), None)
    plan: Plan = g.get("plan") or Plan()
    entry["app_status"] = None if plan.before else response.status_code
    after = None if plan.before else plan.after
    if after is not None:
        entry["fault"] = after.kind
        if after.kind == "status_after_effect":
            response = _fault_answer(after.status)
        elif after.kind == "drop_after_effect":
            request.environ[ACTION_KEY] = WireAction(drop=True)
        else:
            request.environ[ACTION_KEY] = WireAction(delay_s=after.delay_ms / 1000)
    action = request.environ.get(ACTION_KEY)
    finished = time.time()
    entry.update(
        status=None if action is not None and action.drop else response.status_code,
        auth=g.get("auth"),
        ability=g.get("ability"),
        throttled=bool(g.get("throttled")),
        accepted_at=g.get("accepted_at"),
        duration_ms=round((finished - entry["started_at"]) * 1000, 3),
        time=iso_precise(finished),
        started_at=iso_precise(entry["started_at"]),
    )
    current_store().log_request(entry)
    return response


def _fault_answer(status: int) -> Response:
    # Shaped like Laravel's JSON rendering of an HttpException / uncaught error.
    message = "Server Error" if status == 500 else HTTP_STATUS_CODES.get(status, "Server Error")
    return bare({"message": message}, status)
