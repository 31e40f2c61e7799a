"""WBIZ emulator: which uploads `POST /v1/media` takes, and whether a send's `mediaId` exists.

The seed names no media types or sizes; WBIZ is on the Cloud API, so the emulator applies Meta's
supported-media table [INF]. It is written out here again on purpose, not imported from the
connector's dialect: the emulator stands for the upstream and must not agree with our code by
construction. Stickers get the animated limit (500 KB); the dialect also knows the static one.
"""

from __future__ import annotations

from typing import Any

KIB = 1024
MIB = 1024 * KIB
_DOCUMENTS = ("text/plain", "application/pdf", "application/msword",
              "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
              "application/vnd.ms-excel",
              "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
              "application/vnd.ms-powerpoint",
              "application/vnd.openxmlformats-officedocument.presentationml.presentation")
LIMITS: dict[str, tuple[str, int]] = {
    **{t: ("image", 5 * MIB) for t in ("image/jpeg", "image/png")},
    **{t: ("video", 16 * MIB) for t in ("video/mp4", "video/3gpp")},
    **{t: ("audio", 16 * MIB) for t in ("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4",
                                        "audio/ogg")},
    **{t: ("document", 100 * MIB) for t in _DOCUMENTS},
    "image/webp": ("sticker", 500 * KIB),
}


def upload_problem(mime_type: str | None, size: int) -> str | None:
    """Why an upload of `size` bytes typed `mime_type` is refused, or None."""
    found = LIMITS.get((mime_type or "").split(";", 1)[0].strip().lower())
    if found is None:
        return f"unsupported media type {mime_type or 'none'}; see the supported media types"
    kind, limit = found
    if size == 0:
        return "the file is empty"
    if size > limit:
        return f"{kind} media is at most {limit // KIB} KB"
    return None


def send_problems(body: dict[str, Any], uploaded: dict[str, Any]) -> dict[str, str]:
    """`POST /v1/messages/media` names its file by `link` or by an uploaded `mediaId`."""
    if body.get("link") and body.get("mediaId"):
        return {"mediaId": "give link or mediaId, not both"}
    if not body.get("link") and not body.get("mediaId"):
        return {"link": "link or mediaId is required"}
    if body.get("mediaId") and str(body["mediaId"]) not in uploaded:
        return {"mediaId": "no uploaded media has this id"}
    return {}
