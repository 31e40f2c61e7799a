"""Conformance: every shared action against every provider that claims it, over HTTP.

A case is (action, provider) for each provider entry of each action, except actions only the
Corbital v1 dialect claims (tests/integration/test_actions.py covers those). Inputs are built
per action from a provider-neutral arrangement API (`tests/support/providers.py`), so adding a
provider is a dialect, an emulator and an `Env`: the cases appear from the definitions.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from connector.catalog import load
from connector.config import ROOT
from tests.support.providers import ENVS, Env, connect
from tests.support.tenant_api import unique_phone
from tests.support.worker import drain

CATALOG = load(ROOT)
Builder = Callable[[Env], dict[str, Any]]
PNG = "https://cdn.example.com/pic.png"

INPUTS: dict[str, Builder] = {
    "create_contact": lambda e: {"first_name": "Ada", "last_name": "Lovelace",
                                 "phone": unique_phone(), "status_id": "1", "source_id": "1",
                                 "email": "ada@example.com"},
    "get_contact": lambda e: {"id": e.contact()["id"]},  # type: ignore[attr-defined]
    "update_contact": lambda e: {"id": e.contact()["id"],  # type: ignore[attr-defined]
                                 "company": "Analytical Ltd"},
    "delete_contact": lambda e: {"id": e.contact()["id"]},  # type: ignore[attr-defined]
    "list_contacts": lambda e: {"per_page": 5},
    "find_contact_by_phone": lambda e: {"phone": e.contact()["phone"]},  # type: ignore
    "upsert_contact": lambda e: {"first_name": "Grace", "last_name": "Hopper",
                                 "phone": unique_phone(), "status_id": "1", "source_id": "1"},
    "bulk_upsert_contacts": lambda e: {"contacts": [{"phone": unique_phone(), "first_name": "A"}
                                                    for _ in range(3)]},
    "add_contact_to_group": lambda e: {"contact_id": e.contact()["id"],  # type: ignore
                                       "group_id": e.group()},  # type: ignore[attr-defined]
    "remove_contact_from_group": lambda e: e.member(),  # type: ignore[attr-defined]
    "list_groups": lambda e: {},
    "create_group": lambda e: {"name": f"group {unique_phone()}"},
    "delete_group": lambda e: {"id": e.group()},  # type: ignore[attr-defined]
    "get_group": lambda e: {"id": e.group()},  # type: ignore[attr-defined]
    "update_group": lambda e: {"id": e.group(), "name": f"renamed {unique_phone()}"},  # type: ignore
    "list_templates": lambda e: {},
    "get_template": lambda e: {"id": e.first("templates")},  # type: ignore[attr-defined]
    "send_text": lambda e: {"phone": e.contact()["phone"], "text": "Hello"},  # type: ignore
    "send_message": lambda e: {"phone": e.contact()["phone"],  # type: ignore[attr-defined]
                               "text": "Hello", "template_name": "welcome", "language": "en",
                               "body_params": ["Ada", "Acme"]},
    "send_media": lambda e: {"phone": e.contact()["phone"],  # type: ignore[attr-defined]
                             "media_type": "image", "media_url": PNG, "caption": "hi"},
    "send_template": lambda e: {"phone": e.contact()["phone"],  # type: ignore[attr-defined]
                                "template_name": "welcome", "language": "en",
                                "body_params": ["Ada", "Acme"]},
    "send_location": lambda e: {"phone": e.contact()["phone"],  # type: ignore[attr-defined]
                                "latitude": 52.52, "longitude": 13.405, "name": "Our store",
                                "address": "Unter den Linden 1, Berlin"},
    "send_buttons": lambda e: {"phone": e.contact()["phone"],  # type: ignore[attr-defined]
                               "text": "Confirm your order?",
                               "buttons": [{"id": "yes", "title": "Confirm"},
                                           {"id": "no", "title": "Cancel"}]},
    "send_poll": lambda e: {"phone": e.contact()["phone"],  # type: ignore[attr-defined]
                            "question": "Which day?", "options": ["Monday", "Friday"]},
    "get_instance_status": lambda e: {},
}
INPUTS.update({
    "list_message_bots": lambda e: {},
    "get_message_bot": lambda e: {"id": e.first("messagebots")},  # type: ignore[attr-defined]
    "list_template_bots": lambda e: {},
    "get_template_bot": lambda e: {"id": e.first("templatebots")},  # type: ignore[attr-defined]
    # WBIZ's library, inbox and campaigns
    "get_account": lambda e: {},
    "create_template": lambda e: {"name": f"promo_{uuid.uuid4().hex[:8]}", "language": "en_US",
                                  "category": "MARKETING", "body": "Hi {{1}}, see {{2}}",
                                  "body_examples": ["Ada", "our sale"], "footer": "Bye"},
    "update_template": lambda e: {"id": e.rejected_template(),  # type: ignore[attr-defined]
                                  "body": "Hello {{1}}!", "body_examples": ["Ada"]},
    "delete_template": lambda e: {"id": e.rejected_template()},  # type: ignore[attr-defined]
    "list_conversations": lambda e: {"per_page": 5},
    "list_conversation_messages": lambda e: {
        "conversation_id": e.conversation()},  # type: ignore[attr-defined]
    "list_custom_fields": lambda e: {},
    "create_custom_field": lambda e: {"key": f"f_{uuid.uuid4().hex[:8]}", "label": "Plan",
                                      "type": "select", "options": ["basic", "pro"]},
    "delete_custom_field": lambda e: {"key": e.custom_field()},  # type: ignore[attr-defined]
    "list_quick_replies": lambda e: {},
    "create_quick_reply": lambda e: {"shortcut": f"/h{uuid.uuid4().hex[:8]}", "title": "Hours",
                                     "body": "We are open 10am to 8pm."},
    "update_quick_reply": lambda e: {"id": e.quick_reply(),  # type: ignore[attr-defined]
                                     "body": "We are open 10am to 9pm."},
    "delete_quick_reply": lambda e: {"id": e.quick_reply()},  # type: ignore[attr-defined]
    "list_interactive_presets": lambda e: {},
    "get_interactive_preset": lambda e: {"id": e.preset()},  # type: ignore[attr-defined]
    "create_interactive_preset": lambda e: {"kind": "list", "body": "Pick a branch",
                                            "button_text": "Branches",
                                            "rows": [{"id": "ahm", "title": "Ahmedabad"}]},
    "update_interactive_preset": lambda e: {"id": e.preset(),  # type: ignore[attr-defined]
                                            "body": "Pick one to continue."},
    "delete_interactive_preset": lambda e: {"id": e.preset()},  # type: ignore[attr-defined]
    "send_interactive_preset": lambda e: {"id": e.preset(),  # type: ignore[attr-defined]
                                          "phone": e.contact()["phone"]},  # type: ignore
    "list_flows": lambda e: {},
    "get_flow": lambda e: {"id": e.first("flows")},  # type: ignore[attr-defined]
    "send_flow": lambda e: {"id": e.first("flows"),  # type: ignore[attr-defined]
                            "phone": e.contact()["phone"],  # type: ignore[attr-defined]
                            "body_text": "Book in a few taps.", "cta_text": "Book now"},
    "send_list": lambda e: {"phone": e.contact()["phone"],  # type: ignore[attr-defined]
                            "text": "Which branch?", "button_text": "Branches",
                            "rows": [{"id": "ahm", "title": "Ahmedabad", "description": "CG"}]},
    "create_campaign": lambda e: {"name": "Diwali", "template_name": "welcome", "language": "en",
                                  "group_ids": [e.member()["group_id"]]},  # type: ignore
    "list_campaigns": lambda e: {},
    "get_campaign": lambda e: {"id": e.campaign()},  # type: ignore[attr-defined]
    "pause_campaign": lambda e: {"id": e.campaign()},  # type: ignore[attr-defined]
    "resume_campaign": lambda e: {"id": e.campaign("paused")},  # type: ignore[attr-defined]
    "cancel_campaign": lambda e: {"id": e.campaign()},  # type: ignore[attr-defined]
    "preview_campaign_audience": lambda e: {
        "group_ids": [e.member()["group_id"]]},  # type: ignore[attr-defined]
    "get_media": lambda e: {"id": e.media()},  # type: ignore[attr-defined]
    "delete_media": lambda e: {"id": e.media()},  # type: ignore[attr-defined]
    "upload_media": lambda e: {"base64": base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(64))
                               .decode(), "filename": "pic.png", "mime_type": "image/png"},
    # WBIZ's webhook subscriptions (creating one goes through platform-hook/subscribe)
    "list_webhooks": lambda e: {},
    "get_webhook": lambda e: {"id": e.webhook()},  # type: ignore[attr-defined]
    "update_webhook": lambda e: {"id": e.webhook(), "active": False},  # type: ignore
    "delete_webhook": lambda e: {"id": e.webhook()},  # type: ignore[attr-defined]
    "test_webhook": lambda e: {"id": e.webhook()},  # type: ignore[attr-defined]
    # waapi's contact cards and WhatsApp groups
    "send_vcard": lambda e: {"phone": e.contact()["phone"],  # type: ignore[attr-defined]
                             "card_first_name": "Ada", "card_last_name": "Lovelace",
                             "card_phone": unique_phone(), "card_organization": "Engines"},
    "list_whatsapp_groups": lambda e: {},
    "get_whatsapp_group": lambda e: {"id": e.whatsapp_group()},  # type: ignore[attr-defined]
    "create_whatsapp_group": lambda e: {"name": "Riders",
                                        "participants": [unique_phone(), unique_phone()]},
    "add_whatsapp_group_participant": lambda e: {
        "group_id": e.whatsapp_group(), "phone": unique_phone()},  # type: ignore[attr-defined]
    "remove_whatsapp_group_participant": lambda e: e.whatsapp_member(),  # type: ignore
})
for resource, singular in (("statuses", "status"), ("sources", "source")):
    INPUTS[f"create_{singular}"] = lambda e, s=singular: {"name": f"new {s} {unique_phone()}"}
    INPUTS[f"get_{singular}"] = lambda e, r=resource: {"id": e.named(r)}  # type: ignore
    INPUTS[f"update_{singular}"] = lambda e, r=resource: {"id": e.named(r),  # type: ignore
                                                          "name": f"renamed {unique_phone()}"}
    INPUTS[f"delete_{singular}"] = lambda e, r=resource: {"id": e.named(r)}  # type: ignore
    INPUTS[f"list_{resource}"] = lambda e: {}


def _shared(key: str) -> bool:
    return set(CATALOG.actions[key].providers) != {"corbital"}


CLAIMS = {provider: sorted(key for key, definition in CATALOG.actions.items()
                           if _shared(key) and provider in definition.providers)
          for provider in ENVS}


def test_every_claim_has_an_input_builder() -> None:
    claimed = {key for keys in CLAIMS.values() for key in keys}
    assert claimed <= set(INPUTS), f"add INPUTS for {sorted(claimed - set(INPUTS))}"
    assert all(CLAIMS.values()), "every provider claims some shared action"


def submit(client: Any, workspace: dict[str, Any], connection_id: str, key: str,
           data: dict[str, Any]) -> str:
    response = client.post(f"/v1/connections/{connection_id}/actions/{key}", json=data,
                           headers=workspace["headers"])
    assert response.status_code == 202, (key, response.get_json())
    return str(response.headers["Location"])


def run_action(client: Any, rt: Any, workspace: dict[str, Any], connection_id: str, key: str,
               data: dict[str, Any]) -> dict[str, Any]:
    location = submit(client, workspace, connection_id, key, data)
    drain(rt)
    return dict(client.get(location, headers=workspace["headers"]).get_json())


@pytest.mark.parametrize("provider", sorted(ENVS))
def test_every_claimed_action_conforms(provider: str, client: Any, rt: Any, sandbox: Any,
                                       workspace: dict[str, Any]) -> None:
    """Each claimed action succeeds, its output fits its schema, its exchanges are recorded,
    and each send reaches the upstream exactly once. All runs are queued, then drained once."""
    env = ENVS[provider](sandbox)
    connection = connect(client, workspace, env)
    assert connection["provider"] == provider
    sent_before = len(env.sent())
    runs = {key: submit(client, workspace, connection["id"], key, INPUTS[key](env))
            for key in CLAIMS[provider]}
    drain(rt)
    problems: dict[str, Any] = {}
    for key, location in runs.items():
        run = client.get(location, headers=workspace["headers"]).get_json()
        errors = list(CATALOG.actions[key].output_validator.iter_errors(run["output"]))
        if run["status"] != "succeeded":
            problems[key] = run["error"]
        elif errors:
            problems[key] = [e.message for e in errors]
        elif not run["attempts"][0]["exchanges"]:
            problems[key] = "no upstream exchange recorded"
        elif key == "find_contact_by_phone" and not run["output"]["found"]:
            problems[key] = "the contact was not found"
    assert problems == {}
    sends = [k for k in runs if CATALOG.actions[k].group == "messages"]
    assert len(env.sent()) == sent_before + len(sends), "each send reached the upstream once"


@pytest.mark.parametrize("provider", sorted(ENVS))
def test_every_claimed_action_names_its_missing_scope(provider: str, client: Any, rt: Any,
                                                      sandbox: Any,
                                                      workspace: dict[str, Any]) -> None:
    """The token loses every scope after connecting: each claimed action that needs one reaches
    the emulator, which refuses it with a 403 naming a scope the definition declares, so the
    run fails as scope_missing with that scope, and nothing is sent. One connection per action,
    because a refusal drops the scope from its connection and later runs would stop earlier."""
    env = ENVS[provider](sandbox)
    keys = [k for k in CLAIMS[provider] if CATALOG.actions[k].providers[provider].abilities]
    inputs = {key: INPUTS[key](env) for key in keys}
    connections = {key: connect(client, workspace, env)["id"] for key in keys}
    sent_before = len(env.sent())
    env.revoke_scopes()
    runs = {key: submit(client, workspace, connections[key], key, inputs[key]) for key in keys}
    drain(rt)
    problems: dict[str, Any] = {}
    for key, location in runs.items():
        run = client.get(location, headers=workspace["headers"]).get_json()
        error = run["error"] or {}
        declared = CATALOG.actions[key].providers[provider].abilities
        if (run["status"], error.get("kind"), error.get("http_status")) != \
                ("failed", "scope_missing", 403) or error.get("missing_ability") not in declared:
            problems[key] = (run["status"], error)
    assert problems == {}
    assert len(env.sent()) == sent_before, "no refused action reached a send"
