"""connector.security: token encryption, API keys, HMAC checks and redaction."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import stat

import pytest
from cryptography.fernet import Fernet

from connector.security import (
    REDACTED,
    SecretDecryptError,
    SecretKeyError,
    TokenCipher,
    generate_api_key,
    hash_api_key,
    hmac_sha256,
    load_or_create_key,
    mask_phone,
    redact,
    redact_headers,
    redact_url,
    verify_api_key,
    verify_hmac_signature,
)

KEY_OLD = Fernet.generate_key().decode()
KEY_NEW = Fernet.generate_key().decode()


# --- TokenCipher -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "plaintext",
    [
        pytest.param("tok_123", id="ascii"),
        pytest.param("", id="empty"),
        pytest.param("tökén-ü-✓", id="unicode"),
        pytest.param("x" * 5000, id="long"),
    ],
)
def test_cipher_round_trip(plaintext):
    cipher = TokenCipher([KEY_NEW])
    token = cipher.encrypt(plaintext)
    assert plaintext not in token or plaintext == ""
    assert cipher.decrypt(token) == plaintext


def test_old_key_still_decrypts_after_a_new_key_is_prepended():
    old_token = TokenCipher([KEY_OLD]).encrypt("secret-value")
    assert TokenCipher([KEY_NEW, KEY_OLD]).decrypt(old_token) == "secret-value"


def test_rotate_re_encrypts_under_the_first_key():
    old_token = TokenCipher([KEY_OLD]).encrypt("secret-value")
    rotated = TokenCipher([KEY_NEW, KEY_OLD]).rotate(old_token)
    assert TokenCipher([KEY_NEW]).decrypt(rotated) == "secret-value"
    with pytest.raises(SecretDecryptError):
        TokenCipher([KEY_OLD]).decrypt(rotated)


def _tampered(token: str) -> str:
    middle = len(token) // 2
    return token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1:]


BAD_TOKENS = [
    pytest.param(lambda t: _tampered(t), id="tampered"),
    pytest.param(lambda t: t[:-4], id="truncated"),
    pytest.param(lambda t: "not-a-token", id="garbage"),
    pytest.param(lambda t: "", id="empty"),
    pytest.param(lambda t: "ÿÿÿ" + t, id="non-ascii"),
    pytest.param(lambda t: TokenCipher([KEY_OLD]).encrypt("other"), id="other-key"),
    pytest.param(lambda t: None, id="none"),
]


@pytest.mark.parametrize("spoil", BAD_TOKENS)
def test_undecryptable_token_raises_without_echoing_it(spoil):
    cipher = TokenCipher([KEY_NEW])
    bad = spoil(cipher.encrypt("secret-value"))
    with pytest.raises(SecretDecryptError) as info:
        cipher.decrypt(bad)
    message = str(info.value)
    assert "secret-value" not in message
    if bad:
        assert bad not in message
        assert bad[:16] not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("spoil", BAD_TOKENS)
def test_rotate_of_undecryptable_token_raises(spoil):
    cipher = TokenCipher([KEY_NEW])
    with pytest.raises(SecretDecryptError):
        cipher.rotate(spoil(cipher.encrypt("secret-value")))


def test_repr_shows_no_key_material():
    cipher = TokenCipher([KEY_NEW, KEY_OLD])
    assert repr(cipher) == "<TokenCipher keys=2>"
    for key in (KEY_NEW, KEY_OLD):
        assert key not in repr(cipher) and key[:8] not in repr(cipher)


@pytest.mark.parametrize(
    "setting, count",
    [
        pytest.param(KEY_NEW, 1, id="one"),
        pytest.param(f"{KEY_NEW},{KEY_OLD}", 2, id="new-old"),
        pytest.param(f" {KEY_NEW} , {KEY_OLD} ,", 2, id="spaces-trailing-comma"),
    ],
)
def test_from_setting_accepts_a_comma_separated_key_list(setting, count):
    cipher = TokenCipher.from_setting(setting)
    assert repr(cipher) == f"<TokenCipher keys={count}>"
    assert cipher.decrypt(TokenCipher([KEY_NEW]).encrypt("v")) == "v"


@pytest.mark.parametrize(
    "setting",
    [
        pytest.param("", id="empty"),
        pytest.param(" , ", id="only-commas"),
        pytest.param("not-a-fernet-key", id="malformed"),
        pytest.param(f"{KEY_NEW},short", id="second-malformed"),
    ],
)
def test_from_setting_rejects_bad_keys_without_echoing_them(setting):
    with pytest.raises(SecretKeyError) as info:
        TokenCipher.from_setting(setting)
    assert "not-a-fernet-key" not in str(info.value)
    assert "short" not in str(info.value)


def test_a_bare_string_is_not_taken_as_a_key_list():
    with pytest.raises(TypeError):
        TokenCipher(KEY_NEW)


def test_load_or_create_key_creates_a_0600_file_then_reuses_it(tmp_path):
    path = tmp_path / "instance" / "secret.key"
    first = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert TokenCipher.from_setting(first).decrypt(TokenCipher([first]).encrypt("x")) == "x"
    assert load_or_create_key(path) == first
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret.key"]


def test_load_or_create_key_keeps_an_existing_key_list(tmp_path):
    path = tmp_path / "secret.key"
    path.write_text(f"{KEY_NEW},{KEY_OLD}\n")
    assert load_or_create_key(path) == f"{KEY_NEW},{KEY_OLD}"


def test_load_or_create_key_refuses_a_corrupt_file_instead_of_overwriting_it(tmp_path):
    path = tmp_path / "secret.key"
    path.write_text("")
    with pytest.raises(SecretKeyError):
        load_or_create_key(path)
    assert path.read_text() == ""


# --- API keys --------------------------------------------------------------------------------


def test_generate_api_key_shape():
    plaintext, lookup = generate_api_key()
    assert re.fullmatch(r"wak_live_[A-Za-z0-9_-]{43}", plaintext)
    assert lookup == plaintext[:12]
    assert generate_api_key()[0] != plaintext


def test_generate_api_key_custom_prefix():
    plaintext, lookup = generate_api_key(prefix="tst")
    assert plaintext.startswith("tst_live_") and lookup == plaintext[:12]


def test_hash_api_key_is_sha256_hex():
    assert hash_api_key("wak_live_abc") == hashlib.sha256(b"wak_live_abc").hexdigest()


@pytest.mark.parametrize(
    "presented, expected",
    [
        pytest.param("KEY", True, id="match"),
        pytest.param("KEY ", False, id="trailing-space"),
        pytest.param("other", False, id="other"),
        pytest.param("", False, id="empty"),
        pytest.param(None, False, id="none"),
    ],
)
def test_verify_api_key(presented, expected):
    plaintext, _ = generate_api_key()
    presented = plaintext if presented == "KEY" else presented
    assert verify_api_key(presented, hash_api_key(plaintext)) is expected


# --- HMAC ------------------------------------------------------------------------------------

SECRET = b"shhh"
BODY = b'{"event":"form.submitted","id":1}'
DIGEST = hmac.new(SECRET, BODY, hashlib.sha256).digest()
HEX = DIGEST.hex()
B64 = base64.b64encode(DIGEST).decode()


def test_hmac_sha256_matches_stdlib():
    assert hmac_sha256(SECRET, BODY) == DIGEST
    assert hmac_sha256("shhh", BODY) == DIGEST


HMAC_CASES = [
    pytest.param(SECRET, BODY, HEX, "hex", "", True, id="hex"),
    pytest.param(SECRET, BODY, HEX.upper(), "hex", "", True, id="hex-upper"),
    pytest.param(SECRET, BODY, f"sha256={HEX}", "hex", "sha256=", True, id="hex-prefixed"),
    pytest.param(SECRET, BODY, HEX.encode(), "hex", "", True, id="bytes-signature"),
    pytest.param(SECRET, BODY, B64, "base64", "", True, id="base64"),
    pytest.param("shhh", BODY, B64, "base64", "", True, id="str-secret"),
    pytest.param(SECRET, BODY, HEX, "hex", "sha256=", False, id="missing-prefix"),
    pytest.param(SECRET, BODY + b" ", HEX, "hex", "", False, id="body-changed"),
    pytest.param(b"other", BODY, HEX, "hex", "", False, id="wrong-secret"),
    pytest.param(SECRET, BODY, HEX[:-2], "hex", "", False, id="truncated"),
    pytest.param(SECRET, BODY, "zz" + HEX[2:], "hex", "", False, id="not-hex"),
    pytest.param(SECRET, BODY, "%%%", "base64", "", False, id="not-base64"),
    pytest.param(SECRET, BODY, B64, "hex", "", False, id="wrong-encoding"),
    pytest.param(SECRET, BODY, HEX, "rot13", "", False, id="unknown-encoding"),
    pytest.param(SECRET, BODY, "", "hex", "", False, id="empty-signature"),
    pytest.param(SECRET, BODY, None, "hex", "", False, id="no-signature"),
    pytest.param(b"", BODY, HEX, "hex", "", False, id="empty-secret"),
    pytest.param(None, BODY, HEX, "hex", "", False, id="no-secret"),
    pytest.param(SECRET, None, HEX, "hex", "", False, id="no-body"),
    pytest.param(SECRET, BODY, "é" * 64, "hex", "", False, id="non-ascii"),
    pytest.param(SECRET, BODY, 12345, "hex", "", False, id="int-signature"),
]


@pytest.mark.parametrize("secret, body, signature, encoding, prefix, expected", HMAC_CASES)
def test_verify_hmac_signature(secret, body, signature, encoding, prefix, expected):
    result = verify_hmac_signature(secret, body, signature, encoding=encoding, prefix=prefix)
    assert result is expected


# --- redaction -------------------------------------------------------------------------------

HEADER_CASES = [
    pytest.param({"Authorization": "Bearer abc.def"}, {"Authorization": "Bearer [REDACTED]"},
                 id="bearer-keeps-scheme"),
    pytest.param({"authorization": "Basic dXNlcjpw"}, {"authorization": "Basic [REDACTED]"},
                 id="basic-keeps-scheme"),
    pytest.param({"Authorization": "abc"}, {"Authorization": REDACTED}, id="bare-token"),
    pytest.param({"Cookie": "sid=1"}, {"Cookie": REDACTED}, id="cookie"),
    pytest.param({"Set-Cookie": "sid=1"}, {"Set-Cookie": REDACTED}, id="set-cookie"),
    pytest.param({"X-Api-Key": "k"}, {"X-Api-Key": REDACTED}, id="x-api-key"),
    pytest.param({"X-Auth-Token": "t"}, {"X-Auth-Token": REDACTED}, id="name-has-token"),
    pytest.param({"X-Client-Secret": "s"}, {"X-Client-Secret": REDACTED}, id="name-has-secret"),
    pytest.param({"Tally-Signature": "s"}, {"Tally-Signature": REDACTED}, id="name-has-signature"),
    pytest.param({"Content-Type": "application/json"}, {"Content-Type": "application/json"},
                 id="harmless-kept"),
    pytest.param({"X-Request-Id": "r1"}, {"X-Request-Id": "r1"}, id="request-id-kept"),
    pytest.param({}, {}, id="empty"),
    pytest.param(None, {}, id="none"),
]


@pytest.mark.parametrize("headers, expected", HEADER_CASES)
def test_redact_headers(headers, expected):
    assert redact_headers(headers) == expected


def test_redact_headers_replaces_known_secrets_in_other_values():
    headers = {"X-Debug": "called with tok_123", "Accept": "*/*"}
    assert redact_headers(headers, ["tok_123"]) == {
        "X-Debug": f"called with {REDACTED}",
        "Accept": "*/*",
    }


def test_redact_headers_does_not_modify_its_input():
    headers = {"Authorization": "Bearer abc"}
    redact_headers(headers)
    assert headers == {"Authorization": "Bearer abc"}


REDACT_CASES = [
    pytest.param({"token": "t", "name": "n"}, (), {"token": REDACTED, "name": "n"},
                 id="token-key"),
    pytest.param({"password": "p", "api_key": "k", "apikey": "k", "secret": "s"}, (),
                 {"password": REDACTED, "api_key": REDACTED, "apikey": REDACTED,
                  "secret": REDACTED}, id="secret-keys"),
    pytest.param({"Authorization": "Bearer x", "access_token": "a", "x-secret": "s"}, (),
                 {"Authorization": REDACTED, "access_token": REDACTED, "x-secret": REDACTED},
                 id="more-secret-keys"),
    pytest.param({"refresh_token": "r", "client_secret": "c", "X-Api-Key": "k"}, (),
                 {"refresh_token": REDACTED, "client_secret": REDACTED, "X-Api-Key": REDACTED},
                 id="key-contains-secret-word"),
    pytest.param({"outer": {"list": [{"token": "t"}, "plain"]}}, (),
                 {"outer": {"list": [{"token": REDACTED}, "plain"]}}, id="nested"),
    pytest.param({"token": {"value": "t"}}, (), {"token": REDACTED}, id="whole-subtree"),
    pytest.param({"token": None, "password": ""}, (), {"token": None, "password": ""},
                 id="empty-values-stay-visible"),
    pytest.param("error: token tok_123 rejected", ["tok_123"],
                 f"error: token {REDACTED} rejected", id="secret-in-string"),
    pytest.param({"message": "bad tok_123", "n": 5}, ["tok_123"],
                 {"message": f"bad {REDACTED}", "n": 5}, id="secret-in-nested-string"),
    pytest.param(["a-tok_123-b", ("tok_123",)], ["tok_123"],
                 [f"a-{REDACTED}-b", (REDACTED,)], id="lists-and-tuples"),
    pytest.param("abcdef", ["abc", "abcdef"], REDACTED, id="longest-secret-first"),
    pytest.param("keep me", ["", None], "keep me", id="empty-secrets-ignored"),
    pytest.param(b"raw tok_123", ["tok_123"], f"raw {REDACTED}".encode(), id="bytes"),
    pytest.param("header was Bearer eyJhbGci.x-y", (), f"header was Bearer {REDACTED}",
                 id="bearer-in-text"),
    pytest.param({"status": 401, "ok": False, "items": None}, (),
                 {"status": 401, "ok": False, "items": None}, id="scalars-untouched"),
]


@pytest.mark.parametrize("obj, secrets, expected", REDACT_CASES)
def test_redact(obj, secrets, expected):
    assert redact(obj, secrets) == expected


def test_redact_accepts_secrets_by_keyword_and_leaves_input_alone():
    body = {"a": ["tok_123"], "token": "t"}
    assert redact(body, secrets=["tok_123"]) == {"a": [REDACTED], "token": REDACTED}
    assert body == {"a": ["tok_123"], "token": "t"}


CONTACT_PAGE = {"data": [{"id": n, "firstname": "Ana", "lastname": "Lima", "phone": "+5511999",
                          "email": f"a{n}@x.io", "groups": [1, 2], "custom": {"city": "Rio"}}
                         for n in range(10)], "meta": {"current_page": 1, "total": 10}}


@pytest.mark.parametrize("obj, secrets", [
    (CONTACT_PAGE, ["3|sanctum"]),
    ({**CONTACT_PAGE, "note": "sent with 3|sanctum"}, ["3|sanctum"]),
    ({**CONTACT_PAGE, "note": 'has "quote'}, ['has "quote']),
    ({"rows": [{"api-key": "k"}]}, ()),
    ({"rows": ["Authorization: bearer abc"]}, ()),
    ({"rows": [b"3|sanctum"]}, ["3|sanctum"]),
    ({"tokenless": "but the key says token"}, ()),
])
def test_redact_shortcut_gives_what_the_walk_gives(obj, secrets):
    from connector.security import _needles, _redact_value

    assert redact(obj, secrets) == _redact_value(obj, _needles(secrets))


def test_redact_hands_back_a_body_with_nothing_to_redact_as_it_is():
    assert redact(CONTACT_PAGE, ["3|sanctum"]) is CONTACT_PAGE
    assert redact({"note": "3|sanctum"}, ["3|sanctum"]) == {"note": REDACTED}


URL_CASES = [
    pytest.param("https://user:pw@api.example.com/v1/x", "https://api.example.com/v1/x",
                 id="userinfo"),
    pytest.param("https://user:pw@api.example.com:8443/x", "https://api.example.com:8443/x",
                 id="userinfo-port"),
    pytest.param("https://u:p@[2001:db8::1]:8443/x", "https://[2001:db8::1]:8443/x",
                 id="userinfo-ipv6"),
    pytest.param("https://api.example.com/x?token=abc&page=2",
                 "https://api.example.com/x?token=[REDACTED]&page=2", id="token-param"),
    pytest.param("https://h/x?api_key=1&apikey=2&key=3&access_token=4&sig=5&q=ok",
                 "https://h/x?api_key=[REDACTED]&apikey=[REDACTED]&key=[REDACTED]"
                 "&access_token=[REDACTED]&sig=[REDACTED]&q=ok", id="many-params"),
    pytest.param("https://h/x?Client%5FSecret=abc", "https://h/x?Client%5FSecret=[REDACTED]",
                 id="encoded-name"),
    pytest.param("https://h/x?q=a%20b&flag", "https://h/x?q=a%20b&flag", id="untouched"),
    pytest.param("https://h/x?token=", "https://h/x?token=", id="empty-value"),
    pytest.param("https://h/x#frag", "https://h/x#frag", id="fragment"),
    pytest.param("", "", id="empty"),
    pytest.param("http://[::1", REDACTED, id="unparsable"),
]


@pytest.mark.parametrize("url, expected", URL_CASES)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_redact_url_replaces_known_secrets_in_the_path():
    assert redact_url("https://h/bot123:ABC/send", ["123:ABC"]) == f"https://h/bot{REDACTED}/send"


PHONE_CASES = [
    pytest.param("+4915112345678", "+49151****678", id="de-mobile"),
    pytest.param("4915112345678", "49151****678", id="no-plus"),
    pytest.param("+1 (415) 555-2671", "+14155****671", id="formatted-us"),
    pytest.param("4915112345678@c.us", "49151****678@c.us", id="whatsapp-jid"),
    pytest.param("+4930123", "+49****23", id="short"),
    pytest.param("112", "****", id="tiny"),
    pytest.param("", "", id="empty"),
    pytest.param(None, None, id="none"),
]


@pytest.mark.parametrize("phone, expected", PHONE_CASES)
def test_mask_phone(phone, expected):
    assert mask_phone(phone) == expected
