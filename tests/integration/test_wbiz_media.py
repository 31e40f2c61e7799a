"""WBIZ media over HTTP: upload a file by base64 or by URL (downloaded through the SSRF guard from
a local file server), refusals before any upload, the scope preflight, and sending the upload by
its media id; providers that send by link refuse a media id. The emulator's request log proves
what reached the upstream."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from connector.sandbox.wbiz import ALL_SCOPES
from tests.integration.test_conformance import run_action, submit
from tests.support.providers import CorbitalV1Env, WaapiEnv, WbizEnv, connect
from tests.support.worker import drain

MIB = 1024 * 1024
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 12
# A static WebP (plain `VP8 ` chunk, no animation flag) over the 100 KB static-sticker limit.
STATIC_WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(150 * 1024)


class FileServer:
    """Serves fixed answers on 127.0.0.1 (path -> status, headers, body) and logs each path."""

    def __init__(self, routes: dict[str, tuple[int, dict[str, str], bytes]]) -> None:
        self.routes, self.requests = routes, []
        files = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                files.requests.append(self.path)
                status, headers, body = files.routes.get(self.path, (404, {}, b"missing"))
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def files() -> Iterator[FileServer]:
    server = FileServer({
        "/files/photo.jpeg": (200, {"Content-Type": "image/jpeg"}, JPEG),
        "/share/photo": (302, {"Location": "/files/photo.jpeg"}, b""),
        "/files/anim.gif": (200, {"Content-Type": "image/gif"}, b"GIF89a" + bytes(64)),
        "/files/huge.png": (200, {"Content-Type": "image/png"}, PNG + bytes(5 * MIB)),
    })
    yield server
    server.close()


def _b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


def _media_calls(env: WbizEnv) -> list[dict[str, Any]]:
    log = requests.get(f"{env.sandbox}/_admin/requests", params={"tenant": env.slug},
                       timeout=10).json()["requests"]
    return [r for r in log if r["method"] == "POST" and r["path"].endswith("/v1/media")]


def _post(client: Any, workspace: dict[str, Any], connection: dict[str, Any], key: str,
          data: dict[str, Any]) -> Any:
    return client.post(f"/v1/connections/{connection['id']}/actions/{key}", json=data,
                       headers=workspace["headers"])


def test_a_base64_upload_records_no_bytes_and_its_media_id_sends(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)
    uploaded = run_action(client, rt, workspace, connection["id"], "upload_media",
                          {"base64": _b64(PNG), "filename": "pic.png", "mime_type": "image/png"})
    assert uploaded["status"] == "succeeded", uploaded["error"]
    media = uploaded["output"]
    assert (media["filename"], media["mime_type"], media["size_bytes"]) == \
        ("pic.png", "image/png", len(PNG))
    assert env.api("GET", f"v1/media/{media['id']}")["data"]["size"] == len(PNG)
    [upload] = uploaded["attempts"][0]["exchanges"]
    assert upload["request_body"] == {"form": {}, "files": [
        {"field": "file", "filename": "pic.png", "content_type": "image/png",
         "size_bytes": len(PNG)}]}
    assert _b64(PNG)[:40] not in json.dumps(uploaded["attempts"])
    contact = env.contact()
    sent = run_action(client, rt, workspace, connection["id"], "send_media",
                      {"phone": contact["phone"], "media_type": "image", "media_id": media["id"],
                       "caption": "This week's catalogue"})
    assert sent["status"] == "succeeded", sent["error"]
    payload = env.sent()[-1]["payload"]
    assert (payload["mediaId"], payload["type"], "link" in payload) == (media["id"], "image", False)


def test_a_url_upload_follows_the_redirect_and_takes_the_served_type(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any], files: FileServer) -> None:
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)
    uploaded = run_action(client, rt, workspace, connection["id"], "upload_media",
                          {"url": files.url("/share/photo")})
    assert uploaded["status"] == "succeeded", uploaded["error"]
    assert (uploaded["output"]["filename"], uploaded["output"]["mime_type"],
            uploaded["output"]["size_bytes"]) == ("photo.jpeg", "image/jpeg", len(JPEG))
    assert files.requests == ["/share/photo", "/files/photo.jpeg"]
    hops = uploaded["attempts"][0]["exchanges"]
    assert [(h["method"], h["status"]) for h in hops] == [("GET", 302), ("GET", 200),
                                                         ("POST", 201)]
    assert hops[1]["body"] is None, "downloaded bytes never go into the run record"
    assert hops[2]["request_body"]["files"][0]["size_bytes"] == len(JPEG)
    assert len(_media_calls(env)) == 1


def test_a_file_whatsapp_would_refuse_fails_naming_the_field_before_any_upload(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any], files: FileServer) -> None:
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)
    cases = {
        "served gif": ({"url": files.url("/files/anim.gif")}, "/url", "image/gif"),
        "oversize png": ({"url": files.url("/files/huge.png")}, "/url", "at most 5 MB"),
        "oversize png, type given": ({"url": files.url("/files/huge.png"),
                                      "mime_type": "image/png"}, "/url", "larger than 5 MB"),
        "static sticker": ({"base64": _b64(STATIC_WEBP), "filename": "s.webp",
                            "mime_type": "image/webp"}, "/base64", "static sticker"),
    }
    runs = {name: submit(client, workspace, connection["id"], "upload_media", data)
            for name, (data, _, _) in cases.items()}
    drain(rt)
    for name, (_, pointer, words) in cases.items():
        run = client.get(runs[name], headers=workspace["headers"]).get_json()
        assert (run["status"], run["error"]["kind"]) == ("failed", "invalid"), name
        [error] = run["error"]["errors"]
        assert error["pointer"] == pointer and words in error["message"], (name, error)
    refused = _post(client, workspace, connection, "upload_media",
                    {"base64": _b64(PNG), "filename": "a.gif", "mime_type": "image/gif"})
    assert refused.status_code == 422
    assert [e["pointer"] for e in refused.get_json()["errors"]] == ["/mime_type"]
    assert _media_calls(env) == [], "nothing reached the upstream's upload"


@pytest.mark.parametrize("data, pointers", [
    pytest.param({}, ["/url"], id="no-file"),
    pytest.param({"base64": "iVBORw0KGgo="}, ["/filename", "/mime_type"], id="base64-alone"),
    pytest.param({"url": "https://cdn.example.com/a.png", "base64": "iVBORw0KGgo=",
                  "filename": "a.png", "mime_type": "image/png"}, [""], id="both"),
    pytest.param({"base64": "not base64!", "filename": "a.png", "mime_type": "image/png"},
                 ["/base64"], id="not-base64"),
])
def test_the_upload_input_names_what_is_missing_or_extra(
        client: Any, sandbox: Any, workspace: dict[str, Any], data: dict[str, Any],
        pointers: list[str]) -> None:
    connection = connect(client, workspace, WbizEnv(sandbox))
    response = _post(client, workspace, connection, "upload_media", data)
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert [e["pointer"] for e in errors] == pointers, errors
    assert all("base64" in e["message"] or "url" in e["message"] for e in errors)


def test_a_loopback_url_is_refused_without_the_allow_list(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any], files: FileServer) -> None:
    env = WbizEnv(sandbox)
    connection = connect(client, workspace, env)
    rt.settings = rt.settings.with_overrides(ssrf_allow_networks=())
    run = run_action(client, rt, workspace, connection["id"], "upload_media",
                     {"url": files.url("/files/photo.jpeg")})
    assert (run["status"], run["error"]["kind"]) == ("failed", "invalid")
    [error] = run["error"]["errors"]
    assert error["pointer"] == "/url" and "non-public address (loopback)" in error["message"]
    assert files.requests == [] and _media_calls(env) == []


def test_a_key_without_media_write_is_stopped_by_the_preflight(
        client: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    env = WbizEnv(sandbox, scopes=[s for s in ALL_SCOPES if s != "media:write"])
    connection = connect(client, workspace, env)
    response = _post(client, workspace, connection, "upload_media",
                     {"base64": _b64(PNG), "filename": "pic.png", "mime_type": "image/png"})
    assert response.status_code == 403
    assert response.get_json()["missing_abilities"] == ["media:write"]
    assert "media:write" in response.get_json()["detail"]
    assert _media_calls(env) == []


def test_a_media_id_is_refused_where_media_goes_by_link(
        client: Any, rt: Any, sandbox: Any, workspace: dict[str, Any]) -> None:
    """waapi and Corbital send by link: a media id fails before any send, pointing at it; on
    WBIZ an id that names no upload comes back from the upstream pointing at media_id."""
    cases = {WaapiEnv: "/media_id", CorbitalV1Env: "/media_id", WbizEnv: "/media_id"}
    for env_class, pointer in cases.items():
        env = env_class(sandbox)
        connection = connect(client, workspace, env)
        phone = env.contact()["phone"]  # type: ignore[attr-defined]
        run = run_action(client, rt, workspace, connection["id"], "send_media",
                         {"phone": phone, "media_type": "image", "media_id": "med_404"})
        assert (run["status"], run["error"]["kind"]) == ("failed", "invalid"), env.provider
        assert run["error"]["errors"][0]["pointer"] == pointer, (env.provider, run["error"])
        assert env.sent() == [], env.provider


def test_the_emulator_checks_scope_type_and_size_of_an_upload(sandbox: Any) -> None:
    env = WbizEnv(sandbox, scopes=["messages:send"])

    def upload(name: str, content: bytes, mime_type: str) -> requests.Response:
        return requests.post(env.base + "v1/media", timeout=10,
                             headers={"Authorization": f"Bearer {env.token}"},
                             files={"file": (name, content, mime_type)})

    refused = upload("pic.png", PNG, "image/png")
    assert refused.status_code == 403 and "media:write" in refused.json()["error"]["message"]
    env.admin("PATCH", f"/accounts/{env.slug}", json={"scopes": ["media:write"]})
    assert upload("a.gif", b"GIF89a", "image/gif").json()["errors"]["file"][0].startswith(
        "unsupported media type image/gif")
    oversize = upload("s.webp", bytes(501 * 1024), "image/webp")
    assert (oversize.status_code, oversize.json()["errors"]["file"]) == \
        (422, ["sticker media is at most 500 KB"])
    ok = upload("pic.png", PNG, "image/png")
    assert ok.status_code == 201 and ok.json()["data"]["mediaId"].startswith("med_")
