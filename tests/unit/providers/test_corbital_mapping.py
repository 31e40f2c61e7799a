"""Corbital v1 shapes <-> our normalised fields, and the send pre-checks (pure, no sockets).

The pre-checks live in `corbital_templates.py`; they are tested here with the shapes they read.
"""

from __future__ import annotations

from typing import Any

import pytest

from connector.engine.outcome import FieldError
from connector.providers import corbital_mapping as cm
from connector.providers import corbital_templates as ct

UPSTREAM_CONTACT = {
    "id": 12, "tenant_id": 3, "firstname": "Ada", "lastname": "Lovelace", "company": "AE",
    "type": "lead", "description": None, "country_id": 81, "zip": "10115", "city": "Berlin",
    "state": None, "address": None, "assigned_id": None, "status_id": 2, "source_id": 5,
    "group_id": [1, 4], "email": "ada@example.com", "website": None, "phone": "+4915123456789",
    "is_enabled": 1, "created_at": "2025-07-12T10:44:50.000000Z",
    "updated_at": "2025-07-12T10:44:50.000000Z",
}


def test_contact_from_upstream_renames_and_stringifies_ids() -> None:
    contact = cm.contact_from_upstream(UPSTREAM_CONTACT)
    assert contact["id"] == "12"
    assert (contact["first_name"], contact["last_name"]) == ("Ada", "Lovelace")
    assert contact["group_ids"] == ["1", "4"]
    assert (contact["status_id"], contact["source_id"], contact["country_id"]) == ("2", "5", "81")
    assert contact["assigned_id"] is None
    assert "firstname" not in contact and "tenant_id" not in contact


@pytest.mark.parametrize(
    "group_id, expected",
    [
        pytest.param([3, "7"], ["3", "7"], id="list"),
        pytest.param("[3, 7]", ["3", "7"], id="json-string"),
        pytest.param(None, [], id="null"),
        pytest.param("", [], id="empty-string"),
        pytest.param("not json", [], id="garbage"),
        pytest.param([1, "x", None, True], ["1"], id="drops-non-ids"),
    ],
)
def test_contact_group_ids_tolerate_storage_forms(group_id: Any, expected: list[str]) -> None:
    assert cm.contact_from_upstream({"id": 1, "group_id": group_id})["group_ids"] == expected


def test_contact_to_upstream_renames_and_casts_ids() -> None:
    ours = {"id": "12", "first_name": "Ada", "last_name": "L", "group_ids": ["1", "4"],
            "status_id": "2", "source_id": 5, "type": "lead", "email": "a@x.io"}
    assert cm.contact_to_upstream(ours) == {
        "firstname": "Ada", "lastname": "L", "group_id": [1, 4], "status_id": 2, "source_id": 5,
        "type": "lead", "email": "a@x.io",
    }


def test_contact_to_upstream_leaves_non_numeric_ids_for_the_upstream_to_refuse() -> None:
    assert cm.contact_to_upstream({"status_id": "new"}) == {"status_id": "new"}


def test_contact_round_trip_keeps_our_fields() -> None:
    ours = {"first_name": "Ada", "last_name": "L", "phone": "+4915123456789",
            "group_ids": ["9"], "status_id": "2", "source_id": "5", "type": "contact"}
    back = cm.contact_from_upstream({"id": 1, **cm.contact_to_upstream(ours)})
    assert {k: back[k] for k in ours} == ours


@pytest.mark.parametrize(
    "raw, is_default",
    [
        pytest.param(True, True, id="bool"),
        pytest.param(1, True, id="int"),
        pytest.param("1", True, id="string"),
        pytest.param(0, False, id="zero"),
        pytest.param(None, False, id="null"),
    ],
)
def test_status_is_default(raw: Any, is_default: bool) -> None:
    status = cm.status_from_upstream({"id": 2, "name": "New", "color": "#f00", "isdefault": raw})
    assert status["is_default"] is is_default and status["id"] == "2"


def test_status_to_upstream() -> None:
    assert cm.status_to_upstream({"id": "2", "name": "Won", "is_default": True}) == {
        "name": "Won", "isdefault": True}


def test_named_resources() -> None:
    assert cm.named_from_upstream({"id": 4, "name": "VIP", "tenant_id": 1}) == {
        "id": "4", "name": "VIP", "created_at": None, "updated_at": None}
    assert cm.named_to_upstream({"id": "4", "name": "VIP"}) == {"name": "VIP"}


UPSTREAM_TEMPLATE = {
    "id": 3, "template_id": 1234567890123456789, "template_name": "order_update",
    "language": "en", "status": "APPROVED", "category": "UTILITY",
    "header_data_format": "IMAGE", "header_data_text": None, "header_params_count": 0,
    "body_data": "Hi {{1}}, order {{2}} shipped", "body_params_count": 2, "footer_data": "Thanks",
    "buttons_data": '[{"type":"URL","text":"Track","url":"https://t.io/{{1}}"}]',
}


def test_template_from_upstream() -> None:
    assert cm.template_from_upstream(UPSTREAM_TEMPLATE) == {
        "id": "3", "meta_id": "1234567890123456789", "name": "order_update", "language": "en",
        "category": "UTILITY", "status": "APPROVED",
        "header": {"format": "IMAGE", "text": None, "param_count": 0},
        "body": "Hi {{1}}, order {{2}} shipped", "body_param_count": 2, "footer": "Thanks",
        "buttons": [{"type": "URL", "text": "Track", "url": "https://t.io/{{1}}"}],
    }


@pytest.mark.parametrize(
    "buttons, header_format, expected_buttons, expected_format",
    [
        pytest.param(None, "", [], None, id="none"),
        pytest.param("", "TEXT", [], "TEXT", id="empty-string"),
        pytest.param("{broken", None, [], None, id="bad-json"),
        pytest.param([{"type": "QUICK_REPLY"}], "VIDEO", [{"type": "QUICK_REPLY"}], "VIDEO",
                     id="already-decoded"),
    ],
)
def test_template_tolerates_odd_buttons_and_headers(
    buttons: Any, header_format: Any, expected_buttons: list[Any], expected_format: str | None
) -> None:
    template = cm.template_from_upstream({"buttons_data": buttons,
                                          "header_data_format": header_format})
    assert template["buttons"] == expected_buttons
    assert template["header"]["format"] == expected_format


@pytest.mark.parametrize(
    "reply_type, match",
    [pytest.param(1, "exact", id="1"), pytest.param("2", "contains", id="2"),
     pytest.param(3, "first_message", id="3"), pytest.param(4, "fallback", id="4"),
     pytest.param(9, None, id="unknown"), pytest.param(None, None, id="missing")],
)
def test_bot_match(reply_type: Any, match: str | None) -> None:
    assert cm.messagebot_from_upstream({"reply_type": reply_type})["match"] == match


def test_template_bot() -> None:
    raw = {"id": 8, "name": "Welcome", "template_id": 3, "trigger": "hi, hello ,,start",
           "reply_type": 1, "is_bot_active": 1, "rel_type": "lead"}
    assert cm.templatebot_from_upstream(raw) == {
        "id": "8", "kind": "template", "name": "Welcome", "triggers": ["hi", "hello", "start"],
        "match": "exact", "active": True, "template_id": "3"}


def test_message_bot() -> None:
    raw = {"id": 9, "name": "FAQ", "reply_text": "See faq", "trigger": "", "reply_type": 4,
           "is_bot_active": 0}
    assert cm.messagebot_from_upstream(raw) == {
        "id": "9", "kind": "message", "name": "FAQ", "triggers": [], "match": "fallback",
        "active": False, "reply_text": "See faq"}


def paginator(items: list[dict[str, Any]], page: int, last: int, **extra: Any) -> dict[str, Any]:
    return {"current_page": page, "data": items, "last_page": last, "per_page": 2,
            "total": 5, "next_page_url": f"https://h/x?page={page + 1}" if page < last else None,
            **extra}


@pytest.mark.parametrize(
    "data, next_page",
    [
        pytest.param(paginator([{"id": 1}, {"id": 2}], 1, 3), 2, id="first-page"),
        pytest.param(paginator([{"id": 5}], 3, 3), None, id="last-page"),
        pytest.param(paginator([{"id": 1}], 1, 3, next_page_url=None), 2,
                     id="last-page-wins-over-missing-url"),
    ],
)
def test_page_from_upstream(data: dict[str, Any], next_page: int | None) -> None:
    page = cm.page_from_upstream(data, "groups")
    assert page is not None
    assert page["next_page"] == next_page
    assert (page["per_page"], page["total"]) == (2, 5)
    assert all(isinstance(item["id"], str) for item in page["items"])


@pytest.mark.parametrize(
    "data",
    [pytest.param(None, id="null"), pytest.param([{"id": 1}], id="bare-list"),
     pytest.param({"data": [], "meta": {}}, id="scribe-shape-is-fine")],
)
def test_page_from_upstream_odd_shapes(data: Any) -> None:
    page = cm.page_from_upstream(data, "groups")
    if isinstance(data, dict):
        assert page == {"items": [], "page": 1, "per_page": 0, "total": 0, "next_page": None}
    else:
        assert page is None


@pytest.mark.parametrize(
    "hints, country, expected",
    [
        pytest.param(None, "DE", None, id="no-hints"),
        pytest.param({}, "DE", None, id="empty-hints"),
        pytest.param({"first_name": "Ada"}, "Germany",
                     {"first_name": "Ada", "country": "Germany"}, id="country-derived"),
        pytest.param({"first_name": "Ada", "country": "Austria"}, "DE",
                     {"first_name": "Ada", "country": "Austria"}, id="country-given"),
        pytest.param({"groups": ["VIP", "Berlin"]}, None, {"groups": "VIP,Berlin", "country": ""},
                     id="groups-joined"),
    ],
)
def test_contact_hints(hints: Any, country: str | None, expected: Any) -> None:
    assert cm.contact_hints_to_upstream(hints, country) == expected


def test_to_int_id() -> None:
    assert [cm.to_int_id(v) for v in (5, "5", " 7 ", "x", True, None, 2.5, "-1")] == [
        5, 5, 7, None, None, None, None, None]


# --- send pre-checks (corbital_templates) -----------------------------------------------------

MEDIA_CASES = [
    pytest.param("https://cdn.io/a.jpeg", "image", [], id="jpeg"),
    pytest.param("https://cdn.io/a.PNG?sig=1", "image", [], id="png-upper-with-query"),
    pytest.param("https://cdn.io/a.jpg", "image", [".jpeg or .png"], id="jpg-refused"),
    pytest.param("https://cdn.io/a.gif", "image", ["'.gif'", ".jpeg, .png"], id="gif"),
    pytest.param("https://cdn.io/clip.mp4", "video", [], id="mp4"),
    pytest.param("https://cdn.io/file", "document", ["no file extension"], id="no-extension"),
    pytest.param("https://cdn.io/v.ogg", "audio", [], id="ogg"),
    pytest.param("ftp://cdn.io/a.png", "image", ["not an http(s) URL"], id="ftp"),
    pytest.param("", "image", ["URL of the file is required"], id="missing-url"),
    pytest.param("https://cdn.io/a.webp", "sticker", ["media type 'sticker'"], id="sticker"),
]


@pytest.mark.parametrize("url, media_type, fragments", MEDIA_CASES)
def test_check_media_url(url: str, media_type: str, fragments: list[str]) -> None:
    errors = ct.check_media_url(url, media_type)
    assert len(errors) == (1 if fragments else 0)
    for fragment in fragments:
        assert fragment in errors[0].message


def test_media_type_error_points_at_media_type() -> None:
    assert ct.check_media_url("https://x/a.png", "gif")[0].pointer == "/media_type"


TEMPLATES = [
    cm.template_from_upstream(UPSTREAM_TEMPLATE),
    {**cm.template_from_upstream(UPSTREAM_TEMPLATE), "language": "de"},
    {"name": "promo", "language": "en", "status": "REJECTED", "body_param_count": 0,
     "header": {"format": "TEXT", "text": "Hi {{1}}", "param_count": 1}},
    {"name": "plain", "language": "en", "status": "APPROVED", "body_param_count": 0,
     "header": {"format": None, "text": None, "param_count": 0}},
]


def test_find_template_exact() -> None:
    template, errors = ct.find_template(TEMPLATES, "order_update", "de")
    assert template is TEMPLATES[1] and errors == []


def test_find_template_wrong_language_lists_the_others() -> None:
    template, errors = ct.find_template(TEMPLATES, "order_update", "fr")
    assert template is None
    assert errors == [FieldError("/language", "template 'order_update' has no language 'fr'; "
                                              "it exists in: de, en")]


def test_find_template_unknown_name() -> None:
    _, errors = ct.find_template(TEMPLATES, "nope", "en")
    assert [e.pointer for e in errors] == ["/template_name"]


CHECK_CASES = [
    pytest.param(0, {"body_params": ["Ada", "42"], "header_media_url": "https://x/a.png"}, [],
                 id="ok"),
    pytest.param(0, {"body_params": ["Ada"], "header_media_url": "https://x/a.png"},
                 [("/body_params", "takes 2 parameters in its body, 1 given")],
                 id="too-few-body-params"),
    pytest.param(0, {"body_params": ["Ada", "42"]},
                 [("/header_media_url", "has a media header (image): give the file's URL")],
                 id="media-header-needs-url"),
    pytest.param(0, {"body_params": ["Ada", "42"], "header_media_url": "https://x/a.jpg"},
                 [("/header_media_url", ".jpeg or .png")], id="media-header-jpg"),
    pytest.param(2, {"header_params": []},
                 [("/template_name", "is REJECTED; only APPROVED"),
                  ("/header_params", "takes 1 parameter in its header, 0 given")],
                 id="all-problems-reported"),
    pytest.param(3, {"header_media_url": "https://x/a.png", "header_params": ["x"]},
                 [("/header_params", "takes no parameters in its header, 1 given"),
                  ("/header_media_url", "has no media header")], id="extras-refused"),
    pytest.param(3, {"button_params": ["a", "b", "c", "d"]},
                 [("/button_params", "at most 3")], id="too-many-buttons"),
]


@pytest.mark.parametrize("index, data, expected", CHECK_CASES)
def test_check_template_send(index: int, data: dict[str, Any], expected: list[Any]) -> None:
    errors = ct.check_template_send(TEMPLATES[index], data)
    assert [e.pointer for e in errors] == [pointer for pointer, _ in expected]
    for error, (_, fragment) in zip(errors, expected, strict=True):
        assert fragment in error.message


def test_template_payload() -> None:
    data = {"body_params": ["Ada", 42], "header_media_url": "https://x/a.png",
            "button_params": ["abc"]}
    assert ct.template_payload(TEMPLATES[0], data) == {
        "template_name": "order_update", "template_language": "en", "field_1": "Ada",
        "field_2": "42", "header_image_url": "https://x/a.png", "button_0": "abc"}


def test_template_payload_text_header() -> None:
    template = {**TEMPLATES[3], "header": {"format": "TEXT", "param_count": 1}}
    assert ct.template_payload(template, {"header_params": ["Ada"]}) == {
        "template_name": "plain", "template_language": "en", "header_field_1": "Ada"}


def test_resolve_template_refreshes_a_stale_cache_once() -> None:
    fresh_list = [*TEMPLATES, {"name": "new", "language": "en", "status": "APPROVED",
                               "body_param_count": 0, "header": {}}]
    calls: list[bool] = []

    def load(fresh: bool) -> tuple[list[dict[str, Any]], bool]:
        calls.append(fresh)
        return (fresh_list, False) if fresh else (TEMPLATES, True)

    template, errors = ct.resolve_template(load, {"template_name": "new", "language": "en"})
    assert template is not None and template["name"] == "new" and errors == []
    assert calls == [False, True]


def test_resolve_template_does_not_refetch_a_fresh_list() -> None:
    calls: list[bool] = []

    def load(fresh: bool) -> tuple[list[dict[str, Any]], bool]:
        calls.append(fresh)
        return TEMPLATES, False

    template, errors = ct.resolve_template(load, {"template_name": "nope", "language": "en"})
    assert template is None and [e.pointer for e in errors] == ["/template_name"]
    assert calls == [False]
