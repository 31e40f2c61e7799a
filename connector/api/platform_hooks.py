"""`POST /hooks/platform/{token}`: the Corbital platform's model webhooks and forwarded Meta
payloads. The secret token in the URL is the credential (the platform signs nothing we can
check, reference §1.8); everything is stored before we answer 200."""

import json

from flask import Blueprint, request

from connector.api.inputs import runtime
from connector.errors import MalformedJson
from connector.services.platform import ingest

bp = Blueprint("platform_hooks", __name__, url_prefix="/hooks/platform")


@bp.post("/<token>")
def receive(token: str) -> dict[str, object]:
    try:
        payload = json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedJson(f"the body is not valid JSON: {error}") from None
    return {"received": True, **ingest(runtime(), token, payload)}
