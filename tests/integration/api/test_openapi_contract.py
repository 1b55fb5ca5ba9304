"""#14.5: the OpenAPI document tells the truth, and the docs work offline.

Walks the app's ``/openapi.json``: every operation, parameter and schema property has a
description; every error status of every operation has the ``ErrorEnvelope`` schema, keyed routes
document 401/403, routes with a body 413 and 422; the error codes are an enum whose every value
has a meaning, and it holds every code the code base raises; no internal rule id shows. ``/docs``
and ``/redoc`` load only assets this server serves (from the fastapi-offline package).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

import engine.api.app  # (imports every router, so every error class is defined)
import engine.sync.service  # noqa: F401
from engine.api.access import ROUTE_ROLES
from engine.api.app import create_app
from engine.api.contract import RAW_BODIES
from engine.api.errors import _HTTP_CODES
from engine.api.errors_catalog import ERROR_CODES, ROUTE_ERRORS, ErrorCode
from engine.config import Settings
from engine.errors import RollcallError
from engine.zoom.webhooks import WebhookErrorCode

#: Rule ids of the specification: kept in code and tests, never shown to users.
RULE_ID = re.compile(r"\bR-[A-Z]+-\d+|§\s?\d")
#: Where the errors the API answers with are defined (the CLI's, the worker's and the Zoom client's
#: are not: a Zoom configuration error, for one, becomes WEBINAR_NOT_FOUND in the sync service).
API_MODULES = (
    "engine.errors",
    "engine.api.",
    "engine.crm.",
    "engine.enrollment.errors",
    "engine.enrollment.service",
    "engine.sync.service",
    "engine.dsl.errors",
)
#: Codes of errors raised at start-up or never by a request: not answered by the API.
NOT_API = re.compile(r"^(API_KEYS_INVALID|ROLLCALL_ERROR|NOT_IMPLEMENTED)$")


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = create_app(Settings(database_url="sqlite://", admin_api_keys="contract-admin-key"))
    return TestClient(app)


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    result: dict[str, Any] = answer.json()
    return result


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def test_every_operation_parameter_and_field_has_a_description(document: dict[str, Any]) -> None:
    """#14.5: a description for every operation and field (a new one without fails here)."""
    missing = []
    for method, path, operation in _operations(document):
        if not operation.get("description") or not operation.get("summary"):
            missing.append(f"operation {method} {path}")
        missing += [
            f"parameter {parameter['name']} of {method} {path}"
            for parameter in operation.get("parameters", [])
            if not parameter.get("description")
        ]
    for name, schema in document["components"]["schemas"].items():
        missing += [
            f"field {name}.{prop}" for prop, sub in schema.get("properties", {}).items() if not sub.get("description")
        ]
    assert missing == [], "add a description (Field(description=…) or engine/api/contract.py's glossaries)"


def test_every_error_status_is_documented_with_the_envelope(document: dict[str, Any]) -> None:
    """#14.5: 401/403 on keyed routes, 413/422 with a body, 422 with parameters, 503 on the store's
    routes; every 4xx/5xx answer's schema is ErrorEnvelope (never FastAPI's {"detail": …})."""
    problems = []
    for method, path, operation in _operations(document):
        responses = operation["responses"]
        expected = set()
        if ROUTE_ROLES[(method, path)] is not None:
            expected |= {"401", "403"}
        if "requestBody" in operation:
            expected |= {"413", "422"}
            if "application/json" in operation["requestBody"]["content"] and (method, path) not in RAW_BODIES:
                expected.add("400")
        if operation.get("parameters"):
            expected.add("422")
        if path.startswith("/v1/") and path not in ("/v1/api-keys",) and not path.startswith("/v1/system/"):
            expected.add("503")
        expected |= {str(ERROR_CODES[code][0]) for code in ROUTE_ERRORS.get((method, path), ())}
        if missing := expected - set(responses):
            problems.append(f"{method} {path}: no {sorted(missing)}")
        for status, response in responses.items():
            if int(status) < 400 or (method, path, status) == ("GET", "/readyz", "503"):
                continue
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if schema != {"$ref": "#/components/schemas/ErrorEnvelope"}:
                problems.append(f"{method} {path} {status}: schema {schema}")
    assert problems == []
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_error_codes_are_an_enum_with_a_meaning_each(document: dict[str, Any]) -> None:
    """#14.5: the codes as an enum, each with its meaning; every code the API raises is in it."""
    schemas = document["components"]["schemas"]
    assert schemas["ErrorBody"]["properties"]["code"] == {"$ref": "#/components/schemas/ErrorCode"} or (
        schemas["ErrorBody"]["properties"]["code"].get("$ref") == "#/components/schemas/ErrorCode"
    )
    enum = schemas["ErrorCode"]["enum"]
    meanings = schemas["ErrorCode"]["x-enumDescriptions"]
    assert set(enum) == set(meanings) == {code.value for code in ErrorCode}
    assert all(len(meaning) > 15 for meaning in meanings.values())
    assert all(f"`{code}`" in schemas["ErrorCode"]["description"] for code in enum)

    def subclasses(cls: type[RollcallError]) -> list[type[RollcallError]]:
        return [cls, *(sub for direct in cls.__subclasses__() for sub in subclasses(direct))]

    raised = {
        cls.code
        for cls in subclasses(RollcallError)
        if isinstance(getattr(cls, "code", None), str) and cls.__module__.startswith(API_MODULES)
    }
    raised |= set(_HTTP_CODES.values()) | {code.value for code in WebhookErrorCode}
    raised |= {"DATABASE_BUSY", "INTERNAL_ERROR"}
    assert sorted(code for code in raised - set(enum) if not NOT_API.match(code)) == [], "add it to ErrorCode"


def test_every_request_body_has_an_example(document: dict[str, Any]) -> None:
    """#14.5: examples for every body a client sends (tests/e2e/test_api_examples.py runs them)."""
    missing = [
        f"{method} {path} {media}"
        for method, path, operation in _operations(document)
        for media, content in operation.get("requestBody", {}).get("content", {}).items()
        if not content.get("examples")
        and media != "text/plain"  # the YAML body's other name
        and (method, path) != ("POST", "/codec/login")  # its body is the caller's own API key
    ]
    assert missing == []


def test_no_internal_rule_id_in_the_document(document: dict[str, Any]) -> None:
    """#14.5: rule ids (R-…, §…) stay in code and tests, out of what users read."""
    text = json.dumps(document, ensure_ascii=False)
    assert RULE_ID.findall(text) == []


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_load_only_assets_this_server_serves(client: TestClient, page: str) -> None:
    """#14.5: /docs and /redoc reference no CDN; every script, style and icon they load is served here."""
    html = client.get(page)
    assert html.status_code == 200
    assert re.findall(r"https?://", html.text) == []
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
    assert any(asset.endswith(".js") for asset in assets)
    for asset in assets:
        answer = client.get(asset)
        assert answer.status_code == 200, asset
        assert len(answer.content) > 1000
    assert b"cdn.redoc.ly" not in client.get("/docs/assets/redoc.standalone.js").content
    assert "default-src 'self'" in html.headers["content-security-policy"]
    assert client.get("/docs/assets/../../etc/passwd").status_code == 404
    missing = client.get("/docs/assets/nope.js")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "NOT_FOUND")
