"""create_app(): the Flask factory. Blueprints, the runtime, and problem+json for every error."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from connector import metrics
from connector.config import Settings
from connector.errors import ApiError
from connector.logs import configure_logging
from connector.runtime import Runtime

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def create_app(overrides: Settings | dict[str, Any] | None = None) -> Flask:
    if isinstance(overrides, Settings):
        settings = overrides
    else:
        settings = Settings.from_env(**(overrides or {}))
    configure_logging(json_output=settings.log_json)
    app = Flask(__name__, instance_path=settings.instance_path)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, TESTING=settings.testing)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    runtime = Runtime(settings)
    app.extensions["wa_runtime"] = runtime
    from connector.api.auth import KeyCache

    app.extensions["wa_api_key_cache"] = KeyCache(runtime.settings.api_key_cache_s)
    runtime.catalog  # noqa: B018 - a broken definition stops start-up, naming file and pointer

    from connector.api import register_blueprints

    register_blueprints(app)
    metrics.init_app(app, runtime)
    _register_error_handlers(app)
    return app


def problem(error: ApiError) -> Response:
    response = jsonify(error.to_problem(instance=request.path))
    response.status_code = error.status
    response.mimetype = PROBLEM_JSON
    return response


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        return problem(error)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException) -> Response:
        # Werkzeug's own 404/405/413/400 become problem+json with the same status.
        api_error = ApiError(error.description or error.name)
        api_error.status = error.code or 500
        api_error.title = error.name
        api_error.type = error.name.lower().replace(" ", "-")
        response = problem(api_error)
        if error.code == 405 and isinstance(error, HTTPException):
            allowed = getattr(error, "valid_methods", None)
            if allowed:
                response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        # Our own bug: log it (the traceback has no request bodies or secrets), hide internals.
        log.exception("api.unhandled", extra={"path": request.path})
        return problem(ApiError("An unexpected error occurred; it has been logged."))
