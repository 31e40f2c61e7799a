"""Checks Corbital would make (or fail at) on a send, made locally before anything is sent.

Template parameters against the template's counts and header format, and media URL extensions
(upstream-apis.md §1.7). Every problem is reported, each with a pointer into the action input.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from connector.engine.outcome import FieldError

DEFAULT_LANGUAGE = "en"
"""The send_template definition's default for `language`."""

MAX_BODY_PARAMS = 10
"""`field_1`..`field_10` are all the body parameters the v1 endpoint takes."""

MAX_BUTTON_PARAMS = 3
"""`button_0`..`button_2`."""

# §1.7, `app/Helpers/WhatsappHelper.php`: the URL *path* must end in one of these.
MEDIA_EXTENSIONS: Mapping[str, tuple[str, ...]] = {
    "image": (".jpeg", ".png"),
    "video": (".mp4", ".3gp"),
    "audio": (".aac", ".amr", ".mp3", ".m4a", ".ogg"),
    "document": (".pdf", ".doc", ".docx", ".txt", ".xls", ".xlsx", ".ppt", ".pptx"),
}

# Template header format -> (media type, the upstream field carrying its URL).
HEADER_MEDIA = {
    "IMAGE": ("image", "header_image_url"),
    "VIDEO": ("video", "header_video_url"),
    "DOCUMENT": ("document", "header_document_url"),
}


def check_media_url(url: Any, media_type: Any, pointer: str = "/media_url") -> list[FieldError]:
    """Problems with sending `url` as `media_type`; empty when the upstream would accept it."""
    if media_type not in MEDIA_EXTENSIONS:
        kinds = ", ".join(MEDIA_EXTENSIONS)
        return [FieldError("/media_type", f"media type {media_type!r} is not one of {kinds}")]
    if not isinstance(url, str) or not url.strip():
        return [FieldError(pointer, "a public http(s) URL of the file is required")]
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return [FieldError(pointer, f"{url!r} is not an http(s) URL")]
    extension = posixpath.splitext(parts.path)[1].lower()
    allowed = MEDIA_EXTENSIONS[media_type]
    if extension in allowed:
        return []
    if extension == ".jpg":
        # The upstream's list has ".jpeg" but not ".jpg" and refuses the URL (§1.7).
        return [FieldError(pointer, "the upstream refuses .jpg URLs: serve the image with a "
                                    ".jpeg or .png extension")]
    found = f"ends in {extension!r}" if extension else "has no file extension"
    return [FieldError(pointer, f"the URL path {found}; a {media_type} URL must end in one of "
                                f"{', '.join(allowed)}")]


def check_send_media(data: Mapping[str, Any]) -> list[FieldError]:
    """Problems with a `send_media` input for Corbital, which sends media by link only."""
    if data.get("media_id"):
        # A media id names a file uploaded ahead to a Cloud API provider (WBIZ upload_media);
        # Corbital keeps no uploads: the file goes with the message itself (§1.7).
        return [FieldError("/media_id", "a Corbital tenant keeps no uploaded media, so it "
                                        "can't send a media id; give media_url, a public link")]
    return check_media_url(data.get("media_url"), data.get("media_type"))


TemplateLoader = Callable[[bool], tuple[Sequence[Mapping[str, Any]], bool]]
"""`load(fresh)` -> (templates, came from the cache); `fresh=True` bypasses the cache."""


def resolve_template(
    load: TemplateLoader, data: Mapping[str, Any]
) -> tuple[Mapping[str, Any] | None, list[FieldError]]:
    """The template `data` names, checked for sending; or None and every problem found.

    A failed check against a cached list is repeated once against a fresh list: the cache may
    predate a new or newly approved template.
    """
    name = str(data.get("template_name") or "")
    language = str(data.get("language") or DEFAULT_LANGUAGE)
    fresh = False
    while True:
        templates, cached = load(fresh)
        template, errors = find_template(templates, name, language)
        if template is not None:
            errors = check_template_send(template, data)
            if not errors:
                return template, []
        if not cached:
            return None, errors
        fresh = True


def find_template(
    templates: Sequence[Mapping[str, Any]], name: str, language: str
) -> tuple[Mapping[str, Any] | None, list[FieldError]]:
    """The template with exactly this name and language, or why there is none."""
    same_name = [t for t in templates if t.get("name") == name]
    for template in same_name:
        if template.get("language") == language:
            return template, []
    if same_name:
        languages = ", ".join(sorted(str(t.get("language")) for t in same_name))
        return None, [FieldError("/language", f"template {name!r} has no language {language!r}; "
                                              f"it exists in: {languages}")]
    return None, [FieldError("/template_name", f"no template named {name!r} exists upstream; "
                                               "sync the templates there, then retry")]


def check_template_send(template: Mapping[str, Any], data: Mapping[str, Any]) -> list[FieldError]:
    """Everything wrong with sending `template` with the action input `data`."""
    errors: list[FieldError] = []
    label = f"template {template.get('name')!r} ({template.get('language')})"
    status = str(template.get("status") or "UNKNOWN").upper()
    if status != "APPROVED":
        errors.append(FieldError("/template_name", f"{label} is {status}; only APPROVED "
                                                   "templates can be sent"))
    body_params = list(data.get("body_params") or [])
    expected = int(template.get("body_param_count") or 0)
    if len(body_params) != expected:
        errors.append(FieldError("/body_params", f"{label} takes {_params(expected)} in its "
                                                 f"body, {len(body_params)} given"))
    if expected > MAX_BODY_PARAMS:
        errors.append(FieldError("/body_params", f"{label} takes {expected} body parameters; the "
                                                 f"upstream API sends at most {MAX_BODY_PARAMS}"))
    errors.extend(_check_header(template, data, label))
    if len(data.get("button_params") or []) > MAX_BUTTON_PARAMS:
        errors.append(FieldError("/button_params", f"at most {MAX_BUTTON_PARAMS} button "
                                                   "parameters can be sent"))
    return errors


def _check_header(
    template: Mapping[str, Any], data: Mapping[str, Any], label: str
) -> list[FieldError]:
    header = template.get("header") or {}
    header_format = str(header.get("format") or "").upper()
    header_params = list(data.get("header_params") or [])
    media_url = data.get("header_media_url")
    errors: list[FieldError] = []
    expected = int(header.get("param_count") or 0) if header_format == "TEXT" else 0
    if len(header_params) != expected:
        errors.append(FieldError("/header_params", f"{label} takes {_params(expected)} in its "
                                                   f"header, {len(header_params)} given"))
    if header_format in HEADER_MEDIA:
        media_type, _ = HEADER_MEDIA[header_format]
        if not media_url:
            errors.append(FieldError("/header_media_url", f"{label} has a media header "
                                                          f"({media_type}): give the file's URL"))
        else:
            errors.extend(check_media_url(media_url, media_type, "/header_media_url"))
    elif media_url:
        errors.append(FieldError("/header_media_url", f"{label} has no media header; leave "
                                                      "header_media_url out"))
    return errors


def template_payload(template: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The `messages/template` fields for a checked send (phone and contact are added later)."""
    payload: dict[str, Any] = {
        "template_name": template.get("name"),
        "template_language": template.get("language"),
    }
    for index, value in enumerate(data.get("body_params") or [], start=1):
        payload[f"field_{index}"] = str(value)
    for index, value in enumerate(data.get("header_params") or [], start=1):
        payload[f"header_field_{index}"] = str(value)
    header_format = str((template.get("header") or {}).get("format") or "").upper()
    if header_format in HEADER_MEDIA and data.get("header_media_url"):
        payload[HEADER_MEDIA[header_format][1]] = data["header_media_url"]
    for index, value in enumerate(data.get("button_params") or []):
        payload[f"button_{index}"] = str(value)
    return payload


def _params(count: int) -> str:
    return "no parameters" if count == 0 else f"{count} parameter{'s' if count != 1 else ''}"
