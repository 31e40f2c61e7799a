"""DESIGN.md's outcome table, one row per case: `classify(exchange) -> Outcome`, no sockets."""

from __future__ import annotations

from typing import Any

import pytest

from connector.engine.classify import ErrorRules, classify
from connector.engine.outcome import FieldError, OutcomeKind
from connector.providers.corbital_mapping import CORBITAL_ERROR_RULES
from connector.providers.http import Exchange

NOW = 1_800_000_000.0
RULES = CORBITAL_ERROR_RULES


def ex(status: int | None = 200, body: Any = None, **kwargs: Any) -> Exchange:
    text = kwargs.pop("text", None)
    return Exchange(status=status, body=body, text=text, sent=kwargs.pop("sent", True),
                    received_at=NOW, **kwargs)


def scope(ability: str) -> dict[str, str]:
    return {"status": "error", "message": f"Token does not have the required ability: {ability}"}


KIND_CASES = [
    # 2xx
    pytest.param(ex(200, {"status": "success", "data": {"id": 1}}), False, OutcomeKind.SUCCESS,
                 id="200-json"),
    pytest.param(ex(201, {"status": "success", "data": {"id": 1}}), True, OutcomeKind.SUCCESS,
                 id="201-created"),
    pytest.param(ex(200, [{"id": 1}]), False, OutcomeKind.SUCCESS, id="200-json-array"),
    pytest.param(ex(204), True, OutcomeKind.SUCCESS, id="204-no-content"),
    pytest.param(ex(200, None, text=""), True, OutcomeKind.UPSTREAM_ERROR, id="200-empty"),
    pytest.param(ex(200, None, text="<html>oops</html>"), True, OutcomeKind.UPSTREAM_ERROR,
                 id="200-html"),
    pytest.param(ex(200, "just a string", text='"just a string"'), False,
                 OutcomeKind.UPSTREAM_ERROR, id="200-json-scalar"),
    pytest.param(ex(200, {"status": "error", "message": "nope"}), True,
                 OutcomeKind.UPSTREAM_ERROR, id="200-inner-status-error"),
    pytest.param(ex(200, {"success": True, "data": {"status": "error", "message": "no chat"}}),
                 True, OutcomeKind.UPSTREAM_ERROR, id="200-waapi-data-status-error"),
    # 3xx
    pytest.param(ex(301, None, headers={"Location": "https://x/api/v1/t"}), False,
                 OutcomeKind.HALTED, id="301-redirect"),
    # 401 / 403
    pytest.param(ex(401, {"status": "error", "message": "Invalid API token"}), False,
                 OutcomeKind.AUTH_INVALID, id="401"),
    pytest.param(ex(403, scope("contacts.read")), False, OutcomeKind.SCOPE_MISSING,
                 id="403-ability"),
    pytest.param(ex(403, {"status": "error", "message": "Limit", "limit_reached": True}), True,
                 OutcomeKind.HALTED, id="403-conversation-limit"),
    pytest.param(ex(403, {"status": "error", "message": "You have reached the maximum number of "
                                                        "contacts"}), True,
                 OutcomeKind.HALTED, id="403-contact-limit"),
    pytest.param(ex(403, {"status": "error", "message": "API access is disabled"}), False,
                 OutcomeKind.HALTED, id="403-api-disabled"),
    pytest.param(ex(403, {"code": "CONTACT_OPTED_OUT", "message": "Contact opted out"}), True,
                 OutcomeKind.HALTED, id="403-opted-out"),
    # 4xx input errors
    pytest.param(ex(400, {"status": "error", "message": "Status is in use"}), True,
                 OutcomeKind.INVALID, id="400"),
    pytest.param(ex(404, {"status": "error", "message": "Group not found"}), False,
                 OutcomeKind.INVALID, id="404"),
    pytest.param(ex(422, {"status": "error", "message": "Validation failed",
                          "errors": {"firstname": ["required"]}}), True,
                 OutcomeKind.INVALID, id="422"),
    pytest.param(ex(418, {"message": "teapot"}), False, OutcomeKind.INVALID, id="other-4xx"),
    # 429
    pytest.param(ex(429, {"message": "Too Many Attempts.", "retry_after": 12}), True,
                 OutcomeKind.THROTTLED, id="429"),
    # 5xx: depends on whether the request had a side effect
    pytest.param(ex(500, {"status": "error", "message": "boom"}), False, OutcomeKind.TRANSIENT,
                 id="500-read"),
    pytest.param(ex(500, {"status": "error", "message": "Failed to send WhatsApp message"}),
                 True, OutcomeKind.IN_DOUBT, id="500-send"),
    pytest.param(ex(503, None, text="Service Unavailable"), False, OutcomeKind.TRANSIENT,
                 id="503-read"),
    pytest.param(ex(502, None, text=""), True, OutcomeKind.IN_DOUBT, id="502-send"),
    pytest.param(ex(408, None), True, OutcomeKind.IN_DOUBT, id="408-send"),
    # Corbital's unknown tenant is a 500, but a configuration error: never retried.
    pytest.param(ex(500, {"status": "error", "message": "Validation failed",
                          "errors": "Invalid tenant subdomain"}), False,
                 OutcomeKind.HALTED, id="500-invalid-tenant-read"),
    pytest.param(ex(500, {"status": "error", "message": "Validation failed",
                          "errors": "Invalid tenant subdomain"}), True,
                 OutcomeKind.HALTED, id="500-invalid-tenant-send"),
    pytest.param(ex(404, {"status": "error", "message": "API settings not found for this "
                                                        "tenant"}), False,
                 OutcomeKind.HALTED, id="404-no-api-settings"),
    # transport errors
    pytest.param(ex(None, error="dns_error", sent=False), True, OutcomeKind.TRANSIENT,
                 id="dns-send"),
    pytest.param(ex(None, error="connect_error", sent=False), True, OutcomeKind.TRANSIENT,
                 id="refused-send"),
    pytest.param(ex(None, error="connect_timeout", sent=False), True, OutcomeKind.TRANSIENT,
                 id="connect-timeout-send"),
    pytest.param(ex(None, error="ssl_error", sent=False), True, OutcomeKind.TRANSIENT,
                 id="ssl-send"),
    pytest.param(ex(None, error="read_timeout", sent=True), False, OutcomeKind.TRANSIENT,
                 id="read-timeout-read"),
    pytest.param(ex(None, error="read_timeout", sent=True), True, OutcomeKind.IN_DOUBT,
                 id="read-timeout-send"),
    pytest.param(ex(None, error="connection_dropped", sent=True), False, OutcomeKind.TRANSIENT,
                 id="dropped-read"),
    pytest.param(ex(None, error="connection_dropped", sent=True), True, OutcomeKind.IN_DOUBT,
                 id="dropped-send"),
    pytest.param(ex(200, error="too_large", sent=True), False, OutcomeKind.UPSTREAM_ERROR,
                 id="too-large-read"),
    pytest.param(ex(200, error="too_large", sent=True), True, OutcomeKind.IN_DOUBT,
                 id="too-large-send"),
    pytest.param(ex(None, error=None, sent=False), False, OutcomeKind.TRANSIENT,
                 id="no-status-no-error"),
]


@pytest.mark.parametrize("exchange, side_effect, kind", KIND_CASES)
def test_classify_kind(exchange: Exchange, side_effect: bool, kind: OutcomeKind) -> None:
    assert classify(exchange, side_effect=side_effect, rules=RULES).kind is kind


def test_success_output_is_the_parsed_body() -> None:
    body = {"status": "success", "data": {"id": 7}}
    outcome = classify(ex(200, body), side_effect=False, rules=RULES)
    assert outcome.ok and outcome.output == body and outcome.http_status == 200


def test_scope_missing_names_the_ability() -> None:
    outcome = classify(ex(403, scope("messages.send")), side_effect=True, rules=RULES)
    assert outcome.missing_ability == "messages.send"
    assert "messages.send" in outcome.message


def test_scope_needs_provider_rules() -> None:
    outcome = classify(ex(403, scope("messages.send")), side_effect=True, rules=ErrorRules())
    assert outcome.kind is OutcomeKind.HALTED and outcome.missing_ability is None


def test_scope_pattern_is_provider_data() -> None:
    rules = ErrorRules(scope_message_pattern=r"missing scope (\S+)")
    outcome = classify(ex(403, {"message": "missing scope contacts:write"}), side_effect=False,
                       rules=rules)
    assert outcome.kind is OutcomeKind.SCOPE_MISSING
    assert outcome.missing_ability == "contacts:write"


def test_bad_scope_pattern_fails_when_rules_are_built() -> None:
    with pytest.raises(Exception, match="unterminated|missing"):
        ErrorRules(scope_message_pattern="(")


def test_plan_limit_says_why() -> None:
    body = {"status": "error", "message": "Conversation limit reached", "limit_reached": True}
    outcome = classify(ex(403, body), side_effect=True, rules=RULES)
    assert outcome.message.startswith("plan limit reached (conversations)")
    assert "Conversation limit reached" in outcome.message


def test_invalid_tenant_message_says_what_to_fix() -> None:
    body = {"status": "error", "message": "Validation failed", "errors": "Invalid tenant subdomain"}
    outcome = classify(ex(500, body), side_effect=False, rules=RULES)
    assert "tenant" in outcome.message and "check the connection" in outcome.message
    assert outcome.http_status == 500


@pytest.mark.parametrize(
    "errors, expected",
    [
        pytest.param({"firstname": ["The firstname field is required."]},
                     [FieldError("/first_name", "The firstname field is required.")],
                     id="mapped-name"),
        pytest.param({"email": ["taken", "invalid"]},
                     [FieldError("/email", "taken"), FieldError("/email", "invalid")],
                     id="unmapped-name-many-messages"),
        pytest.param({"group_id.0": ["must be an integer"]},
                     [FieldError("/group_ids/0", "must be an integer")], id="dotted-mapped-head"),
        pytest.param({"contact.country": ["required"]},
                     [FieldError("/contact/country", "required")], id="dotted-nested"),
        pytest.param({"template_fields": ["field_2 (Body parameter 2 required)"]},
                     [FieldError("/body_params", "field_2 (Body parameter 2 required)")],
                     id="template-fields"),
        pytest.param({"header_field_1": ["required"]},
                     [FieldError("/header_params/0", "required")], id="mapped-to-index"),
        pytest.param({"a/b~c": ["odd"]}, [FieldError("/a~1b~0c", "odd")], id="pointer-escaped"),
        pytest.param({"phone": "single string"}, [FieldError("/phone", "single string")],
                     id="message-not-a-list"),
    ],
)
def test_validation_errors_become_pointers(errors: Any, expected: list[FieldError]) -> None:
    body = {"status": "error", "message": "Validation failed", "errors": errors}
    outcome = classify(ex(422, body), side_effect=True, rules=RULES)
    assert list(outcome.field_errors) == expected


def test_404_keeps_the_upstream_words() -> None:
    body = {"status": "error", "message": "Template not found",
            "errors": {"template": ["Template not approved"]}}
    outcome = classify(ex(404, body), side_effect=True, rules=RULES)
    assert "Template not found" in outcome.message
    assert outcome.field_errors == (FieldError("/template_name", "Template not approved"),)


@pytest.mark.parametrize(
    "exchange, retry_after",
    [
        pytest.param(ex(429, {"message": "Too Many", "retry_after": 12}), 12.0, id="body"),
        pytest.param(ex(429, None, headers={"Retry-After": "3"}), 3.0, id="header-seconds"),
        pytest.param(ex(429, None, headers={"Retry-After": "Fri, 15 Jan 2027 08:00:20 GMT"}),
                     20.0, id="header-date-against-received-at"),
        pytest.param(ex(429, None, headers={"X-RateLimit-Reset": "1800000005"}), 5.0,
                     id="reset-epoch"),
        pytest.param(ex(429, {"message": "slow down"}), None, id="none-announced"),
    ],
)
def test_throttled_carries_retry_after(exchange: Exchange, retry_after: float | None) -> None:
    outcome = classify(exchange, side_effect=True, rules=RULES)
    assert outcome.kind is OutcomeKind.THROTTLED
    assert outcome.retry_after_s == retry_after


def test_explicit_now_beats_received_at() -> None:
    exchange = ex(429, None, headers={"X-RateLimit-Reset": "1800000005"})
    outcome = classify(exchange, side_effect=False, rules=RULES, now=NOW - 10)
    assert outcome.retry_after_s == 15.0


def test_transient_read_keeps_a_retry_after_hint() -> None:
    outcome = classify(ex(503, None, headers={"Retry-After": "9"}), side_effect=False, rules=RULES)
    assert outcome.kind is OutcomeKind.TRANSIENT and outcome.retry_after_s == 9.0


def test_in_doubt_message_says_not_to_resend_blindly() -> None:
    outcome = classify(ex(None, error="read_timeout", sent=True), side_effect=True, rules=RULES)
    assert "may have" in outcome.message


def test_messages_never_quote_headers_or_tokens() -> None:
    token = "f" * 64
    exchange = Exchange(
        method="POST", url="https://h/api/v1/t/messages/send",
        request_headers={"Authorization": f"Bearer {token}"},
        status=401, headers={"Set-Cookie": "laravel_session=secret"},
        body={"status": "error", "message": "Invalid API token"}, sent=True,
    )
    message = classify(exchange, side_effect=True, rules=RULES).message
    assert token not in message and "laravel_session" not in message
    assert "Invalid API token" in message


def test_html_error_pages_are_not_quoted() -> None:
    exchange = ex(500, None, text="<!DOCTYPE html><html><body>Whoops</body></html>")
    outcome = classify(exchange, side_effect=False, rules=RULES)
    assert outcome.kind is OutcomeKind.TRANSIENT and "<html" not in outcome.message


def test_long_upstream_messages_are_cut() -> None:
    outcome = classify(ex(422, {"message": "x" * 5000}), side_effect=False, rules=RULES)
    assert len(outcome.message) < 400


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"message": 5, "errors": [1, {"a": None}]}, id="odd-types"),
        pytest.param({"errors": {"f": None}}, id="null-messages"),
        pytest.param({"data": ["not", "an", "object"]}, id="data-list"),
        pytest.param(["just", "a", "list"], id="list-body"),
        pytest.param(3.5, id="number-body"),
    ],
)
@pytest.mark.parametrize("status", [200, 403, 422, 429, 500])
def test_never_raises_on_odd_bodies(body: Any, status: int) -> None:
    outcome = classify(ex(status, body), side_effect=True, rules=RULES)
    assert isinstance(outcome.kind, OutcomeKind)
