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
import pytest
from temporalio.client import Client

from .test_api_fuzz import LiveApi, running_api  # type: ignore[import-not-found]

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
]
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
        assert problems == []
        # Refusals name no internal rule: a refused enrollment and a refused filter, for instance.
        refused = [
            http.post("/v1/workflows/example-welcome/enrollments", json={"email": "nobody@example.com"}),
            http.post("/v1/contacts/search", json={"filter": {"type": "condition", "field": "nope", "op": "is_set"}}),
            http.post("/v1/contacts", json={"email": "ada@example.com"}),
        ]
        for answer in refused:
            assert answer.status_code >= 400 and answer.json()["error"]["code"], answer.text
            assert RULE_ID.findall(answer.text) == [], answer.text


def test_the_log_of_the_example_run_has_no_server_error(fresh_api: LiveApi, tmp_path: Path) -> None:
    lines = fresh_api.log.read_text(encoding="utf-8", errors="replace").splitlines()
    assert [line for line in lines if "unhandled error" in line] == []
