"""The v1 middleware chain in front of every tenant route, in the upstream's order (§1.2).

`TenantValidationMiddleware` then `ValidateApiToken:{ability}`: unknown tenant (500, sic), no API
settings (404), API disabled (403), no bearer (401), wrong token (401), missing ability (403), then
the rate limiter (429 without a `Retry-After` header). Requests refused before the limiter are not
counted against it, exactly because the limiter runs last.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, g, request

from connector.sandbox.envelopes import bare, error
from connector.sandbox.state import Store, Tenant, current_store

View = Callable[..., Any]


def guarded(ability: str) -> Callable[[View], View]:
    """Run the middleware chain, then call `view(tenant, **route_args)`."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(tenant: str, **kwargs: Any) -> Any:
            store = current_store()
            with store.lock:
                admitted = admit(store, tenant, ability, request.headers.get("Authorization"))
            if isinstance(admitted, Response):
                return admitted
            return view(admitted, **kwargs)

        return wrapper

    return decorate


def bearer_token(header: str | None) -> str | None:
    """Laravel's `bearerToken()`: text after the last `Bearer ` (any case), up to a comma."""
    if not header:
        return None
    position = header.lower().rfind("bearer ")
    if position < 0:
        return None
    token = header[position + 7 :].split(",", 1)[0]
    return token or None


def admit(store: Store, slug: str, ability: str, authorization: str | None) -> Tenant | Response:
    """Return the tenant when every check passes, else the upstream's refusal."""
    g.ability = ability
    tenant = store.tenants.get(slug)
    if tenant is None:
        return error(500, "Validation failed", errors="Invalid tenant subdomain")
    if not tenant.api_settings:
        return error(404, "API settings not found for this tenant")
    if not tenant.api_enabled:
        return error(403, "API access is disabled")
    token = bearer_token(authorization)
    if token is None:
        g.auth = "missing"
        return error(401, "API token is required")
    if not hmac.compare_digest(token.encode(), tenant.token.encode()):
        g.auth = "invalid"
        return error(401, "Invalid API token")
    g.auth = "ok"
    if ability not in tenant.abilities:
        return error(403, f"Token does not have the required ability: {ability}")
    now = time.time()
    decision = store.limiter.attempt(
        "api_token:" + token, tenant.rate_limit_max, tenant.rate_limit_decay_s, now
    )
    if not decision.allowed:
        g.throttled = True
        # The limiter's own body: no `status` key, localized message, seconds in the body only.
        return bare({"message": "Too Many Attempts.", "retry_after": decision.retry_after_s}, 429)
    g.accepted_at = now
    tenant.max_in_window = max(tenant.max_in_window, decision.hits_in_window)
    return tenant
