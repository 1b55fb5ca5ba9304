"""#13.13 — a refused enrollment writes nothing, and bulk results say why.

Every refusal code, single and bulk, is checked by comparing the store's contact and enrollment
tables before and after; bulk items carry the same ``code`` and ``reason`` as the single answer's
error, and a started enrollment is ``enrolled`` in both answers (``result``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from engine.crm.accounts import create_account_user
from engine.crm.contacts import create_contact, delete_contact
from engine.crm.sync_settings import get_sync_settings
from engine.crm.tables import (
    Contact,
    ContactBusinessUnit,
    ContactTombstone,
    Enrollment,
    SecondaryEmail,
    table_of,
)

if TYPE_CHECKING:
    from integration.enrollment.conftest import Definitions

pytestmark = pytest.mark.timeout(120)

RULES = """
key: "{key}"
name: Rules
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

WATCHED = [table_of(t) for t in (Contact, ContactBusinessUnit, SecondaryEmail, ContactTombstone, Enrollment)]


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables an enrollment request may write."""
    with engine.connect() as connection:
        return {table.name: sorted(tuple(row) for row in connection.execute(sa.select(table))) for table in WATCHED}


@dataclass
class Case:
    name: str
    body: dict[str, Any]
    status: int
    code: str
    reason: str | None = None


@dataclass
class World:
    key: str
    manual: str
    ids: dict[str, int]


@pytest.fixture
async def world(api: httpx.AsyncClient, definitions: Definitions, db_engine: Engine) -> World:
    key = definitions.key("rules")
    manual = definitions.key("manual")
    for name, text in ((key, RULES), (manual, MANUAL_ONLY)):
        response = await api.put(f"/v1/workflows/{name}", content=text.replace("{key}", name))
        assert response.status_code == 201, response.text
    ids: dict[str, int] = {}
    with Session(db_engine, expire_on_commit=False) as session:
        create_account_user(session, email="staff@ourcompany.com")
        settings = get_sync_settings(session)
        settings.contact_exclusion_domains = ["ourcompany.com", "partner.example"]
        session.add(settings)
        for name, email, properties, secondary in (
            ("plain", "plain@example.com", {}, ["plain.alias@example.com"]),
            ("other", "other@example.com", {}, []),
            ("suppressed", "s@example.com", {"plan": "a", "unsubscribed": True}, []),
            ("customer", "c@example.com", {"plan": "a", "customer": True}, []),
            ("finished", "done@example.com", {"plan": "a"}, []),
            ("gone", "gone@example.com", {"plan": "a"}, []),
        ):
            contact = create_contact(session, email=email, properties=properties, secondary_emails=secondary)
            assert contact.id is not None
            ids[name] = contact.id
        session.commit()
        delete_contact(session, ids["gone"])
        session.commit()
    # A finished enrollment: the rules' workflow does not allow re-enrollment.
    started = await api.post(f"/v1/workflows/{key}/enrollments", json={"contact_id": ids["finished"]})
    assert started.status_code == 202, started.text
    assert (await api.delete(f"/v1/workflows/{key}/enrollments/{ids['finished']}")).status_code == 200
    return World(key, manual, ids)


def refusal_cases(world: World) -> list[Case]:
    """One request per refusal code (and CONTACT_EXCLUDED per reason), each of which would write
    the contact (create it, or change its names and properties) if it were admitted."""
    ids = world.ids
    new = {"first_name": "Changed", "properties": {"plan": "a", "extra": 1}}
    return [
        Case("criteria, new contact", {"email": "nocriteria@example.com", "first_name": "N"}, 422, "CRITERIA_NOT_MET"),
        Case(
            "criteria, existing contact",
            {"contact_id": ids["plain"], "first_name": "Changed", "properties": {"x": 1}},
            422,
            "CRITERIA_NOT_MET",
        ),
        Case(
            "suppressed new contact (by the request's own properties)",
            {"email": "newsup@example.com", "properties": {"plan": "a", "unsubscribed": True}},
            409,
            "SUPPRESSED",
        ),
        Case("suppressed, existing", {"email": "S@example.com", **new}, 409, "SUPPRESSED"),
        Case(
            "goal met by a new contact (its request's own properties)",
            {"email": "newgoal@example.com", "properties": {"plan": "a", "customer": True}},
            409,
            "GOAL_ALREADY_MET",
        ),
        Case("goal met, existing", {"contact_id": ids["customer"], **new}, 409, "GOAL_ALREADY_MET"),
        Case("re-enrollment off", {"email": "done@example.com", **new}, 409, "RE_ENROLLMENT_OFF"),
        Case("invalid email", {"email": "not an email", **new}, 422, "CONTACT_EXCLUDED", "invalid_email"),
        Case("missing email", {"email": "   ", **new}, 422, "CONTACT_EXCLUDED", "missing_email"),
        Case("account user", {"email": "staff@ourcompany.com", **new}, 422, "CONTACT_EXCLUDED", "account_user"),
        Case("excluded domain", {"email": "ann@partner.example", **new}, 422, "CONTACT_EXCLUDED", "excluded_domain"),
        Case(
            "secondary email", {"email": "plain.alias@example.com", **new}, 422, "CONTACT_EXCLUDED", "secondary_email"
        ),
        Case("deleted contact", {"email": "gone@example.com", **new}, 422, "CONTACT_EXCLUDED", "deleted_contact"),
        Case("no such contact", {"contact_id": 2_000_000_000, **new}, 404, "CONTACT_NOT_FOUND"),
        Case(
            "rollup property",
            {"email": "rollup@example.com", "properties": {"zoom_webinar_attendance_count": 3}},
            422,
            "INVALID_PROPERTY",
        ),
    ]


async def test_a_refused_enrollment_writes_nothing_13_13(
    api: httpx.AsyncClient, world: World, db_engine: Engine
) -> None:
    """#13.13: each refusal code leaves the contact, link, secondary email, tombstone and
    enrollment tables exactly as they were — even where the contact would have been created or
    updated by the request (the rules are checked on the contact as the request leaves it)."""
    url = f"/v1/workflows/{world.key}/enrollments"
    workflow_level = [
        (f"/v1/workflows/{world.manual}/enrollments", 409, "TRIGGER_NOT_ALLOWED"),
        ("/v1/workflows/no-such-workflow/enrollments", 404, "WORKFLOW_NOT_FOUND"),
    ]
    before = snapshot(db_engine)
    for case in refusal_cases(world):
        response = await api.post(url, json=case.body)
        error = response.json()["error"]
        assert (response.status_code, error["code"]) == (case.status, case.code), (case.name, response.text)
        assert (error["details"] or {}).get("reason") == case.reason, case.name
        assert snapshot(db_engine) == before, case.name
    for path, status, code in workflow_level:
        response = await api.post(path, json={"email": "wf@example.com", "properties": {"plan": "a"}})
        assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert (await api.post(f"/v1/workflows/{world.key}/disable")).status_code == 200
    before = snapshot(db_engine)
    disabled = await api.post(url, json={"email": "wf@example.com", "properties": {"plan": "a"}})
    assert (disabled.status_code, disabled.json()["error"]["code"]) == (409, "WORKFLOW_DISABLED")
    assert snapshot(db_engine) == before

    # The admitted request still writes its contact (control: the snapshot does see writes).
    assert (await api.post(f"/v1/workflows/{world.key}/enable")).status_code == 200
    accepted = await api.post(url, json={"email": "yes@example.com", "properties": {"plan": "a"}})
    assert (accepted.status_code, accepted.json()["result"], accepted.json()["created"]) == (202, "enrolled", True)
    assert snapshot(db_engine) != before
    again = await api.post(url, json={"email": "yes@example.com"})
    assert (again.status_code, again.json()["result"], again.json()["created"]) == (200, "already_enrolled", False)
    await api.delete(f"{url}/{accepted.json()['contact_id']}")


async def test_bulk_refusals_write_nothing_and_carry_code_and_reason_13_13(
    api: httpx.AsyncClient, world: World, db_engine: Engine
) -> None:
    """#13.13: in one bulk request with admitted contacts, every refused item writes nothing and
    reports the single answer's code and reason; the admitted ones are ``enrolled``."""
    url = f"/v1/workflows/{world.key}/enrollments"
    cases = refusal_cases(world)
    admitted = [
        {"email": "bulk-yes-1@example.com", "first_name": "Yes", "properties": {"plan": "a"}},
        {"contact_id": world.ids["other"], "properties": {"plan": "b"}},  # meets the criteria with its new plan
    ]
    items = [admitted[0], *(case.body for case in cases), admitted[1]]
    before = snapshot(db_engine)
    response = await api.post(f"{url}:bulk", json={"contacts": items})
    assert response.status_code == 200, response.text
    results = response.json()["results"]

    assert [(r["result"], r["status"]) for r in (results[0], results[-1])] == [("enrolled", "enrolled")] * 2
    for case, item in zip(cases, results[1:-1], strict=True):
        expected_result = "error" if case.code in ("CONTACT_NOT_FOUND", "INVALID_PROPERTY") else "refused"
        assert (item["result"], item["code"], item["reason"]) == (expected_result, case.code, case.reason), case.name
        assert item["enrollment_id"] is None and item["message"], case.name
        if case.reason is not None:
            assert item["details"] == {"reason": case.reason}
    assert response.json()["counts"] == {"enrolled": 2, "refused": 13, "error": 2}

    after = snapshot(db_engine)
    contacts = table_of(Contact)
    with db_engine.connect() as connection:
        created = connection.execute(
            sa.select(contacts.c.id).where(contacts.c.email == "bulk-yes-1@example.com")
        ).scalar_one()
        other = connection.execute(sa.select(contacts.c.properties).where(contacts.c.id == world.ids["other"])).scalar()
    assert other == {"plan": "b"}
    # Only the two admitted items wrote: one new contact (with its link), the other contact's
    # update, and two enrollments; every refused item's contact is exactly as it was.
    untouched = {world.ids["other"], created}
    assert [r for r in after["contacts"] if r[0] not in untouched] == [
        r for r in before["contacts"] if r[0] not in untouched
    ]
    assert len(after["contacts"]) == len(before["contacts"]) + 1
    assert len(after["contact_business_units"]) == len(before["contact_business_units"]) + 1
    assert (after["contact_secondary_emails"], after["contact_tombstones"]) == (
        before["contact_secondary_emails"],
        before["contact_tombstones"],
    )
    assert len(after["enrollments"]) == len(before["enrollments"]) + 2
    # A refusal names only contacts that exist (one the request would have created is not kept).
    existing = {row[0] for row in after["contacts"]}
    named = {item["contact_id"] for item in results[1:-1] if item["contact_id"] is not None}
    assert named and named <= existing
    new_ones = [item for case, item in zip(cases, results[1:-1], strict=True) if "new contact" in case.name]
    assert new_ones and all(item["contact_id"] is None and "new contact" in item["message"] for item in new_ones)
    for item in (results[0], results[-1]):
        await api.delete(f"{url}/{item['contact_id']}")


async def test_the_same_contact_twice_in_a_batch_is_refused_once_and_writes_nothing_13_13(
    api: httpx.AsyncClient, world: World, db_engine: Engine
) -> None:
    """Two items for one new email, refused by the suppression the second item's properties set:
    both are refused, no contact is created; an admitted item of the same batch still is."""
    url = f"/v1/workflows/{world.key}/enrollments:bulk"
    items = [
        {"email": "twice@example.com", "properties": {"plan": "a"}},
        {"email": "TWICE@example.com", "properties": {"unsubscribed": True}},
        {"email": "once@example.com", "properties": {"plan": "a"}},
    ]
    response = await api.post(url, json={"contacts": items})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["result"], r["code"]) for r in results] == [
        ("refused", "SUPPRESSED"),
        ("refused", "SUPPRESSED"),
        ("enrolled", None),
    ]
    contacts = table_of(Contact)
    with db_engine.connect() as connection:
        emails = set(connection.execute(sa.select(contacts.c.email)).scalars())
    assert "twice@example.com" not in emails and "once@example.com" in emails
    await api.delete(f"/v1/workflows/{world.key}/enrollments/{results[2]['contact_id']}")


NESTED = """
key: "{key}"
name: Nested rules
enrollment:
  triggers: [{type: api}]
  criteria:
    type: and
    filters:
      - {type: condition, field: properties.plan, op: eq, value: pro}
      - {type: condition, field: properties.seats, op: gte, value: 5}
  suppression:
    type: or
    filters:
      - {type: condition, field: properties.unsubscribed, op: eq, value: true}
      - {type: condition, field: email, op: contains, value: "@competitor.example"}
steps:
  - id: wait
    type: delay
    for: 30d
"""


async def test_refusals_name_the_failing_criterion_and_the_matching_condition_14_5(
    api: httpx.AsyncClient, world: World, definitions: Definitions
) -> None:
    """#14.5: CRITERIA_NOT_MET names each criterion the contact does not meet (details.failed),
    SUPPRESSED and GOAL_ALREADY_MET the condition it matches (details.matched): where it is in
    the definition, field, operator and value — in the single answer and the bulk item alike."""
    url = f"/v1/workflows/{world.key}/enrollments"
    plan = ("enrollment.criteria", "properties.plan", "is_set", None)
    unsubscribed = ("enrollment.suppression", "properties.unsubscribed", "eq", True)
    customer = ("enrollment.goal", "properties.customer", "eq", True)
    cases = {
        "criteria": ({"email": "why-not@example.com"}, "failed", *plan),
        "suppression": ({"contact_id": world.ids["suppressed"]}, "matched", *unsubscribed),
        "goal": ({"contact_id": world.ids["customer"]}, "matched", *customer),
    }
    for name, (body, key, path, field, op, value) in cases.items():
        single = (await api.post(url, json=body)).json()["error"]
        named = [{"path": path, "field": field, "op": op, "value": value}]
        assert single["details"][key] == named, name
        assert field in single["message"], name
        bulk = (await api.post(f"{url}:bulk", json={"contacts": [body]})).json()["results"][0]
        assert bulk["details"][key] == named, name

    nested = definitions.key("nested")
    assert (await api.put(f"/v1/workflows/{nested}", content=NESTED.replace("{key}", nested))).status_code == 201
    nested_url = f"/v1/workflows/{nested}/enrollments"
    # Meets the plan, not the seats: only the seats criterion is named.
    refused = await api.post(nested_url, json={"email": "few@example.com", "properties": {"plan": "pro", "seats": 2}})
    assert refused.json()["error"]["details"]["failed"] == [
        {"path": "enrollment.criteria.filters[1]", "field": "properties.seats", "op": "gte", "value": 5}
    ]
    # Both criteria failed: both named.
    refused = await api.post(nested_url, json={"email": "none@example.com"})
    assert [part["field"] for part in refused.json()["error"]["details"]["failed"]] == [
        "properties.plan",
        "properties.seats",
    ]
    # Suppressed by the second alternative only: that one is named.
    suppressed = await api.post(
        nested_url, json={"email": "spy@competitor.example", "properties": {"plan": "pro", "seats": 9}}
    )
    assert suppressed.status_code == 409
    assert suppressed.json()["error"]["details"]["matched"] == [
        {
            "path": "enrollment.suppression.filters[1]",
            "field": "email",
            "op": "contains",
            "value": "@competitor.example",
        }
    ]
