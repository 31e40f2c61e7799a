"""Window-aware send: free-form text inside WhatsApp's 24-hour customer-service window, the
approved template outside it.

The window opens when the contact writes to us; the engine tells us when that last happened
(`CallContext.last_inbound`, fed by the platform webhook receiver). A safety margin keeps a send
that is queued or retried near the edge from landing after the window closed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.engine.outcome import FieldError, Outcome, invalid
from connector.providers.base import CallContext
from connector.providers.dialect import phone

WINDOW = timedelta(hours=24)
DEFAULT_MARGIN_MINUTES = 30
TEXT_KEYS = ("phone", "text", "contact")
TEMPLATE_KEYS = ("phone", "template_name", "language", "header_params", "body_params",
                 "header_media_url", "button_params", "contact")


@dataclass(frozen=True)
class Path:
    kind: str  # "text" | "template"
    reason: str
    last_inbound_at: datetime | None


def choose_path(last_inbound_at: datetime | None, now: datetime, margin: timedelta,
                has_text: bool) -> Path:
    """Text only when the window is open for at least `margin` more; otherwise the template."""
    if not has_text:
        return Path("template", "no text given", last_inbound_at)
    if last_inbound_at is None:
        return Path("template", "the contact has never written to us", None)
    age = now - last_inbound_at
    closes_in = WINDOW - age
    hours = age.total_seconds() / 3600
    if closes_in > margin:
        return Path("text", f"last inbound message {hours:.1f} h ago: the 24 h window is open "
                    f"for {closes_in.total_seconds() / 60:.0f} more minutes", last_inbound_at)
    return Path("template", f"last inbound message {hours:.1f} h ago: outside the 24 h window "
                f"less a {margin.total_seconds() / 60:.0f} min margin", last_inbound_at)


def path_for(ctx: CallContext, data: Mapping[str, Any], now: datetime | None = None) -> Path:
    e164 = phone(data.get("phone"), ctx)
    last = ctx.last_inbound(e164) if ctx.last_inbound is not None else None
    margin = timedelta(minutes=float(data.get("window_margin_minutes", DEFAULT_MARGIN_MINUTES)))
    return choose_path(last, now or datetime.now(UTC), margin, bool(data.get("text")))


def send_message(ctx: CallContext, data: Mapping[str, Any], *,
                 send_text: Callable[[Mapping[str, Any]], Outcome],
                 send_template: Callable[[Mapping[str, Any]], Outcome] | None,
                 no_template_reason: str = "") -> Outcome:
    """Pick the path at send time, send through the dialect's own text or template operation,
    and record in the output which path it took and why.

    A provider without templates (`send_template=None`) has no template path: it sends the text
    and records `no_template_reason` as the reason.
    """
    if send_template is None:
        if not data.get("text"):
            return invalid(no_template_reason, FieldError("/text", no_template_reason))
        path = Path("text", no_template_reason, None)
    else:
        path = path_for(ctx, data)
    if path.kind == "text":
        outcome = send_text({k: data[k] for k in TEXT_KEYS if k in data})
    elif send_template is not None:
        outcome = send_template({k: data[k] for k in TEMPLATE_KEYS if k in data})
    if not outcome.ok or not isinstance(outcome.output, Mapping):
        return outcome
    last = path.last_inbound_at.isoformat() if path.last_inbound_at else None
    return Outcome(outcome.kind, outcome.message, outcome.http_status,
                   output={**outcome.output, "path": path.kind, "reason": path.reason,
                           "last_inbound_at": last})
