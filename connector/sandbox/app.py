"""`create_app()`: the Flask app that emulates the Corbital v1 tenant API plus its admin side door.

The same tenant routes answer under `/api/v1/<tenant>/` (WhatsMark SaaS, WhatsCloud) and
`/api/<tenant>/` (WAB2C, §1.1). Every answer is JSON, including unknown routes and wrong methods,
shaped like Laravel's JSON error rendering.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from connector.sandbox import admin, routes_contacts, routes_messages, routes_resources, transport
from connector.sandbox.envelopes import bare
from connector.sandbox.state import EXTENSION_KEY, Store

log = logging.getLogger(__name__)

BASE_PATHS = (("/api/v1/<tenant>", "v1"), ("/api/<tenant>", "wab2c"))
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def create_app(store: Store | None = None) -> Flask:
    """Build the sandbox app around `store` (a fresh empty one by default)."""
    app = Flask(__name__)
    # Keep the upstream's key order (paginator, envelopes); Flask sorts keys by default.
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION_KEY] = store if store is not None else Store()
    transport.init_app(app)
    resources = routes_resources.build()
    for prefix, layout in BASE_PATHS:
        app.register_blueprint(routes_contacts.bp, url_prefix=prefix, name=f"contacts_{layout}")
        app.register_blueprint(resources, url_prefix=prefix, name=f"resources_{layout}")
        app.register_blueprint(routes_messages.bp, url_prefix=prefix, name=f"messages_{layout}")
    app.register_blueprint(admin.bp)
    from connector.sandbox import corbital_v2, waapi, wbiz  # newer tenants (issue 6)

    for emulator in (corbital_v2, wbiz, waapi):
        emulator.init_app(app)
    from connector.sandbox import wbiz_inbox, wbiz_library  # the rest of the WBIZ seed page

    wbiz_library.init_app(app)
    wbiz_inbox.init_app(app)
    from connector.sandbox import wbiz_webhooks  # WBIZ webhooks and event admin (issue 6)

    wbiz_webhooks.init_app(app)
    from connector.sandbox import webhooks  # platform webhooks (triggers, issue 3)

    webhooks.init_app(app)
    from connector.sandbox import crm_hubspot, crm_pipedrive  # CRM sources (syncs, issue 5)

    crm_hubspot.init_app(app)
    crm_pipedrive.init_app(app)
    app.add_url_rule("/health", "health", _health)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _server_error)
    return app


def _health() -> Response:
    return bare({"status": "ok"}, 200)


def _http_error(exc: HTTPException) -> Response:
    path = request.path.lstrip("/")
    if isinstance(exc, NotFound):
        return bare({"message": f"The route {path} could not be found."}, 404)
    if isinstance(exc, MethodNotAllowed):
        allowed = [m for m in _METHOD_ORDER if m in (exc.valid_methods or [])]
        message = (
            f"The {request.method} method is not supported for route {path}. "
            f"Supported methods: {', '.join(allowed)}."
        )
        return bare({"message": message}, 405)
    return bare({"message": exc.description or exc.name}, exc.code or 500)


def _server_error(exc: Exception) -> Response:
    # A sandbox bug, not an emulated upstream failure: log it loudly, answer like Laravel would.
    log.exception("sandbox.unhandled_error", extra={"path": request.path})
    return bare({"message": "Server Error"}, 500)
