"""Logging: event names plus fields, JSON in production, ids from a context variable.

A `Filter` copies `run_id`, `workspace_id`, `connection_id` from `log_context` onto every
record (STYLE rule 18). Nothing here formats request bodies or headers.
"""

from __future__ import annotations

import contextvars
import json
import logging
from typing import Any

# Set per request/job to a fresh dict; never mutated in place, so the shared default is safe.
log_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar(
    "log_context", default={})  # noqa: B039
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in log_context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {"level": record.levelname, "logger": record.name,
                                   "event": record.getMessage()}
        payload.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        text = f"{record.levelname} {record.name} {record.getMessage()}"
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in sorted(fields.items()))
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(*, json_output: bool, level: int = logging.INFO) -> None:
    root = logging.getLogger("connector")
    if any(isinstance(f, ContextFilter) for h in root.handlers for f in h.filters):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_output else KeyValueFormatter())
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level)
