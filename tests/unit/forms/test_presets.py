"""Presets turn each product's payload into {fields, labels, submission_id, submitted_at}."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from connector.forms.decode import decode, nest_brackets
from connector.forms.presets import calendly, normalize
from tests.support import forms


def _body(request: forms.HookRequest) -> object:
    if request.content_type.startswith("multipart/"):
        import io

        from werkzeug.formparser import FormDataParser
        from werkzeug.http import parse_options_header
        mimetype, options = parse_options_header(request.content_type)
        _, form, _ = FormDataParser().parse(io.BytesIO(request.body), mimetype,
                                            len(request.body), options)
        return decode(request.content_type, request.body, form.items(multi=True))
    if request.content_type.startswith("application/x-www"):
        return nest_brackets(parse_qsl(request.body.decode()))
    return json.loads(request.body)


def test_every_product_yields_name_and_phone() -> None:
    for name, product in forms.PRODUCTS.items():
        form = normalize(name, _body(product.build("Ana Souza", "+5511987654321",
                                                   submission="sub-1")))
        assert form["product"] == name
        fields = form["fields"]
        key = product.phone_expr.rsplit(".", 1)[-1]
        assert str(fields[key]).endswith("5511987654321") or "98765" in str(fields[key]), name
        if name != "elementor":
            assert form["submission_id"], name


def test_labels_give_slug_aliases_and_webflow_numbers_stay_integers() -> None:
    form = normalize("webflow", json.loads(forms.webflow("Ana", 5511987654321.0).body))
    assert form["fields"]["phone_number"] == 5511987654321
    assert form["labels"]["phone_number"] == "Phone Number"
    tally = normalize("tally", json.loads(forms.tally("Ana", "+55 11").body))
    assert tally["fields"]["whatsapp"] == tally["fields"]["question_w4Q0Zd"] == "+55 11"


def test_calendly_questions_become_fields() -> None:
    form = calendly({"event": "invitee.created", "created_at": "2025-05-01T10:00:00Z",
                     "payload": {"uri": "https://api.calendly.com/x/invitees/INV", "name": "Ana",
                                 "questions_and_answers": [{"question": "WhatsApp",
                                                            "answer": "11 98765-4321"}],
                                 "scheduled_event": {"name": "Demo"}}})
    assert form["fields"]["whatsapp"] == "11 98765-4321"
    assert form["submission_id"] == "https://api.calendly.com/x/invitees/INV"


def test_unexpected_shapes_give_empty_fields_not_errors() -> None:
    for product in ("typeform", "tally", "jotform", "elementor", "webflow", "google_forms",
                    "calendly", "generic"):
        assert isinstance(normalize(product, ["not", "an", "object"])["fields"], dict)
