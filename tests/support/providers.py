"""One emulated account per provider, with the arrangement helpers the conformance suite needs.

Each `*Env` creates its account through the emulator's admin API, gives the body of
`POST /v1/connections` for it, and arranges upstream records over the provider's own HTTP API
(contacts, groups, templates), so a test can build an action input the same way on any provider.
"""

from __future__ import annotations

import uuid
from typing import Any

import requests

from tests.conftest import make_tenant
from tests.support.tenant_api import (
    first_item,
    make_contact,
    make_named,
    sent_messages,
    unique_phone,
)

TIMEOUT_S = 10


def _token() -> str:
    return "wa_" + uuid.uuid4().hex[:8] + "_" + uuid.uuid4().hex


def _slug() -> str:
    return f"a{uuid.uuid4().hex[:10]}"


class Env:
    """Base: `provider`, `connection_body()`, and the arrangement helpers."""

    provider = ""

    def __init__(self, sandbox: Any, **config: Any) -> None:
        self.sandbox = sandbox.url
        self.slug, self.token = _slug(), _token()
        self.setup(config)

    def setup(self, config: dict[str, Any]) -> None:
        raise NotImplementedError

    def connection_body(self) -> dict[str, Any]:
        raise NotImplementedError

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(method, self.base + path, timeout=TIMEOUT_S,
                                    headers={"Authorization": f"Bearer {self.token}"}, **kwargs)
        response.raise_for_status()
        return response.json()

    @property
    def base(self) -> str:
        raise NotImplementedError

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(method, f"{self.sandbox}/_admin/{self.provider}{path}",
                                    timeout=TIMEOUT_S, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def sent(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", f"/accounts/{self.slug}/messages")["messages"])

    def revoke_scopes(self) -> None:
        """The token keeps working but holds no scope (permission) any more."""
        self.admin("PATCH", f"/accounts/{self.slug}", json={"scopes": []})


class CorbitalV1Env(Env):
    provider = "corbital"

    def setup(self, config: dict[str, Any]) -> None:
        self.tenant = make_tenant(_Sandbox(self.sandbox), **config)
        self.slug, self.token = self.tenant["slug"], self.tenant["token"]

    @property
    def base(self) -> str:
        return f"{self.tenant['base_url']}{self.slug}/"

    def connection_body(self) -> dict[str, Any]:
        return {"provider": "corbital", "base_url": self.tenant["base_url"], "tenant": self.slug,
                "token": self.token, "rate_limit": 10_000, "rate_window_s": 60}

    def contact(self) -> dict[str, str]:
        row = make_contact(self.tenant)
        return {"id": str(row["id"]), "phone": row["phone"]}

    def group(self) -> str:
        return str(make_named(self.tenant, "groups")["id"])

    def member(self) -> dict[str, str]:
        group = make_named(self.tenant, "groups")
        row = make_contact(self.tenant, group_id=[group["id"]])
        return {"contact_id": str(row["id"]), "group_id": str(group["id"])}

    def named(self, resource: str) -> str:
        return str(make_named(self.tenant, resource)["id"])

    def first(self, resource: str) -> str:
        return str(first_item(self.tenant, resource)["id"])

    def sent(self) -> list[dict[str, Any]]:
        return sent_messages(self.tenant)

    def revoke_scopes(self) -> None:
        requests.patch(f"{self.sandbox}/_admin/tenants/{self.slug}", json={"abilities": []},
                       timeout=TIMEOUT_S).raise_for_status()


class _Sandbox:
    """`make_tenant` wants an object with `.url`."""

    def __init__(self, url: str) -> None:
        self.url = url


class CorbitalV2Env(Env):
    provider = "corbital_v2"

    def setup(self, config: dict[str, Any]) -> None:
        self.admin("POST", "/accounts", json={"slug": self.slug, "token": self.token,
                                              "rate_limit_max": 10_000, **config})

    @property
    def base(self) -> str:
        return f"{self.sandbox}/api/v2/{self.slug}/"

    def connection_body(self) -> dict[str, Any]:
        # No api_version: the probe finds v2 on this base.
        return {"provider": "corbital", "base_url": f"{self.sandbox}/api/v2/",
                "tenant": self.slug, "token": self.token, "rate_limit": 10_000,
                "rate_window_s": 60}

    def contact(self, **fields: Any) -> dict[str, str]:
        body = {"firstname": "Test", "lastname": "Person", "phone": unique_phone(), **fields}
        row = self.api("POST", "contacts", json=body)["data"]
        return {"id": str(row["id"]), "phone": row["phone"]}

    def group(self) -> str:
        return self.named("groups")

    def member(self) -> dict[str, str]:
        contact, group = self.contact(), self.group()
        self.api("POST", f"groups/{group}/contacts", json={"contact_ids": [int(contact["id"])]})
        return {"contact_id": contact["id"], "group_id": group}

    def named(self, resource: str) -> str:
        return str(self.api("POST", resource, json={"name": f"n {uuid.uuid4().hex[:8]}"})
                   ["data"]["id"])

    def first(self, resource: str) -> str:
        return str(self.api("GET", resource)["data"][0]["id"])


class WbizEnv(Env):
    provider = "wbiz"

    def setup(self, config: dict[str, Any]) -> None:
        self.admin("POST", "/accounts", json={"slug": self.slug, "token": self.token, **config})

    @property
    def base(self) -> str:
        return f"{self.sandbox}/api/wbiz/{self.slug}/"

    def connection_body(self) -> dict[str, Any]:
        return {"provider": "wbiz", "base_url": self.base, "token": self.token,
                "rate_limit": 10_000, "rate_window_s": 60}

    def contact(self, **fields: Any) -> dict[str, str]:
        row = self.api("POST", "v1/contacts", json={"phone": unique_phone(), "name": "Test Person",
                                                    **fields})["data"]
        return {"id": row["id"], "phone": row["phone"]}

    def group(self) -> str:
        return str(self.api("POST", "v1/tags", json={"name": f"tag-{uuid.uuid4().hex[:8]}"})
                   ["data"]["name"])

    def member(self) -> dict[str, str]:
        group = self.group()
        return {"contact_id": self.contact(tags=[group])["id"], "group_id": group}

    def first(self, resource: str) -> str:
        """The oldest record listed: a seeded one, never one another input is about to change."""
        return str(self.api("GET", f"v1/{resource}")["data"][-1]["id"])

    def create(self, path: str, body: dict[str, Any], key: str = "id") -> str:
        return str(self.api("POST", path, json=body)["data"][key])

    def rejected_template(self) -> str:
        name = f"t_{uuid.uuid4().hex[:10]}"
        tid = self.create("v1/templates", {"name": name, "language": "en", "category": "UTILITY",
                                           "components": [{"type": "BODY", "text": "Hi!"}]})
        self.admin("POST", f"/accounts/{self.slug}/templates/{tid}/review",
                   json={"status": "rejected", "reason": "INVALID_FORMAT"})
        return tid

    def conversation(self) -> str:
        phone = unique_phone()
        self.admin("POST", f"/accounts/{self.slug}/inbound", json={"from": phone, "text": "Hi"})
        return f"cv_{phone[1:]}"

    def quick_reply(self) -> str:
        return self.create("v1/quick-replies", {"shortcut": f"/q{uuid.uuid4().hex[:8]}",
                                                "title": "Hours", "body": "10am to 8pm"})

    def preset(self) -> str:
        return self.create("v1/interactive", {"kind": "buttons", "body": "How can we help?",
                                              "buttons": [{"id": "sales", "title": "Sales"}]})

    def custom_field(self) -> str:
        return self.create("v1/custom-fields", {"key": f"f_{uuid.uuid4().hex[:8]}",
                                                "label": "City", "type": "text"}, key="key")

    def campaign(self, status: str = "running") -> str:
        cid = self.create("v1/campaigns", {"name": "Offer", "template": {"name": "welcome",
                                                                         "language": "en"},
                                           "audience": {"kind": "tags", "tags": [self.group()]},
                                           "schedule": {"mode": "now"}})
        if status == "paused":
            self.api("POST", f"v1/campaigns/{cid}/pause")
        return cid

    def media(self) -> str:
        response = requests.post(self.base + "v1/media", timeout=TIMEOUT_S,
                                 headers={"Authorization": f"Bearer {self.token}"},
                                 files={"file": ("pic.png", b"\x89PNG fake", "image/png")})
        response.raise_for_status()
        return str(response.json()["data"]["id"])

    def webhook(self) -> str:
        """A subscription to a closed local port (a test event to it fails quietly)."""
        return self.create("v1/webhooks", {"url": "http://127.0.0.1:9/wbiz",
                                           "events": ["message.received", "message.status"]})


class WaapiEnv(Env):
    provider = "waapi"

    def setup(self, config: dict[str, Any]) -> None:
        self.admin("POST", "/accounts", json={"slug": self.slug, "token": self.token, **config})

    @property
    def base(self) -> str:
        return f"{self.sandbox}/api/waapi/{self.slug}/v1/"

    def connection_body(self) -> dict[str, Any]:
        return {"provider": "waapi", "base_url": self.base, "instance_id": "1",
                "token": self.token, "rate_limit": 10_000, "rate_window_s": 60}

    def contact(self) -> dict[str, str]:
        phone = unique_phone()
        return {"id": f"{phone[1:]}@c.us", "phone": phone}

    def set_instance(self, status: str) -> None:
        self.admin("PATCH", f"/accounts/{self.slug}/instances/1", json={"status": status})

    def action(self, name: str, body: dict[str, Any]) -> Any:
        return self.api("POST", f"instances/1/client/action/{name}", json=body)["data"]

    def whatsapp_group(self, *phones: str) -> str:
        members = [f"{p[1:]}@c.us" for p in phones or (unique_phone(),)]
        created = self.action("create-group", {"groupName": "Riders",
                                               "groupParticipants": members})
        return str(created["data"]["gid"]["_serialized"])

    def whatsapp_member(self) -> dict[str, str]:
        phone = unique_phone()
        return {"group_id": self.whatsapp_group(phone), "phone": phone}


ENVS: dict[str, type[Env]] = {"corbital": CorbitalV1Env, "corbital_v2": CorbitalV2Env,
                              "wbiz": WbizEnv, "waapi": WaapiEnv}


def connect(client: Any, workspace: dict[str, Any], env: Env, **extra: Any) -> dict[str, Any]:
    response = client.post("/v1/connections", json={**env.connection_body(), **extra},
                           headers=workspace["headers"])
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())
