"""Request bodies -> JSON values: JSON, urlencoded with PHP bracket keys, multipart with an
embedded JSON string (Jotform `rawRequest`). Every refusal is a `BodyError` with a reason.

crm-forms.md §B: Elementor and the WordPress add-ons post `fields[phone][value]=...` (built by
`wp_remote_post`), Jotform posts multipart whose `rawRequest` part is a JSON string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

MAX_DEPTH = 32
"""Deepest nesting accepted in a body (objects/arrays, or bracket keys)."""
MAX_FIELDS = 1000
"""Most keys accepted in a urlencoded or multipart body."""
JSON_STRING_PARTS = ("rawRequest",)
"""Multipart parts that hold a JSON document (Jotform)."""

_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


class BodyError(ValueError):
    """The body can't be read; `status` is the HTTP answer (400, 415 or 422)."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def decode_json(raw: bytes) -> Any:
    if not raw.strip():
        raise BodyError("the body is empty")
    try:
        value = json.loads(raw)
    except RecursionError:
        raise BodyError(f"the JSON is nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError:
        raise BodyError("the body is not UTF-8 text") from None
    except ValueError as error:
        raise BodyError(f"the body is not valid JSON: {error}") from None
    check_depth(value)
    return value


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Iterative, so a hostile document can't exhaust the stack while we measure it."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                raise BodyError(f"the JSON is nested deeper than {limit} levels", status=422)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def decode_urlencoded(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("the form body is not UTF-8 text") from None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False,
                          max_num_fields=MAX_FIELDS)
    except ValueError as error:
        raise BodyError(f"the form body can't be read: {error}") from None
    return nest_brackets(pairs)


def nest_brackets(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """`fields[phone][value]=x` -> `{"fields": {"phone": {"value": "x"}}}`; `a[]=1&a[]=2` ->
    `{"a": ["1", "2"]}`. A key seen twice keeps its last value, as PHP does."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        rest = key[len(head):]
        parts = [head] + (_BRACKETS.findall(rest) if rest else [])
        if not head or (rest and "".join(f"[{p}]" for p in parts[1:]) != rest):
            parts = [key]  # not a well-formed bracket key: keep it as a plain name
        if len(parts) > MAX_DEPTH:
            raise BodyError(f"the form key {key[:60]!r} is nested deeper than {MAX_DEPTH} levels",
                            status=422)
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if isinstance(node, list):
                if last:
                    node.append(value)
                    break
                node.append({})
                node = node[-1]
                continue
            if last:
                if part == "" and index > 0:
                    raise BodyError(f"the form key {key[:60]!r} is not valid", status=422)
                node[part] = value
                break
            wants_list = parts[index + 1] == ""
            child = node.get(part)
            if wants_list and not isinstance(child, list):
                child = node[part] = []
            elif not wants_list and not isinstance(child, dict):
                child = node[part] = {}
            node = child
    return root


def decode_multipart_fields(fields: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Multipart text parts (Flask has parsed them) -> nested dict; JSON string parts decoded."""
    items = list(fields)
    if len(items) > MAX_FIELDS:
        raise BodyError(f"the form has more than {MAX_FIELDS} fields", status=422)
    body = nest_brackets(items)
    for name in JSON_STRING_PARTS:
        if isinstance(body.get(name), str):
            try:
                body[name] = decode_json(body[name].encode("utf-8"))
            except BodyError as error:
                raise BodyError(f"part {name!r}: {error.reason}", status=422) from None
    return body


def decode(content_type: str | None, raw: bytes,
           multipart_fields: Iterable[tuple[str, str]] | None = None) -> Any:
    """Decode by media type; `multipart_fields` are the parsed text parts of a multipart body."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return decode_json(raw)
    if media == "application/x-www-form-urlencoded":
        return decode_urlencoded(raw)
    if media == "multipart/form-data":
        return decode_multipart_fields(multipart_fields or ())
    if media == "text/plain" and raw.lstrip()[:1] in (b"{", b"["):
        return decode_json(raw)  # Apps Script posts without a content type by default
    raise BodyError(
        f"unsupported content type {media or 'none'!r}; send application/json, "
        "application/x-www-form-urlencoded or multipart/form-data", status=415)
