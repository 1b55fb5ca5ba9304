"""#17.4: the codec server's routes over real HTTP — what a key holder gets, and that nothing an
attacker sends (no key, a wrong cookie, deep or huge or broken JSON, a long login) is more than a
4xx JSON error."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
from support.http import serve

from engine.api.app import create_app
from engine.codec import ENCODING, generate_key
from engine.config import Settings
from engine.zoom.settings import ZoomSettings

VIEWER = "codec-routes-viewer-key-123456"
OPERATOR = "codec-routes-operator-key-1234"
PLAIN = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}, "data": base64.b64encode(b'"hi"').decode()}


@pytest.fixture
def api() -> Iterator[httpx.Client]:
    key = generate_key("k1")
    settings = Settings(
        database_url="sqlite://",
        definitions_dir=None,
        api_keys=[f"reader:viewer:{VIEWER}", f"ops:operator:{OPERATOR}"],
        payload_keys=[key.entry()],
        codec_cors_origins=["http://127.0.0.1:8233"],
    )
    app = create_app(settings, zoom_settings=ZoomSettings(connections=[]))
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield http


def test_an_operator_encodes_and_a_viewer_decodes_by_key_or_login_cookie(api: httpx.Client) -> None:
    sealed = api.post("/codec/encode", json={"payloads": [PLAIN]}, headers={"Authorization": f"Bearer {OPERATOR}"})
    assert sealed.status_code == 200
    [payload] = sealed.json()["payloads"]
    assert base64.b64decode(payload["metadata"]["encoding"]) == ENCODING
    assert base64.b64decode(payload["data"]).find(b'"hi"') == -1
    opened = api.post("/codec/decode", json=sealed.json(), headers={"Authorization": f"Bearer {VIEWER}"})
    assert opened.json() == {"payloads": [PLAIN]}
    assert (
        api.post("/codec/encode", json={"payloads": [PLAIN]}, headers={"Authorization": f"Bearer {VIEWER}"}).json()[
            "error"
        ]["code"]
        == "ROLE_REQUIRED"
    )

    login = api.post("/codec/login", data={"key": VIEWER})
    assert login.status_code == 200 and "Logged in as <b>reader</b>" in login.text
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/codec" in cookie
    assert api.post("/codec/decode", json=sealed.json()).json() == {"payloads": [PLAIN]}  # the cookie
    # The cookie opens the codec, nothing else.
    assert api.get("/v1/contacts").status_code == 401


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("[" * 100_000 + "]" * 100_000, "INVALID_PAYLOADS"),
        ("not json", "INVALID_PAYLOADS"),
        ("[]", "INVALID_PAYLOADS"),
        ('{"payloads": "x"}', "INVALID_PAYLOADS"),
        ('{"payloads": [{"data": 5}]}', "INVALID_PAYLOADS"),
        ('{"payloads": [' + ",".join(["{}"] * 1001) + "]}", "INVALID_PAYLOADS"),
    ],
    ids=["deep", "not-json", "array", "not-a-list", "data-not-bytes", "too-many"],
)
def test_a_bad_document_is_a_4xx_json_error(api: httpx.Client, body: str, code: str) -> None:
    answer = api.post(
        "/codec/decode", content=body, headers={"Authorization": f"Bearer {VIEWER}", "content-type": "application/json"}
    )
    assert answer.status_code == 422 and answer.json()["error"]["code"] == code, answer.text[:300]


def test_strangers_get_401_and_the_login_is_bounded(api: httpx.Client) -> None:
    assert api.post("/codec/decode", json={"payloads": []}).json()["error"]["code"] == "UNAUTHORIZED"
    wrong = api.post("/codec/decode", json={"payloads": []}, headers={"Cookie": "rollcall_codec=guess"})
    assert wrong.status_code == 401
    refused = api.post("/codec/login", data={"key": "guess"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "UNAUTHORIZED"
    assert "set-cookie" not in refused.headers
    as_page = api.post("/codec/login", data={"key": "guess"}, headers={"Accept": "text/html"})
    assert as_page.status_code == 401 and "not a valid Rollcall API key" in as_page.text
    assert api.post("/codec/login", data={"key": "x" * 600}).status_code == 422
    huge = api.post(
        "/codec/login", content=b"key=" + b"x" * 5000, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_only_the_web_uis_origin_gets_cors_and_only_on_the_codec(api: httpx.Client) -> None:
    asked = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace"}
    ui = api.options("/codec/decode", headers={"Origin": "http://127.0.0.1:8233", **asked})
    assert ui.status_code == 200 and ui.headers["access-control-allow-origin"] == "http://127.0.0.1:8233"
    other = api.options("/codec/decode", headers={"Origin": "http://evil.example", **asked})
    assert "access-control-allow-origin" not in other.headers
    elsewhere = api.options("/v1/contacts", headers={"Origin": "http://127.0.0.1:8233", **asked})
    assert "access-control-allow-origin" not in elsewhere.headers
