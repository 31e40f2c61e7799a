"""Per-product presets: a decoded body -> `{fields, labels, submission_id, submitted_at, product}`.

Users then map `form.fields.phone` whatever the product (crm-forms.md §B). Keys are the
product's stable ids (Typeform `field.ref`, Tally `key`, Elementor custom id, Jotform field
name without its `qN_` prefix); a field whose label slug (`"Phone Number"` -> `phone_number`)
isn't already a key is reachable by that too. A preset never raises on unexpected shapes: it
fills what it finds (a wrong product shows as empty fields in the run and the dry run).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

Form = dict[str, Any]
_JOTFORM_KEY = re.compile(r"^q\d+_(?P<name>.+)$")
_META_KEYS = frozenset({"form_id", "form_name", "formId", "formName"})


def slug(label: Any) -> str:
    text = unicodedata.normalize("NFKD", str(label)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _scalar(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # Webflow sends phones as numbers: 5511987654321.0 must not happen
    return value


def _form(product: str, fields: Mapping[str, Any], labels: Mapping[str, str],
          submission_id: Any = None, submitted_at: Any = None) -> Form:
    out_fields = {str(k): _scalar(v) for k, v in fields.items()}
    out_labels = {str(k): str(v) for k, v in labels.items() if v is not None}
    for key, label in list(out_labels.items()):
        alias = slug(label)
        if alias and alias not in out_fields:
            out_fields[alias] = out_fields.get(key)
            out_labels.setdefault(alias, label)
    return {"fields": out_fields, "labels": out_labels,
            "submission_id": None if submission_id in (None, "") else str(submission_id),
            "submitted_at": submitted_at if isinstance(submitted_at, str) else None,
            "product": product}


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def typeform(body: Any) -> Form:
    response = _dict(_dict(body).get("form_response"))
    titles = {f.get("id"): f.get("title") for f in _list(_dict(response.get("definition"))
                                                          .get("fields")) if isinstance(f, Mapping)}
    fields: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for answer in _list(response.get("answers")):
        if not isinstance(answer, Mapping):
            continue
        field = _dict(answer.get("field"))
        key = str(field.get("ref") or field.get("id") or "")
        if not key:
            continue
        kind = answer.get("type")
        value = answer.get(kind) if isinstance(kind, str) else None
        if kind == "choice":
            value = _dict(value).get("label") or _dict(value).get("other")
        elif kind == "choices":
            value = _dict(value).get("labels")
        fields[key] = value
        title = titles.get(field.get("id"))
        if title:
            labels[key] = str(title)
    for key, value in _dict(response.get("hidden")).items():
        fields.setdefault(str(key), value)
    return _form("typeform", fields, labels,
                 _dict(body).get("event_id") or response.get("token"), response.get("submitted_at"))


def tally(body: Any) -> Form:
    data = _dict(_dict(body).get("data"))
    fields: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for field in _list(data.get("fields")):
        if not isinstance(field, Mapping) or not field.get("key"):
            continue
        key, value = str(field["key"]), field.get("value")
        options = {o.get("id"): o.get("text") for o in _list(field.get("options"))
                   if isinstance(o, Mapping)}
        if options and isinstance(value, list):
            value = [options.get(v, v) for v in value]
        fields[key] = value
        if field.get("label"):
            labels[key] = field["label"]
    return _form("tally", fields, labels,
                 _dict(body).get("eventId") or data.get("responseId"),
                 data.get("createdAt") or _dict(body).get("createdAt"))


def _jotform_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        if "full" in value:
            return value["full"]
        if "first" in value or "last" in value:
            return " ".join(str(value[k]) for k in ("prefix", "first", "middle", "last", "suffix")
                            if value.get(k)).strip()
        if "area" in value or "phone" in value:
            return f"{value.get('area', '')}{value.get('phone', '')}"
    return value


def jotform(body: Any) -> Form:
    raw = _dict(_dict(body).get("rawRequest"))
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        match = _JOTFORM_KEY.match(str(key))
        if match:
            fields[match.group("name")] = _jotform_value(value)
            if isinstance(value, Mapping):
                fields[match.group("name") + "_parts"] = dict(value)
    return _form("jotform", fields, {}, _dict(body).get("submissionID"))


def elementor(body: Any) -> Form:
    data = _dict(body)
    advanced = _dict(data.get("fields"))
    if advanced:
        fields = {k: _dict(v).get("value") for k, v in advanced.items()}
        labels = {k: str(_dict(v).get("title")) for k, v in advanced.items()
                  if _dict(v).get("title")}
        return _form("elementor", fields, labels)
    # "Advanced data" off: flat `Label=value` pairs plus form_id / form_name.
    flat = {k: v for k, v in data.items() if k not in _META_KEYS and not isinstance(v, Mapping)}
    return _form("elementor", {slug(k): v for k, v in flat.items()},
                 {slug(k): k for k in flat})


def webflow(body: Any) -> Form:
    payload = _dict(_dict(body).get("payload"))
    data = _dict(payload.get("data"))
    return _form("webflow", {slug(k): v for k, v in data.items()}, {slug(k): k for k in data},
                 payload.get("id"), payload.get("submittedAt"))


def google_forms(body: Any) -> Form:
    data = _dict(body)
    answers = _dict(data.get("answers"))
    fields = {slug(k): (v[0] if isinstance(v, list) and len(v) == 1 else v)
              for k, v in answers.items()}
    return _form("google_forms", fields, {slug(k): k for k in answers},
                 data.get("response_id"), data.get("submitted_at"))


def calendly(body: Any) -> Form:
    payload = _dict(_dict(body).get("payload"))
    fields: dict[str, Any] = {k: payload.get(k) for k in
                              ("name", "first_name", "last_name", "email", "text_reminder_number",
                               "timezone") if payload.get(k) is not None}
    labels: dict[str, str] = {}
    for qa in _list(payload.get("questions_and_answers")):
        if isinstance(qa, Mapping) and qa.get("question"):
            key = slug(qa["question"])
            fields.setdefault(key, qa.get("answer"))
            labels[key] = qa["question"]
    fields["event_name"] = _dict(payload.get("scheduled_event")).get("name")
    fields["start_time"] = _dict(payload.get("scheduled_event")).get("start_time")
    return _form("calendly", fields, labels, payload.get("uri"), _dict(body).get("created_at"))


def _flat(product: str) -> Callable[[Any], Form]:
    def preset(body: Any) -> Form:
        data = _dict(body)
        fields = {str(k): v for k, v in data.items()}
        submission = data.get("submission_id") or data.get("entry_id") or data.get("id")
        return _form(product, fields, {}, submission,
                     data.get("submitted_at") or data.get("date_created"))
    return preset


PRESETS: Mapping[str, Callable[[Any], Form]] = {
    "typeform": typeform,
    "tally": tally,
    "jotform": jotform,
    "elementor": elementor,
    "webflow": webflow,
    "google_forms": google_forms,
    "calendly": calendly,
    "wordpress": _flat("wordpress"),
    "generic": _flat("generic"),
}


def normalize(product: str, body: Any) -> Form:
    return PRESETS.get(product, PRESETS["generic"])(body)
