"""#13.2 and #13.3 — one bad value never breaks the store for everyone.

#13.2: JSON ``NaN``, ``Infinity``, ``-Infinity`` and ``1e400`` (which parses as infinity) are
refused wherever JSON properties or filter values enter (422 ``VALIDATION_ERROR`` naming the
field), and a value that is already stored (written before, or directly in SQL) neither breaks
property filters (SQLite) nor can be written at all (PostgreSQL's json type refuses it).

#13.3: integers beyond 64 bits in a filter — built-in fields, ``in`` lists, event fields,
``properties.*`` — and in cursors are refused with a 4xx instead of a 500.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from engine.crm.contacts import create_contact, validate_properties
from engine.crm.errors import InvalidProperty
from engine.crm.segments import _filter_fingerprint, contact_matches, parse_filter, search_contacts
from engine.crm.tables import Contact, table_of

CONTACTS = table_of(Contact)
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400"]
BEYOND_64_BITS = [2**63, -(2**63) - 1, 2**70]
PROPERTY_FILTERS: list[dict[str, Any]] = [
    {"type": "condition", "field": "properties.webinar_id", "op": "is_set"},  # the README's own example
    {"type": "condition", "field": "properties.seats", "op": "gte", "value": 1},
    {"type": "condition", "field": "properties.plan", "op": "eq", "value": "pro"},
    {"type": "condition", "field": "properties.vip", "op": "eq", "value": True},
    {"type": "not", "filter": {"type": "condition", "field": "properties.plan", "op": "is_not_set"}},
]


def _post_raw(api: httpx.AsyncClient, method: str, url: str, body: str) -> Any:
    return api.request(method, url, content=body.encode(), headers={"content-type": "application/json"})


def _error(response: httpx.Response) -> tuple[int, str, list[str]]:
    error = response.json()["error"]
    return response.status_code, error["code"], [detail["field"] for detail in error["details"]]


def _contact_rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.select(CONTACTS).order_by(CONTACTS.c.id))]


@pytest.mark.parametrize("literal", NON_FINITE)
async def test_non_finite_numbers_are_refused_in_every_json_body_naming_the_field_13_2(
    api: httpx.AsyncClient, db_engine: Engine, literal: str
) -> None:
    """#13.2: contacts (create, update), enrollments (single, bulk) and searches answer 422
    VALIDATION_ERROR naming the field; nothing is written."""
    created = await api.post("/v1/contacts", json={"email": "kept@example.com", "properties": {"seats": 2}})
    assert created.status_code == 201
    contact_id = created.json()["id"]
    before = _contact_rows(db_engine)
    cases = [
        ("POST", "/v1/contacts", f'{{"email": "n@example.com", "properties": {{"n": {literal}}}}}', "properties.n"),
        ("PATCH", f"/v1/contacts/{contact_id}", f'{{"properties": {{"n": {literal}}}}}', "properties.n"),
        (
            "POST",
            "/v1/workflows/any-key/enrollments",
            f'{{"email": "n@example.com", "properties": {{"n": {literal}}}}}',
            "properties.n",
        ),
        (
            "POST",
            "/v1/workflows/any-key/enrollments:bulk",
            '{"contacts": [{"email": "ok@example.com"}, '
            f'{{"email": "n@example.com", "properties": {{"n": {literal}}}}}]}}',
            "contacts.1.properties.n",
        ),
        (
            "POST",
            "/v1/contacts/search",
            f'{{"filter": {{"type": "condition", "field": "properties.seats", "op": "gt", "value": {literal}}}}}',
            "filter.condition.value",
        ),
        (
            "POST",
            "/v1/workflows/any-key/enrollments:bulk",
            f'{{"segment": {{"type": "condition", "field": "properties.seats", "op": "in", "value": [1, {literal}]}}}}',
            "segment.condition.value",
        ),
    ]
    for method, url, body, field in cases:
        response = await _post_raw(api, method, url, body)
        assert _error(response) == (422, "VALIDATION_ERROR", [field]), (method, url, response.text)
        assert "finite number" in response.json()["error"]["details"][0]["message"]
    assert _contact_rows(db_engine) == before
    for node in PROPERTY_FILTERS:
        assert (await api.post("/v1/contacts/search", json={"filter": node})).status_code == 200


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_the_store_refuses_non_finite_properties_13_2(session: Session, value: float) -> None:
    """#13.2: callers of the store other than the API (CLI, workflow steps) are refused too."""
    with pytest.raises(InvalidProperty) as refused:
        validate_properties({"n": value})
    assert refused.value.details == {"field": "properties.n"}
    with pytest.raises(InvalidProperty):
        create_contact(session, email="x@example.com", properties={"n": value})


def _seed(session: Session) -> dict[str, int]:
    ids: dict[str, int] = {}
    people: dict[str, dict[str, Any]] = {
        "pro@example.com": {"plan": "pro", "seats": 3, "webinar_id": "81234567890", "vip": True},
        "free@example.com": {"plan": "free", "seats": 1},
        "poisoned@example.com": {"plan": "pro"},
    }
    for email, properties in people.items():
        contact = create_contact(session, email=email, properties=properties)
        assert contact.id is not None
        ids[email] = contact.id
    session.commit()
    return ids


def _search(session: Session, node: dict[str, Any]) -> list[str]:
    return [contact.email for contact in search_contacts(session, parse_filter(node)).contacts]


def test_a_non_finite_value_written_through_the_orm_is_stored_as_null_13_2(db_engine: Engine) -> None:
    """#13.2: the JSON columns' serializer writes NaN/±Infinity as null on both databases, so a
    path that bypasses validation (a bug, a future caller) cannot poison the store."""
    with Session(db_engine) as session:
        ids = _seed(session)
        poisoned = ids["poisoned@example.com"]
        session.execute(
            sa.update(CONTACTS)
            .where(CONTACTS.c.id == poisoned)
            .values(properties={"plan": "pro", "n": float("nan"), "m": [float("-inf")]})
        )
        session.commit()
    with db_engine.connect() as connection:
        stored = connection.execute(sa.select(CONTACTS.c.properties).where(CONTACTS.c.id == poisoned)).scalar_one()
    assert stored == {"plan": "pro", "n": None, "m": [None]}
    with Session(db_engine) as session:
        assert _search(session, {"type": "condition", "field": "properties.n", "op": "is_set"}) == []
        assert "poisoned@example.com" in _search(
            session, {"type": "condition", "field": "properties.plan", "op": "eq", "value": "pro"}
        )


def test_a_stored_nan_does_not_break_property_filters_for_everyone_13_2(db_engine: Engine) -> None:
    """#13.2: a contact whose properties hold NaN written directly in SQL. SQLite: every property
    filter still answers (that contact's properties read as unset), and so does a workflow's
    criteria check (``contact_matches``). PostgreSQL's json type refuses such a document."""
    with Session(db_engine) as session:
        ids = _seed(session)
    poisoned = ids["poisoned@example.com"]
    raw = '{"plan": "pro", "seats": NaN, "webinar_id": Infinity}'
    statement = sa.text("UPDATE contacts SET properties = :raw WHERE id = :id")
    if db_engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError), db_engine.begin() as connection:
            connection.execute(statement, {"raw": raw, "id": poisoned})
        return
    with db_engine.begin() as connection:
        connection.execute(statement, {"raw": raw, "id": poisoned})
    with Session(db_engine) as session:
        assert _search(session, PROPERTY_FILTERS[0]) == ["pro@example.com"]
        assert _search(session, PROPERTY_FILTERS[1]) == ["pro@example.com", "free@example.com"]
        assert _search(session, PROPERTY_FILTERS[2]) == ["pro@example.com"]
        assert _search(session, PROPERTY_FILTERS[3]) == ["pro@example.com"]
        assert _search(session, PROPERTY_FILTERS[4]) == ["pro@example.com", "free@example.com"]
        assert _search(session, {"type": "condition", "field": "properties.plan", "op": "neq", "value": "pro"}) == [
            "free@example.com",
            "poisoned@example.com",
        ]
        assert contact_matches(session, parse_filter(PROPERTY_FILTERS[0]), poisoned) is False
        assert contact_matches(session, parse_filter(PROPERTY_FILTERS[0]), ids["pro@example.com"]) is True


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL cannot hold it (above)
async def test_a_stored_nan_does_not_break_contact_search_through_the_api_13_2(
    api: httpx.AsyncClient, db_engine: Engine
) -> None:
    """#13.2 through the API: search and reading the poisoned contact answer (SQLite)."""
    with Session(db_engine) as session:
        ids = _seed(session)
    with db_engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE contacts SET properties = :raw WHERE id = :id"),
            {"raw": '{"n": NaN}', "id": ids["poisoned@example.com"]},
        )
    for node in PROPERTY_FILTERS:
        response = await api.post("/v1/contacts/search", json={"filter": node})
        assert response.status_code == 200, response.text
    shown = await api.get(f"/v1/contacts/{ids['poisoned@example.com']}")
    assert (shown.status_code, shown.json()["properties"]) == (200, {"n": None})


def _huge_filters(number: int) -> dict[str, dict[str, Any]]:
    return {
        "built-in field": {
            "type": "condition",
            "field": "zoom_webinar_registration_count",
            "op": "gte",
            "value": number,
        },
        "in list": {"type": "condition", "field": "zoom_webinar_attendance_count", "op": "in", "value": [1, number]},
        "event field": {
            "type": "event",
            "event": "webinar_attendance",
            "where": [{"type": "condition", "field": "duration_seconds", "op": "lt", "value": number}],
        },
        "property": {"type": "condition", "field": "properties.seats", "op": "eq", "value": number},
        "text field": {"type": "condition", "field": "email", "op": "eq", "value": number},
    }


_HUGE_FIELDS = {
    "built-in field": "filter.condition.value",
    "in list": "filter.condition.value",
    "event field": "filter.event.where.0.value",
    "property": "filter.condition.value",
    "text field": "filter.condition.value",
}


@pytest.mark.parametrize("number", BEYOND_64_BITS)
async def test_integers_beyond_64_bits_in_a_filter_are_422_13_3(api: httpx.AsyncClient, number: int) -> None:
    """#13.3: built-in fields, ``in`` lists, event fields and ``properties.*`` (and a text field
    compared with a number) refuse an integer beyond 64 bits at validation, naming the field; in
    a bulk enrollment's segment too."""
    await api.post("/v1/contacts", json={"email": "someone@example.com", "properties": {"seats": 1}})
    for location, node in _huge_filters(number).items():
        response = await api.post("/v1/contacts/search", json={"filter": node})
        assert _error(response) == (422, "VALIDATION_ERROR", [_HUGE_FIELDS[location]]), (location, response.text)
        assert "2^63" in response.json()["error"]["details"][0]["message"]
        bulk = await api.post("/v1/workflows/any-key/enrollments:bulk", json={"segment": node})
        assert _error(bulk)[:2] == (422, "VALIDATION_ERROR"), location
    as_property = await api.post("/v1/contacts", json={"email": "big@example.com", "properties": {"n": number}})
    assert _error(as_property) == (422, "VALIDATION_ERROR", ["properties.n"])


async def test_the_largest_64_bit_integers_still_compare_13_3(api: httpx.AsyncClient) -> None:
    """#13.3: the limits themselves are valid values on both databases (compared safely)."""
    created = await api.post("/v1/contacts", json={"email": "limits@example.com", "properties": {"seats": 2**63 - 1}})
    assert created.status_code == 201
    for number in (2**63 - 1, -(2**63)):
        for location, node in _huge_filters(number).items():
            response = await api.post("/v1/contacts/search", json={"filter": node})
            assert response.status_code == 200, (location, response.text)
    lowest = {"type": "condition", "field": "zoom_webinar_registration_count", "op": "gt", "value": -(2**63)}
    found = await api.post("/v1/contacts/search", json={"filter": lowest})
    assert [c["email"] for c in found.json()["contacts"]] == ["limits@example.com"]


def _cursor(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize("number", BEYOND_64_BITS)
async def test_cursors_holding_integers_beyond_64_bits_are_refused_13_3(api: httpx.AsyncClient, number: int) -> None:
    """#13.3: a forged cursor is a client error, not an OverflowError."""
    created = await api.post("/v1/contacts", json={"email": "cursor@example.com"})
    contact_id = created.json()["id"]
    search_cursor = _cursor({"after": number, "filter": _filter_fingerprint(None)})
    response = await api.post("/v1/contacts/search", json={"cursor": search_cursor})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "INVALID_CURSOR")
    listed = await api.get("/v1/contacts", params={"cursor": search_cursor})
    assert (listed.status_code, listed.json()["error"]["code"]) == (422, "INVALID_CURSOR")
    timeline_cursor = _cursor({"at": "2026-01-01T00:00:00+00:00", "id": number})
    timeline = await api.get(f"/v1/contacts/{contact_id}/timeline", params={"cursor": timeline_cursor})
    assert (timeline.status_code, timeline.json()["error"]["code"]) == (422, "INVALID_CURSOR")
    audit = await api.get("/v1/webinars/81234567890/audit", params={"cursor": timeline_cursor})
    assert (audit.status_code, audit.json()["error"]["code"]) == (422, "INVALID_CURSOR")
