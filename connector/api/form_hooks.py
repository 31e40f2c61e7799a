"""`POST /hooks/in/{token}`: a form product's webhook, exactly as the product sends it.

Verify (raw bytes) -> decode -> store the submission encrypted with its run -> enqueue ->
answer 200 (Elementor shows the visitor an error on anything else). No API key: the URL's
unguessable token selects the workflow, and a signature or shared secret proves the sender.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header

from connector.api.inputs import runtime
from connector.errors import ApiError, BadRequest, UnsupportedMediaType, ValidationFailed
from connector.forms.decode import MAX_FIELDS, BodyError, decode
from connector.forms.presets import Form, normalize
from connector.services.workflows import receive_form
from connector.store.workflow_models import Workflow

bp = Blueprint("form_hooks", __name__)


def _multipart_fields(content_type: str | None, raw: bytes) -> list[tuple[str, str]]:
    mimetype, options = parse_options_header(content_type or "")
    if mimetype != "multipart/form-data":
        return []
    parser = FormDataParser(max_form_parts=MAX_FIELDS, silent=False,
                            cls=MultiDict)
    try:
        _, form, _files = parser.parse(io.BytesIO(raw), mimetype, len(raw), options)
    except (ValueError, RequestEntityTooLarge) as error:
        raise BodyError(f"the multipart body can't be read: {error}") from None
    fields = list(form.items(multi=True))
    if not fields:
        raise BodyError("the multipart body has no fields (is the boundary right?)")
    return fields


def trigger_of(workflow: Workflow, content_type: str | None, raw: bytes) -> Form:
    """A stored or live submission -> the normalised form its runs see (raises BodyError)."""
    body = decode(content_type, raw, _multipart_fields(content_type, raw))
    product = str(workflow.definition["trigger"].get("product") or "generic")
    return normalize(product, body)


def _body_problem(error: BodyError) -> ApiError:
    if error.status == 415:
        return UnsupportedMediaType(error.reason)
    if error.status == 422:
        return ValidationFailed(error.reason, errors=[{"pointer": "", "message": error.reason}])
    return BadRequest(error.reason)


@bp.post("/hooks/in/<token>")
def receive(token: str) -> ResponseReturnValue:
    try:
        stored = receive_form(runtime(), token, body=lambda: request.get_data(cache=True),
                              content_type=request.content_type, headers=request.headers,
                              decode=trigger_of)
    except BodyError as error:
        raise _body_problem(error) from None
    answer: dict[str, Any] = {"ok": True, "event_id": stored.event_id,
                              "duplicate": stored.duplicate, "run_id": stored.run_id}
    return jsonify(answer), 200
