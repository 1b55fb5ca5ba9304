"""The API's contract at the edge: health open, everything else behind a bearer key, errors as JSON."""

from __future__ import annotations

import re

import httpx
from support.databases import on_store
from support.rollcall import RunningStack

OPEN_PATHS = {"/healthz", "/readyz"}
#: Authenticated by Zoom's signature instead of a key (tests/integration/zoom/test_webhook_route.py).
SIGNATURE_PATHS = {"/v1/zoom/webhooks/{connection}"}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


@on_store("sqlite")
def test_every_non_health_endpoint_answers_401_json_without_a_valid_key(stack: RunningStack) -> None:
    api = httpx.Client(base_url=stack.api_url)  # one client: a TLS context per request cost more than the API
    spec = api.get("/openapi.json").json()
    checked = []
    for path, operations in spec["paths"].items():
        if path in OPEN_PATHS:
            continue
        if path in SIGNATURE_PATHS:
            # No key helps here and none is needed: without a valid signature nothing gets through.
            for method in operations:
                response = api.request(method, _concrete(path), json={})
                assert response.status_code in (401, 404), (method, path, response.text)
                assert response.json()["error"]["code"] in ("MISSING_SIGNATURE", "ZOOM_CONNECTION_NOT_FOUND")
            continue
        for method, operation in operations.items():
            if operation["security"] == []:
                # Documented as needing no key (#14.5): the codec's login page and form.
                assert path.startswith("/codec/login"), (method, path)
                continue
            for headers in ({}, {"Authorization": "Bearer wrong-key"}, {"Authorization": "Basic abc"}):
                response = api.request(method, _concrete(path), headers=headers, json={})
                assert response.status_code == 401, (method, path, headers, response.text)
                assert response.json()["error"]["code"] == "UNAUTHORIZED"
            checked.append((method, path))
    api.close()
    assert ("post", "/v1/system/checks") in checked


@on_store("postgresql")
def test_health_endpoints_need_no_key_and_readyz_reports_each_dependency(stack: RunningStack) -> None:
    assert httpx.get(f"{stack.api_url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{stack.api_url}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "checks": {"database": {"ok": True}, "temporal": {"ok": True}}}


@on_store("postgresql")
def test_errors_are_json_with_a_stable_code(stack: RunningStack) -> None:
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    missing = httpx.get(f"{stack.api_url}/v1/system/checks/system-check:nope", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    unknown = httpx.get(f"{stack.api_url}/v1/no-such-thing", headers=headers)
    assert unknown.status_code == 404
    assert unknown.json() == {"error": {"code": "NOT_FOUND", "message": "Not Found", "details": None}}
    wrong_method = httpx.delete(f"{stack.api_url}/healthz")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
