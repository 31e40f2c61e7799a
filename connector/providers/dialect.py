"""Pieces every dialect shares: early exit with an outcome, answer checks, phone input, send result.

A dialect's operations raise `Stop(outcome)` at the first failed exchange or pre-check and
`run_operation` turns it back into the outcome, so operations read as the happy path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from connector.engine.classify import ErrorRules, classify
from connector.engine.outcome import FieldError, Outcome, OutcomeKind, invalid, success
from connector.providers.base import CallContext
from connector.providers.phones import InvalidPhone, normalize_phone

In = Mapping[str, Any]
"""An operation's `params` (from the definition) or `data` (the validated action input)."""

A = TypeVar("A")

SCOPE_PATTERN = r"scope\W+(?P<ability>[a-z][a-z_]*:[a-z][a-z_]*)"
"""A 403 naming a `scope:verb` scope: WBIZ "missing the scope messages:send", Corbital v2
"lacks the required scope: contacts:write" (upstream-apis.md §2, §5)."""


class Stop(Exception):
    """Ends an operation early with `outcome` (the first failed exchange or a pre-check)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.kind.value)
        self.outcome = outcome


def ok(outcome: Outcome) -> Outcome:
    """`outcome` when it succeeded, else `Stop` with it."""
    if not outcome.ok:
        raise Stop(outcome)
    return outcome


def unexpected(outcome: Outcome | None, wanted: str) -> Outcome:
    return Outcome(OutcomeKind.UPSTREAM_ERROR, f"the upstream answered without {wanted}",
                   http_status=outcome.http_status if outcome else None)


def body_of(outcome: Outcome) -> dict[str, Any]:
    """The JSON object of a successful answer, or `Stop` when it is something else."""
    body = ok(outcome).output
    if not isinstance(body, dict):
        raise Stop(unexpected(outcome, "a JSON object"))
    return body


def record(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise Stop(unexpected(None, what))
    return data


def phone(raw: Any, ctx: CallContext, pointer: str = "/phone") -> str:
    """The input phone in E.164, or `Stop` with an `invalid` outcome pointing at it."""
    try:
        return normalize_phone(str(raw or ""), ctx.default_region)
    except InvalidPhone as exc:
        raise Stop(invalid(f"phone {exc.raw!r} is not usable: {exc.reason}",
                           FieldError(pointer, f"{exc.raw!r}: {exc.reason}"))) from None


def same_phone(stored: Any, e164: str, ctx: CallContext) -> bool:
    try:
        return bool(stored) and normalize_phone(str(stored), ctx.default_region) == e164
    except InvalidPhone:
        return False


def sent(message_id: Any, contact_id: Any, e164: str) -> Outcome:
    """The shared send result; a send accepted without a message id is `in_doubt`."""
    if not message_id:
        return Outcome(OutcomeKind.IN_DOUBT, "the upstream accepted the send but returned no "
                       "message id; check the chat before sending again")
    return success({"message_id": str(message_id), "status": "accepted",
                    "contact_id": None if contact_id is None else str(contact_id), "phone": e164})


def split_name(name: Any) -> tuple[str | None, str | None]:
    """"Ada King Lovelace" -> ("Ada King", "Lovelace"); one word is a first name."""
    words = re.split(r"\s+", str(name).strip()) if isinstance(name, str) and name.strip() else []
    if not words:
        return None, None
    if len(words) == 1:
        return words[0], None
    return " ".join(words[:-1]), words[-1]


DEFAULT_PAGE_SIZE = 50


def local_page(items: list[dict[str, Any]], data: In) -> dict[str, Any]:
    """Our list output (`items, page, per_page, total, next_page`) cut from a collection the
    upstream returns whole, by the input's `page` and `per_page`."""
    page, per_page = int(data.get("page") or 1), int(data.get("per_page") or DEFAULT_PAGE_SIZE)
    return {"items": items[(page - 1) * per_page: page * per_page], "page": page,
            "per_page": per_page, "total": len(items),
            "next_page": page + 1 if page * per_page < len(items) else None}


def join_name(first: Any, last: Any) -> str | None:
    name = " ".join(str(p).strip() for p in (first, last) if isinstance(p, str) and p.strip())
    return name or None


class BearerApi:
    """A base URL and a Bearer token applied to every call through `ctx.call`, classified by
    the dialect's `rules`."""

    def __init__(self, ctx: CallContext, prefix: str, rules: ErrorRules) -> None:
        self.ctx = ctx
        self.prefix = prefix.rstrip("/")
        self.rules = rules
        self.headers = {"Authorization": f"Bearer {ctx.connection.token}",
                        "Accept": "application/json"}

    def request(self, method: str, path: str, *, side_effect: bool, **kwargs: Any) -> Outcome:
        exchange = self.ctx.call(method, f"{self.prefix}/{path}", headers=self.headers, **kwargs)
        return classify(exchange, side_effect=side_effect, rules=self.rules)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return body_of(self.request("GET", path, side_effect=False, params=params))

    def send(self, method: str, path: str, body: Mapping[str, Any] | None = None
             ) -> dict[str, Any]:
        return body_of(self.request(method, path, side_effect=True, json=body))


Operation = Callable[[A, In, In], Outcome]


def run_operation(provider: str, operations: Mapping[str, Operation[A]], operation: str,
                  make_api: Callable[[], A], params: In, data: In) -> Outcome:
    """Look `operation` up, run it, and turn a `Stop` into its outcome."""
    handler = operations.get(operation)
    if handler is None:
        return invalid(f"the {provider} provider has no operation {operation!r}")
    try:
        return handler(make_api(), params, data)
    except Stop as stop:
        return stop.outcome


class TableDialect:
    """The `operations`/`execute` half of a provider whose operations are a name -> function
    table over one API client: subclasses set `name`, `OPERATIONS` and `API` (the client class,
    built from the call context for each operation)."""

    name: str
    OPERATIONS: Mapping[str, Operation[Any]]
    API: Callable[[CallContext], Any]

    def make_api(self, ctx: CallContext) -> Any:
        return type(self).API(ctx)

    def operations(self) -> frozenset[str]:
        return frozenset(self.OPERATIONS)

    def execute(self, operation: str, params: Mapping[str, Any], data: Mapping[str, Any],
                ctx: CallContext) -> Outcome:
        return run_operation(self.name, self.OPERATIONS, operation,
                             lambda: self.make_api(ctx), params, data)
