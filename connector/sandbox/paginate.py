"""Laravel's `LengthAwarePaginator::toArray()`, as nested in `data` by every v1 list (§1.4).

Quirks kept on purpose: `per_page` comes from `$request->per_page ?? 15` with no maximum; the page
URLs carry only `?page=N` (the controllers never call `withQueryString()`), so a client following
`next_page_url` silently falls back to 15 per page; the `links` window is Laravel's `UrlWindow`
with `onEachSide = 3`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from flask import Response, request

from connector.sandbox.envelopes import bare, error, success
from connector.sandbox.table import Row, Table

DEFAULT_PER_PAGE = 15
ON_EACH_SIDE = 3
_LEADING_INT = re.compile(r"^\s*([+-]?\d+)")


class PerPageCrash(Exception):
    """`per_page` made the upstream crash; `kind` says how (see `parse_per_page`)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def php_int(value: Any) -> int:
    """PHP's `(int)` cast of a query string: leading integer, else 0."""
    match = _LEADING_INT.match(str(value))
    return int(match.group(1)) if match else 0


def parse_per_page(raw: str | None) -> int:
    """`paginate($request->per_page ?? 15)`, including how the upstream fails.

    `0`/empty fall back to the model default (PHP `?:`); a non-numeric value becomes 0 and divides
    by zero (an `Error` the controller's `catch (\\Exception)` misses: Laravel's bare 500); a
    negative one reaches MySQL as `LIMIT -5` (a caught exception: the controller's 500 envelope).
    """
    if raw is None or raw.strip() in ("", "0"):
        return DEFAULT_PER_PAGE
    per_page = php_int(raw)
    if per_page == 0:
        raise PerPageCrash("division_by_zero", "Division by zero")
    if per_page < 0:
        raise PerPageCrash(
            "sql",
            "SQLSTATE[42000]: Syntax error or access violation: 1064 You have an error in your "
            f"SQL syntax; check the manual near '{per_page}' at line 1",
        )
    return per_page


def parse_page(raw: str | None) -> int:
    """`resolveCurrentPage`: a valid integer >= 1, otherwise page 1."""
    if raw is None or not re.fullmatch(r"\s*[+-]?\d+\s*", raw):
        return 1
    page = int(raw)
    return page if page >= 1 else 1


def paginate(
    table: Table, page: int, per_page: int, path: str, view: Callable[[Row], dict[str, Any]]
) -> dict[str, Any]:
    total = len(table)
    items = [view(r) for r in table.newest_first((page - 1) * per_page, per_page)]
    last_page = max(math.ceil(total / per_page), 1)
    first_item = (page - 1) * per_page + 1 if items else None

    def url(n: int) -> str:
        return f"{path}?page={n}"

    prev_url = url(page - 1) if page > 1 else None
    next_url = url(page + 1) if page < last_page else None
    return {
        "current_page": page,
        "data": items,
        "first_page_url": url(1),
        "from": first_item,
        "last_page": last_page,
        "last_page_url": url(last_page),
        "links": _links(page, last_page, url, prev_url, next_url),
        "next_page_url": next_url,
        "path": path,
        "per_page": per_page,
        "prev_page_url": prev_url,
        "to": first_item + len(items) - 1 if first_item is not None else None,
        "total": total,
    }


def _links(
    page: int,
    last_page: int,
    url: Callable[[int], str],
    prev_url: str | None,
    next_url: str | None,
) -> list[dict[str, Any]]:
    links: list[dict[str, Any]] = [{"url": prev_url, "label": "&laquo; Previous", "active": False}]
    for element in _window(page, last_page):
        if element is None:
            links.append({"url": None, "label": "...", "active": False})
            continue
        for n in element:
            links.append({"url": url(n), "label": str(n), "active": n == page})
    links.append({"url": next_url, "label": "Next &raquo;", "active": False})
    return links


def _window(page: int, last_page: int) -> list[range | None]:
    """`UrlWindow::get()` + `elements()`: page ranges, None where Laravel puts '...'."""
    if last_page < ON_EACH_SIDE * 2 + 8:
        return [range(1, last_page + 1)]
    window = ON_EACH_SIDE + 4
    start, finish = range(1, 3), range(last_page - 1, last_page + 1)
    if page <= window:
        return [range(1, window + ON_EACH_SIDE + 1), None, finish]
    if page > last_page - window:
        return [start, None, range(last_page - (window + ON_EACH_SIDE - 1), last_page + 1)]
    return [start, None, range(page - ON_EACH_SIDE, page + ON_EACH_SIDE + 1), None, finish]


def list_response(table: Table, view: Callable[[Row], dict[str, Any]], failure: str) -> Response:
    """The whole `index()` action: parse paging, answer the paginator or the crash it causes."""
    try:
        per_page = parse_per_page(request.args.get("per_page"))
    except PerPageCrash as crash:
        if crash.kind == "division_by_zero":
            return bare({"message": "Server Error"}, 500)
        return error(500, failure, error=str(crash))
    page = parse_page(request.args.get("page"))
    return success(paginate(table, page, per_page, request.base_url, view))
