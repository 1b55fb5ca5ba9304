"""#14.5 acceptance: every example of the OpenAPI document works against the live API.

A fresh ``rollcall api`` (and worker, on the session's Temporal server) is asked for its own
``/openapi.json``; every operation with an example — a request body example, or a path parameter
example — is called with it, in the order a reader would follow (create before read, delete
last), and must answer one of the operation's documented 2xx statuses. Operations whose examples
are refused would be a documentation lie. Also: an API error answer never shows an internal rule id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from temporalio.client import Client

from .test_api_fuzz import LiveApi, running_api

pytestmark = pytest.mark.timeout(180)

#: The reader's order: what an example needs is made by an example before it.
ORDER = [
    ("POST", "/v1/business-units"),
    ("POST", "/v1/account-users"),
    ("POST", "/v1/contacts"),
    ("POST", "/v1/zoom-connections"),
    ("PUT", "/v1/sync-settings"),
    ("PUT", "/v1/zoom-connections/{connection_id}/users/{zoom_user_id}"),
    ("PUT", "/v1/zoom-connections/{connection_id}/users/{zoom_user_id}/webinars/{webinar_id}"),
    ("PUT", "/v1/workflows/{key}"),
    ("POST", "/v1/workflows/{key}/enable"),
    ("POST", "/v1/workflows/{key}/enrollments"),
    ("POST", "/v1/workflows/{key}/enrollments:bulk"),
    ("POST", "/v1/contacts/search"),
    ("PATCH", "/v1/contacts/{contact_id}"),
    ("GET", "/v1/contacts/{contact_id}"),
    ("GET", "/v1/contacts/{contact_id}/timeline"),
    ("GET", "/v1/contacts/{contact_id}/participations"),
    ("GET", "/v1/contacts/{contact_id}/enrollments"),
    ("GET", "/v1/zoom-connections/{connection_id}"),
    ("GET", "/v1/zoom-connections/{connection_id}/users"),
    ("GET", "/v1/zoom-connections/{connection_id}/users/{zoom_user_id}/webinars"),
    ("GET", "/v1/webinars/{webinar_id}/audit"),
    ("GET", "/v1/workflows/{key}"),
    ("GET", "/v1/workflows/{key}/enrollments"),
    ("GET", "/v1/workflows/{key}/stats"),
    ("GET", "/v1/workflows/{key}/enrollments/{contact_id}"),
    ("DELETE", "/v1/workflows/{key}/enrollments/{contact_id}"),
    ("POST", "/v1/workflows/{key}/disable"),
    ("DELETE", "/v1/zoom-connections/{connection_id}/users/{zoom_user_id}/webinars/{webinar_id}"),
    ("DELETE", "/v1/account-users/{account_user_id}"),
    ("DELETE", "/v1/contacts/{contact_id}"),
    ("POST", "/v1/contacts/restore"),
    ("POST", "/codec/decode"),
    ("POST", "/codec/encode"),
]
EXAMPLE_WORKFLOW = """\
key: refusals
name: Refusals
enrollment:
  triggers: [{type: api}]
steps:
  - id: wait
    type: delay
    for: 1d
"""
RULE_ID = re.compile(r"\bR-[A-Z]+-\d+|§\s?\d")


@pytest.fixture(scope="module")
def fresh_api(temporal_client: Client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with running_api(temporal_client, tmp_path_factory.mktemp("examples")) as api:
        yield api


def _examples(operation: dict[str, Any]) -> list[tuple[str | None, Any]]:
    """(media type, body) for each request-body example; one (None, None) when only the path has examples."""
    found: list[tuple[str | None, Any]] = []
    for media, content in operation.get("requestBody", {}).get("content", {}).items():
        found += [(media, example["value"]) for example in content.get("examples", {}).values()]
        if "example" in content:
            found.append((media, content["example"]))
    if not found and any("example" in p for p in operation.get("parameters", []) if p["in"] == "path"):
        found.append((None, None))
    return found


def test_every_example_answers_its_documented_status_14_5(fresh_api: LiveApi) -> None:
    """#14.5: each request example of /openapi.json, executed against the live API, answers a
    documented 2xx status; error answers met along the way carry no rule id."""
    with httpx.Client(base_url=fresh_api.url, headers=fresh_api.headers, timeout=30) as http:
        document = http.get("/openapi.json").json()
        with_examples = {
            (method.upper(), path): operation
            for path, operations in document["paths"].items()
            for method, operation in operations.items()
            if _examples(operation)
        }
        assert sorted(set(with_examples) - set(ORDER)) == [], "place the new example's operation in ORDER"
        assert sorted(set(ORDER) - set(with_examples)) == []
        problems = []
        for method, path in ORDER:
            operation = with_examples[(method, path)]
            documented = {int(status) for status in operation["responses"] if status.startswith("2")}
            parameters = {p["name"]: p["example"] for p in operation.get("parameters", []) if "example" in p}
            url = path
            for name, value in parameters.items():
                url = url.replace(f"{{{name}}}", str(value))
            for media, body in _examples(operation):
                if media is None:
                    answer = http.request(method, url)
                elif media == "application/json":
                    answer = http.request(method, url, json=body)
                else:
                    answer = http.request(method, url, content=body, headers={"content-type": media})
                if answer.status_code not in documented:
                    problems.append(f"{method} {url} {str(body)[:80]}: {answer.status_code} {answer.text[:300]}")
        # Examples of the filter language's schemas: each one, as a segment, selects contacts.
        filters = {"AndFilter", "OrFilter", "NotFilter", "Condition", "EventFilter"}
        schemas = document["components"]["schemas"]
        with_schema_examples = {name for name, schema in schemas.items() if "examples" in schema or "example" in schema}
        assert with_schema_examples <= filters, "say here how the new schema example is executed"
        assert with_schema_examples, "the filter language has examples"
        for name in sorted(with_schema_examples):
            for example in schemas[name].get("examples", []):
                answer = http.post("/v1/contacts/search", json={"filter": example})
                if answer.status_code != 200:
                    problems.append(f"{name} example {example}: {answer.status_code} {answer.text[:300]}")
        assert problems == []
        # Refusals name no internal rule: a refused enrollment and a refused filter, for instance.
        refused = [
            http.post("/v1/workflows/example-welcome/enrollments", json={"email": "nobody@example.com"}),
            http.post("/v1/contacts/search", json={"filter": {"type": "condition", "field": "nope", "op": "is_set"}}),
            http.post("/v1/contacts", json={"email": "ada@example.com"}),
        ]
        for (method, path), answer in zip(
            [
                ("POST", "/v1/workflows/{key}/enrollments"),
                ("POST", "/v1/contacts/search"),
                ("POST", "/v1/contacts"),
            ],
            refused,
            strict=True,
        ):
            assert answer.status_code >= 400 and answer.json()["error"]["code"], answer.text
            assert _undocumented(document, method, path, answer) is None, answer.text
            assert RULE_ID.findall(answer.text) == [], answer.text


def test_the_log_of_the_example_run_has_no_server_error(fresh_api: LiveApi, tmp_path: Path) -> None:
    lines = fresh_api.log.read_text(encoding="utf-8", errors="replace").splitlines()
    assert [line for line in lines if "unhandled error" in line] == []


#: (method, path, body) the server refuses; the published request schema must refuse each too.
REFUSED_BODIES: list[tuple[str, str, Any]] = [
    ("POST", "/v1/contacts", {"email": ""}),
    ("POST", "/v1/contacts", {"email": "   "}),
    ("POST", "/v1/contacts", {"email": "not an e-mail"}),
    ("POST", "/v1/contacts", {"first_name": "No e-mail"}),
    ("POST", "/v1/contacts", {"email": "x@example.com", "secondary_emails": ["nope"]}),
    ("PATCH", "/v1/contacts/{contact_id}", {"email": None}),
    ("PATCH", "/v1/contacts/{contact_id}", {"properties": None}),
    ("POST", "/v1/business-units", {"name": "\r"}),
    ("POST", "/v1/business-units", {"name": ""}),
    ("POST", "/v1/account-users", {"email": "staff"}),
    ("POST", "/v1/zoom-connections", {"business_unit_id": 1, "name": "z", "zoom_account_id": "a",
                                      "connected_by_email": "a@example.org", "credentials_ref": "my-secret"}),
    ("PUT", "/v1/sync-settings", {"host_exclusion_domains": ["not a domain"]}),
    ("PUT", "/v1/sync-settings", {"webinar_sync_users": ["nobody"]}),
    ("POST", "/v1/workflows/{key}/enrollments", {}),
    ("POST", "/v1/workflows/{key}/enrollments", {"contact_id": 1, "email": "both@example.com"}),
    ("POST", "/v1/workflows/{key}/enrollments", {"email": ""}),
    ("POST", "/v1/workflows/{key}/enrollments:bulk", {}),
    ("POST", "/v1/workflows/{key}/enrollments:bulk", {"contacts": [{"contact_id": 1}], "segment": {"type": "and"}}),
    ("POST", "/v1/workflows/{key}/enrollments:bulk", {"contacts": [{}]}),
]  # fmt: skip


def _undocumented(document: dict[str, Any], method: str, path: str, answer: httpx.Response) -> str | None:
    """Why an error answer is not what the document says the operation answers (None when it is)."""
    response = document["paths"][path][method.lower()]["responses"].get(str(answer.status_code))
    if response is None:
        return f"status {answer.status_code} is not documented"
    code = answer.json()["error"]["code"]
    if f"`{code}`" not in response["description"]:
        return f"{answer.status_code} {code} is not among the documented codes of that status"
    return None


def _request_schema(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    schema = document["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]["schema"]
    # One document: the body's schema with every component beside it.
    return {**schema, "components": document["components"]}


def test_the_request_schemas_refuse_what_the_server_refuses_14_5(fresh_api: LiveApi) -> None:
    """#14.5: bodies the server refuses (empty or invalid e-mails, a blank name, an empty or
    ambiguous enrollment, a raw secret, an invalid domain, null where null is not allowed) are
    refused by the published request schema too — and the server does refuse each with a 4xx."""
    validator_for = jsonschema.Draft202012Validator
    with httpx.Client(base_url=fresh_api.url, headers=fresh_api.headers, timeout=30) as http:
        document = http.get("/openapi.json").json()
        # A contact and a workflow for the paths (the examples' own, if that test ran first).
        http.put("/v1/workflows/refusals", content=EXAMPLE_WORKFLOW, headers={"content-type": "application/yaml"})
        contact = http.post("/v1/contacts", json={"email": "refusals@example.com"}).json()["id"]
        problems = []
        for method, path, body in REFUSED_BODIES:
            schema = _request_schema(document, method, path)
            schema_errors = list(validator_for(schema).iter_errors(body))
            url = path.replace("{contact_id}", str(contact)).replace("{key}", "refusals")
            answer = http.request(method, url, json=body)
            if not 400 <= answer.status_code < 500:
                problems.append(f"server accepts {method} {path} {body!r}: {answer.status_code}")
            elif undocumented := _undocumented(document, method, path, answer):
                problems.append(f"{method} {path} {body!r}: {undocumented}")
            if not schema_errors:
                problems.append(f"schema accepts {method} {path} {body!r} (server: {answer.text[:120]})")
        assert problems == []
        # Control: the schema accepts what the server accepts.
        for method, path, body in [
            ("POST", "/v1/business-units", {"name": " Nordics "}),
            ("POST", "/v1/workflows/{key}/enrollments", {"contact_id": None, "email": "ok@example.com"}),
            ("PATCH", "/v1/contacts/{contact_id}", {"first_name": None}),
        ]:
            assert list(validator_for(_request_schema(document, method, path)).iter_errors(body)) == []
            url = path.replace("{contact_id}", str(contact)).replace("{key}", "refusals")
            assert http.request(method, url, json=body).status_code < 300, (method, path)
