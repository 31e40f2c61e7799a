"""WBIZ library / campaign and waapi group shapes <-> ours (pure)."""

from __future__ import annotations

import pytest

from connector.providers import waapi_groups as wg
from connector.providers import wbiz_campaigns as wc
from connector.providers import wbiz_library as wl
from connector.providers.dialect import local_page

STORED = [{"type": "HEADER", "format": "TEXT", "text": "Shipped"},
          {"type": "BODY", "text": "Hi {{1}}", "example": {"body_text": [["Ada"]]}},
          {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop"}]}]


@pytest.mark.parametrize(("change", "expected"), [
    pytest.param({"footer": "Bye"}, [*STORED[:2], {"type": "FOOTER", "text": "Bye"}, STORED[2]],
                 id="new-part-in-meta-order"),
    pytest.param({"body": "Hello {{1}}"},
                 [STORED[0], {**STORED[1], "text": "Hello {{1}}"}, STORED[2]],
                 id="body-keeps-its-example"),
    pytest.param({"body": "{{1}} {{2}}", "body_examples": ["a", "b"]},
                 [STORED[0], {"type": "BODY", "text": "{{1}} {{2}}",
                              "example": {"body_text": [["a", "b"]]}}, STORED[2]],
                 id="new-examples-replace-old"),
])
def test_template_update_changes_only_the_parts_given(change, expected) -> None:
    assert wl.template_components(change, STORED) == expected


def test_new_template_components() -> None:
    assert wl.template_components({"body": "Hi", "header_text": "News"}) == [
        {"type": "HEADER", "format": "TEXT", "text": "News"}, {"type": "BODY", "text": "Hi"}]


def test_list_card_fields_become_camel_case() -> None:
    assert wl.card_to_upstream({"kind": "list", "body": "Pick", "button_text": "Open",
                                "rows": [{"id": "a", "title": "A"}], "phone": "+1"}) == {
        "kind": "list", "body": "Pick", "buttonText": "Open", "rows": [{"id": "a", "title": "A"}]}


def test_campaign_counters_default_to_zero_and_never_take_booleans() -> None:
    out = wc.campaign_from_upstream({"id": "cmp_1", "status": "running", "sent": True,
                                     "delivered": 4, "template": {"name": "t", "language": "en"}})
    assert (out["sent"], out["delivered"], out["read"]) == (0, 4, 0)
    assert (out["template_name"], out["language"], out["created_at"]) == ("t", "en", None)


def test_group_info_becomes_phones_and_roles() -> None:
    info = {"chatId": {"_serialized": "120363000000000001@g.us"}, "subject": "Riders",
            "owner": {"_serialized": "4915100000000@c.us"},
            "participants": [{"id": {"_serialized": "4915112345678@c.us"}, "isAdmin": True}]}
    group = wg.group_from_upstream(info)
    assert (group["id"], group["owner_phone"]) == ("120363000000000001@g.us", "+4915100000000")
    assert group["participants"] == [{"phone": "+4915112345678", "is_admin": True,
                                      "is_super_admin": False}]


def test_chat_timestamp_zero_is_unknown() -> None:
    assert wg.group_summary({"id": {"_serialized": "1@g.us"}, "timestamp": 0})[
        "last_message_at"] is None
    assert wg.group_summary({"timestamp": 1700000000})["last_message_at"] == "2023-11-14T22:13:20Z"


@pytest.mark.parametrize(("data", "page_items", "next_page"), [
    pytest.param({}, [0, 1, 2], None, id="defaults"),
    pytest.param({"page": 1, "per_page": 2}, [0, 1], 2, id="first"),
    pytest.param({"page": 2, "per_page": 2}, [2], None, id="last"),
])
def test_local_page(data, page_items, next_page) -> None:
    page = local_page([{"n": n} for n in range(3)], data)
    assert [i["n"] for i in page["items"]] == page_items
    assert (page["total"], page["next_page"]) == (3, next_page)
