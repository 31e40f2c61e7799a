"""`POST /hooks/platform/{token}`: the Corbital platform's model webhooks and forwarded Meta
payloads, WBIZ and waapi webhooks. The secret token in the URL is the credential (the Corbital
platform signs nothing we can check, reference §1.8); a connection with a signing secret (WBIZ)
also requires its signature. Everything is stored before we answer 200."""

import json
import time

from flask import Blueprint, request

from connector.api.inputs import runtime
from connector.errors import MalformedJson
from connector.services.platform import ingest
from connector.services.push_signing import check_push

bp = Blueprint("platform_hooks", __name__, url_prefix="/hooks/platform")


@bp.post("/<token>")
def receive(token: str) -> dict[str, object]:
    raw = request.get_data(cache=False)
    check_push(runtime(), token, dict(request.headers), raw, now=time.time())
    try:
        payload = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedJson(f"the body is not valid JSON: {error}") from None
    return {"received": True, **ingest(runtime(), token, payload)}
