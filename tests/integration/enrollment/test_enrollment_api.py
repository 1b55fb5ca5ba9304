"""The /v1/workflows API: definitions as versioned data, enrollment refusals with stable codes,
bulk enrollment, and no 500 for anything a user could send."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from engine.crm.accounts import create_account_user
from engine.crm.contacts import create_contact, delete_contact
from engine.crm.enrollments import list_definition_revisions

if TYPE_CHECKING:
    from integration.enrollment.conftest import Definitions

pytestmark = pytest.mark.timeout(120)

RULES = """
key: "{key}"
name: Rules
description: enrollment rules under test
enrollment:
  triggers: [{type: api}]
  criteria: {type: condition, field: properties.plan, op: is_set}
  suppression: {type: condition, field: properties.unsubscribed, op: eq, value: true}
  goal: {type: condition, field: properties.customer, op: eq, value: true}
steps:
  - id: wait
    type: delay
    for: 30d
"""

MANUAL_ONLY = """
key: "{key}"
name: Manual only
enrollment:
  triggers: [{type: manual}]
steps:
  - id: done
    type: end
"""


async def put(api: httpx.AsyncClient, definitions: Definitions, name: str, text: str) -> str:
    key = definitions.key(name)
    response = await api.put(f"/v1/workflows/{key}", content=text.replace("{key}", key))
    assert response.status_code in (200, 201), response.text
    return key


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


async def test_definitions_are_versioned_data(
    api: httpx.AsyncClient, definitions: Definitions, db_engine: Engine
) -> None:
    key = definitions.key("rules")
    first = await api.put(f"/v1/workflows/{key}", content=RULES.replace("{key}", key))
    # Same content written differently (comments, key order, 720h = 30d) is the same revision.
    reformatted = RULES.replace("{key}", key).replace("for: 30d", "for: 720h  # a month")
    same = await api.put(f"/v1/workflows/{key}", content=reformatted)
    changed = await api.put(f"/v1/workflows/{key}", content=RULES.replace("{key}", key).replace("30d", "31d"))

    assert (first.status_code, same.status_code, changed.status_code) == (201, 200, 201)
    assert (first.json()["current_version"], same.json()["changed"], changed.json()["current_version"]) == (1, False, 2)
    detail = (await api.get(f"/v1/workflows/{key}")).json()
    assert [revision["version"] for revision in detail["revisions"]] == [2, 1]
    assert "31d" in detail["yaml"]
    listed = (await api.get("/v1/workflows")).json()
    (item,) = [item for item in listed if item["key"] == key]
    # #12.1: the definition names the key that saved it, never the key.
    assert (item["enabled"], item["current_version"], item["source"]) == (True, 2, "api:enrollment-tests")
    with Session(db_engine) as session:
        assert len(list_definition_revisions(session, key)) == 2


async def test_an_invalid_definition_is_422_with_every_error(api: httpx.AsyncClient, definitions: Definitions) -> None:
    key = definitions.key("broken")
    text = f"""key: {key}
name: Broken
enrollment:
  triggers: [{{type: api}}]
steps:
  - id: a
    type: delay
    for: 0s
  - id: a
    type: teleport
"""
    response = await api.put(f"/v1/workflows/{key}", content=text)
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["code"] == "INVALID_DEFINITION"
    assert {(item["line"], item["path"]) for item in body["details"]} >= {
        (8, "$.steps[0].for"),
        (10, "$.steps[1].type"),
    }
    assert all(item["file"] and item["message"] for item in body["details"])
    mismatch = await api.put(f"/v1/workflows/{key}-other", content=text.replace("0s", "1s").replace("teleport", "end"))
    assert mismatch.status_code == 422 and mismatch.json()["error"]["details"][0]["code"] in (
        "KEY_MISMATCH",
        "DUPLICATE_STEP_ID",
    )
    assert (await api.get(f"/v1/workflows/{key}")).status_code == 404


async def test_refusals_have_stable_codes(api: httpx.AsyncClient, definitions: Definitions, db_engine: Engine) -> None:
    key = await put(api, definitions, "rules", RULES)
    manual = await put(api, definitions, "manual", MANUAL_ONLY)
    with Session(db_engine, expire_on_commit=False) as session:
        create_account_user(session, email="staff@ourcompany.com")
        suppressed = create_contact(session, email="s@example.com", properties={"plan": "a", "unsubscribed": True})
        no_plan = create_contact(session, email="n@example.com")
        customer = create_contact(session, email="c@example.com", properties={"plan": "a", "customer": True})
        deleted = create_contact(session, email="gone@example.com", properties={"plan": "a"})
        session.commit()
        assert deleted.id is not None
        delete_contact(session, deleted.id)
        session.commit()
    url = f"/v1/workflows/{key}/enrollments"
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        (url, {"contact_id": suppressed.id}, 409, "SUPPRESSED"),
        (url, {"contact_id": no_plan.id}, 422, "CRITERIA_NOT_MET"),
        (url, {"contact_id": customer.id}, 409, "GOAL_ALREADY_MET"),
        (url, {"email": "staff@ourcompany.com", "properties": {"plan": "a"}}, 422, "CONTACT_EXCLUDED"),
        (url, {"email": "gone@example.com", "properties": {"plan": "a"}}, 422, "CONTACT_EXCLUDED"),
        (url, {"email": "not an email"}, 422, "CONTACT_EXCLUDED"),
        (url, {"contact_id": 999999}, 404, "CONTACT_NOT_FOUND"),
        (url, {"email": "x@example.com", "contact_id": 1}, 422, "VALIDATION_ERROR"),
        (url, {"email": "x@example.com", "properties": {"zoom_webinar_attendance_count": 3}}, 422, "INVALID_PROPERTY"),
        (f"/v1/workflows/{manual}/enrollments", {"email": "m@example.com"}, 409, "TRIGGER_NOT_ALLOWED"),
        ("/v1/workflows/no-such-workflow/enrollments", {"email": "m@example.com"}, 404, "WORKFLOW_NOT_FOUND"),
    ]
    for path, body, status, code in cases:
        response = await api.post(path, json=body)
        assert (response.status_code, error_code(response)) == (status, code), (body, response.text)

    assert (await api.post(f"/v1/workflows/{key}/disable")).json()["enabled"] is False
    disabled = await api.post(url, json={"email": "new@example.com", "properties": {"plan": "a"}})
    assert (disabled.status_code, error_code(disabled)) == (409, "WORKFLOW_DISABLED")
    assert (await api.post(f"/v1/workflows/{key}/enable")).json()["enabled"] is True
    accepted = await api.post(url, json={"email": "new@example.com", "properties": {"plan": "a"}})
    assert accepted.status_code == 202, accepted.text
    # A refused request changed nothing: no contact for the refused emails, no enrollment.
    assert (await api.get("/v1/contacts", params={"limit": 50})).status_code == 200
    await api.delete(f"{url}/{accepted.json()['contact_id']}")


async def test_bulk_enrollment_reports_each_item(api: httpx.AsyncClient, definitions: Definitions) -> None:
    key = await put(api, definitions, "rules", RULES)
    contacts: list[dict[str, Any]] = [
        {"email": f"bulk{number}@example.com", "first_name": f"B{number}", "properties": {"plan": "pro"}}
        for number in range(60)
    ]
    contacts.append({"email": "bulk0@example.com", "properties": {"plan": "pro"}})  # the same person twice
    contacts.append({"email": "noplan@example.com"})  # CRITERIA_NOT_MET
    response = await api.post(f"/v1/workflows/{key}/enrollments:bulk", json={"contacts": contacts})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["counts"] == {"enrolled": 60, "already_enrolled": 1, "refused": 1}
    assert [item["index"] for item in body["results"]] == list(range(62))
    assert body["results"][61]["code"] == "CRITERIA_NOT_MET"
    assert body["results"][60]["enrollment_id"] == body["results"][0]["enrollment_id"]

    # By segment: everyone on the pro plan, in pages of 25, is already enrolled now.
    segment = {"type": "condition", "field": "properties.plan", "op": "eq", "value": "pro"}
    seen = 0
    cursor = None
    while True:
        page = await api.post(
            f"/v1/workflows/{key}/enrollments:bulk", json={"segment": segment, "limit": 25, "cursor": cursor}
        )
        assert page.status_code == 200, page.text
        seen += len(page.json()["results"])
        assert set(page.json()["counts"]) == {"already_enrolled"}
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == 60
    too_many = await api.post(f"/v1/workflows/{key}/enrollments:bulk", json={"contacts": [{"contact_id": 1}] * 10_001})
    assert too_many.status_code == 422
    both = await api.post(f"/v1/workflows/{key}/enrollments:bulk", json={})
    assert (both.status_code, error_code(both)) == (422, "VALIDATION_ERROR")
    await asyncio.gather(
        *(api.delete(f"/v1/workflows/{key}/enrollments/{item['contact_id']}") for item in body["results"][:60])
    )


BAD_BODIES: list[Any] = [
    None,
    [],
    "text",
    {"contact_id": "x"},
    {"contact_id": 2**40},
    {"contact_id": -1},
    {"email": None},
    {"email": 5},
    {"email": "a\x00b@example.com"},
    {"email": "x@example.com", "properties": {"bad name": 1}},
    {"email": "x@example.com", "properties": {"nested": {"a": 1}}},
    {"email": "x@example.com", "unknown": 1},
    {"email": "x" * 400 + "@example.com"},
]


async def test_no_500_for_anything_a_user_sends(api: httpx.AsyncClient, definitions: Definitions) -> None:
    key = await put(api, definitions, "rules", RULES)
    for body in BAD_BODIES:
        response = await api.post(f"/v1/workflows/{key}/enrollments", json=body)
        assert 400 <= response.status_code < 500, (body, response.status_code, response.text)
        assert "code" in response.json()["error"]
    for path in [
        "/v1/workflows/UPPER",
        "/v1/workflows/a--b",
        f"/v1/workflows/{key}/enrollments/0",
        f"/v1/workflows/{key}/enrollments/99999999999",
        f"/v1/workflows/{key}/enrollments/abc",
    ]:
        response = await api.get(path)
        assert 400 <= response.status_code < 500, (path, response.text)
    for content in [b"\xff\xfe", b"", b"key: [", b"- a\n- b"]:
        response = await api.put(f"/v1/workflows/{key}", content=content)
        assert response.status_code == 422, (content[:20], response.text)
    # #12.6: a definition over 256 KiB is refused while it streams in, before the route reads it.
    too_long = await api.put(f"/v1/workflows/{key}", content=("x: " + "y" * 300_000).encode())
    assert (too_long.status_code, too_long.json()["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    bulk_bad = [
        {"contacts": "x"},
        {"segment": {"type": "nope"}},
        {"contacts": [], "limit": 0},
        {"segment": {"type": "condition", "field": "nope", "op": "eq", "value": 1}},
    ]
    for body in bulk_bad:
        response = await api.post(f"/v1/workflows/{key}/enrollments:bulk", json=body)
        assert 400 <= response.status_code < 500, (body, response.text)


async def test_the_api_loads_definitions_at_start(db_engine: Engine, database_url: str, tmp_path: Any) -> None:
    """Each changed file becomes a revision when the API starts; an invalid one is skipped."""
    from engine.api.app import create_app
    from engine.config import Settings
    from engine.crm.enrollments import get_definition

    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "good.yaml").write_text(RULES.replace('"{key}"', "startup-good"))
    (folder / "bad.yaml").write_text("key: startup-bad\nname: Bad\nsteps: 3\n")

    async def start() -> None:
        app = create_app(Settings(database_url=database_url, definitions_dir=folder), db_engine=db_engine)
        async with app.router.lifespan_context(app):
            pass

    await start()
    await start()  # unchanged: no new revision
    (folder / "good.yaml").write_text(RULES.replace('"{key}"', "startup-good").replace("30d", "7d"))
    await start()
    with Session(db_engine) as session:
        row = get_definition(session, "startup-good")
        assert (row.current_version, row.source) == (2, f"file:{folder / 'good.yaml'}")
        assert [r.version for r in list_definition_revisions(session, "startup-good")] == [2, 1]
        assert list_definition_revisions(session, "startup-bad") == []


async def test_the_company_own_domains_are_not_enrolled_as_new_contacts(
    api: httpx.AsyncClient, definitions: Definitions, db_engine: Engine
) -> None:
    """R-SET-6 / R-EXC-2 also hold for enrollment by email: no contact is created for them."""
    from engine.crm.sync_settings import SyncSettingsValues, put_sync_settings

    with Session(db_engine) as session:
        put_sync_settings(session, SyncSettingsValues(contact_exclusion_domains=["ourco.example"]), admin=True)
        session.commit()
    key = await put(api, definitions, "rules", RULES)
    response = await api.post(
        f"/v1/workflows/{key}/enrollments", json={"email": "someone@mail.ourco.example", "properties": {"plan": "a"}}
    )
    assert (response.status_code, error_code(response)) == (422, "CONTACT_EXCLUDED")
    assert response.json()["error"]["details"] == {"reason": "excluded_domain"}
    from engine.crm.contacts import find_contact_id

    with Session(db_engine) as session:
        assert find_contact_id(session, "someone@mail.ourco.example") is None
