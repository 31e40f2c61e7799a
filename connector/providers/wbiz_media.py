"""WBIZ media upload: a file given as a URL or as base64 becomes a reusable media id.

The seed documents `POST /v1/media` (multipart/form-data, scope `media:write`, answers a
`mediaId`) but names no types or sizes. WBIZ sends through the WhatsApp Cloud API, so a file it
takes must be one the Cloud API takes: Meta's supported-media table [INF] (image jpeg/png 5 MB,
video mp4/3gpp and audio aac/amr/mpeg/mp4/ogg 16 MB, the office/pdf/text documents 100 MB,
webp stickers 100 KB static or 500 KB animated). Every file is checked against it before the
upload, so a wrong one fails naming the input field instead of after a large upload.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import posixpath
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import unquote, urlsplit

from connector.engine.classify import classify
from connector.engine.outcome import FieldError, Outcome, OutcomeKind, invalid, success
from connector.providers.dialect import BearerApi, In, Operation, Stop, body_of, record
from connector.providers.http import Fetched, FilePart
from connector.providers.wbiz_library import RULES, media_from_upstream
from connector.ssrf import UnsafeUrl

KIB = 1024
MIB = 1024 * KIB

# MIME type -> (WhatsApp media kind, largest file in bytes).
MEDIA_TYPES: Mapping[str, tuple[str, int]] = {
    "image/jpeg": ("image", 5 * MIB),
    "image/png": ("image", 5 * MIB),
    "video/mp4": ("video", 16 * MIB),
    "video/3gpp": ("video", 16 * MIB),
    "audio/aac": ("audio", 16 * MIB),
    "audio/amr": ("audio", 16 * MIB),
    "audio/mpeg": ("audio", 16 * MIB),
    "audio/mp4": ("audio", 16 * MIB),
    "audio/ogg": ("audio", 16 * MIB),
    "text/plain": ("document", 100 * MIB),
    "application/pdf": ("document", 100 * MIB),
    "application/msword": ("document", 100 * MIB),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
        ("document", 100 * MIB),
    "application/vnd.ms-excel": ("document", 100 * MIB),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("document", 100 * MIB),
    "application/vnd.ms-powerpoint": ("document", 100 * MIB),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation":
        ("document", 100 * MIB),
    "image/webp": ("sticker", 500 * KIB),
}
STATIC_STICKER_MAX_BYTES = 100 * KIB
"""A webp without animation is a static sticker: 100 KB (an animated one may have 500 KB)."""

DOWNLOAD_MAX_BYTES = max(limit for _, limit in MEDIA_TYPES.values())
"""A URL whose type is not known before the download is read up to the largest kind (100 MB)."""

# Names servers and browsers use for the same types.
ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "video/3gp": "video/3gpp",
           "audio/mp3": "audio/mpeg", "audio/x-m4a": "audio/mp4", "audio/opus": "audio/ogg"}
_UNTYPED = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_DATA_URL = re.compile(r"^data:[^;,]*;base64,", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def normalize_type(value: Any) -> str:
    """`"Image/JPG; charset=x"` -> `"image/jpeg"`."""
    bare = str(value or "").split(";", 1)[0].strip().lower()
    return ALIASES.get(bare, bare)


def human_size(size: int) -> str:
    """A limit as people write it: 5 MB, 500 KB (sizes near a limit are shown in bytes)."""
    if size >= MIB and size % MIB == 0:
        return f"{size // MIB} MB"
    if size >= KIB and size % KIB == 0:
        return f"{size // KIB} KB"
    return f"{size:,} bytes"


def is_animated_webp(content: bytes) -> bool:
    """A WebP with the extended header (`VP8X`) and its animation flag set."""
    return (content[:4] == b"RIFF" and content[8:12] == b"WEBP" and content[12:16] == b"VP8X"
            and len(content) > 20 and bool(content[20] & 0x02))


def size_limit(mime_type: str, content: bytes = b"") -> int | None:
    """The largest file of `mime_type` WhatsApp takes; None when it takes no such type."""
    found = MEDIA_TYPES.get(mime_type)
    if found is None:
        return None
    if mime_type == "image/webp" and content and not is_animated_webp(content):
        return STATIC_STICKER_MAX_BYTES
    return found[1]


def check_file(mime_type: str, content: bytes, *, pointer: str,
               type_pointer: str) -> list[FieldError]:
    """Why WhatsApp would refuse this file (type at `type_pointer`, size at `pointer`)."""
    limit = size_limit(mime_type, content)
    if limit is None:
        shown = mime_type or "an unknown type"
        return [FieldError(type_pointer, f"WhatsApp does not take {shown} files; send one of "
                                         f"{', '.join(MEDIA_TYPES)}")]
    if not content:
        return [FieldError(pointer, "the file is empty")]
    if len(content) > limit:
        kind = MEDIA_TYPES[mime_type][0]
        if mime_type == "image/webp" and limit == STATIC_STICKER_MAX_BYTES:
            kind = "static sticker"
        return [FieldError(pointer, f"the file has {len(content):,} bytes; a WhatsApp {kind} "
                                    f"({mime_type}) is at most {human_size(limit)} "
                                    f"({limit:,} bytes)")]
    return []


def decode_base64(text: str) -> bytes | None:
    """Standard or URL-safe base64, with or without padding, line breaks or a `data:` prefix;
    None when it is not base64."""
    cleaned = _SPACE.sub("", _DATA_URL.sub("", text, count=1)).replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _refuse(*errors: FieldError) -> Stop:
    return Stop(invalid(f"the file can't be uploaded: {errors[0].message}", *errors))


def _from_base64(data: In) -> tuple[FilePart, str]:
    content = decode_base64(str(data["base64"]))
    if content is None:
        raise _refuse(FieldError("/base64", "is not base64 (A-Z, a-z, 0-9, + and /)"))
    mime_type = normalize_type(data["mime_type"])
    errors = check_file(mime_type, content, pointer="/base64", type_pointer="/mime_type")
    if errors:
        raise _refuse(*errors)
    return FilePart("file", str(data["filename"]), mime_type, content), "/base64"


def _downloaded(api: BearerApi, url: str, cap: int) -> Fetched:
    try:
        fetched = api.ctx.download(url, max_bytes=cap)
    except UnsafeUrl as unsafe:
        raise _refuse(FieldError("/url", f"the URL is not allowed: {unsafe}")) from None
    answer = fetched.exchange
    if answer.error == "too_large":
        raise _refuse(FieldError("/url", f"the file is larger than {human_size(cap)}, the most "
                                         "WhatsApp takes for this type"))
    if answer.error is not None or answer.status is None or answer.status >= 500:
        # Nothing reached the tenant yet, so another attempt is harmless.
        reason = answer.error or f"HTTP {answer.status}"
        raise Stop(Outcome(OutcomeKind.TRANSIENT, f"the file URL could not be read ({reason})"))
    if fetched.content is None:
        hops = " after too many redirects" if 300 <= answer.status < 400 else ""
        raise _refuse(FieldError("/url", f"the URL answered HTTP {answer.status}{hops}; "
                                         "give a link that downloads the file"))
    return fetched


def _from_url(api: BearerApi, data: In) -> tuple[FilePart, str]:
    url, given = str(data["url"]), normalize_type(data.get("mime_type"))
    fetched = _downloaded(api, url, size_limit(given) or DOWNLOAD_MAX_BYTES)
    final = fetched.exchange
    path = unquote(urlsplit(final.url).path)
    filename = str(data.get("filename") or posixpath.basename(path) or "file")
    served = normalize_type(next((v for k, v in final.headers.items()
                                  if k.lower() == "content-type"), ""))
    mime_type = given or (served if served not in _UNTYPED else
                          normalize_type(mimetypes.guess_type(filename)[0]))
    content = fetched.content or b""
    errors = check_file(mime_type, content, pointer="/url",
                        type_pointer="/mime_type" if given else "/url")
    if errors:
        raise _refuse(*errors)
    return FilePart("file", filename, mime_type, content), "/url"


def op_upload_media(api: BearerApi, params: In, data: In) -> Outcome:
    """Check the file, then `POST v1/media` with it as the multipart field `file`."""
    part, pointer = _from_base64(data) if data.get("base64") else _from_url(api, data)
    # The upstream's complaints about `file` are about the input the bytes came from.
    rules = replace(RULES, field_names={**RULES.field_names, "file": pointer[1:]})
    exchange = api.ctx.upload("POST", f"{api.prefix}/v1/media", files=[part],
                              headers=api.headers)
    body = body_of(classify(exchange, side_effect=True, rules=rules))
    return success(media_from_upstream(record(body.get("data"), "the uploaded media")))


OPERATIONS: Mapping[str, Operation[BearerApi]] = {"upload_media": op_upload_media}
