"""The CRM routes over real HTTP: exact statuses and error codes, and no input that makes a 500."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from engine.crm.audit import AuditEntryWrite, AuditWarning, record_audit_entry
from engine.crm.tables import AuditWarningCode, SyncStatus, SyncTrigger


async def test_contact_lifecycle_create_read_update_delete_restore(api: httpx.AsyncClient) -> None:
    """R-EXC-5 through the API: delete leaves a tombstone, create is refused, restore brings it back."""
    created = await api.post(
        "/v1/contacts",
        json={
            "email": " Ann@Example.com ",
            "first_name": "Ann",
            "properties": {"plan": "pro"},
            "secondary_emails": ["a@x.org"],
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["email"], body["secondary_emails"], body["business_unit_ids"]) == ("ann@example.com", ["a@x.org"], [1])
    contact_id = body["id"]
    patched = await api.patch(
        f"/v1/contacts/{contact_id}", json={"last_name": "Lee", "properties": {"plan": None, "seats": 3}}
    )
    assert patched.status_code == 200
    assert (patched.json()["last_name"], patched.json()["properties"]) == ("Lee", {"seats": 3})
    assert (await api.get(f"/v1/contacts/{contact_id}")).json()["first_name"] == "Ann"
    assert (await api.delete(f"/v1/contacts/{contact_id}")).status_code == 204
    assert (await api.get(f"/v1/contacts/{contact_id}")).json()["error"]["code"] == "CONTACT_NOT_FOUND"
    again = await api.post("/v1/contacts", json={"email": "ann@example.com"})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "CONTACT_DELETED")
    restored = await api.post("/v1/contacts/restore", json={"email": "ANN@example.com"})
    assert restored.status_code == 201
    assert restored.json()["id"] != contact_id


async def test_invalid_email_is_422_naming_the_field(api: httpx.AsyncClient) -> None:
    """R-EXC-3."""
    response = await api.post("/v1/contacts", json={"email": "not-an-email"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "INVALID_EMAIL"
    assert response.json()["error"]["details"]["field"] == "email"
    response = await api.post("/v1/contacts", json={"email": "ok@example.com", "secondary_emails": ["x@y.com", "bad@"]})
    assert (response.status_code, response.json()["error"]["details"]["field"]) == (422, "secondary_emails.1")


async def test_duplicate_primary_email_is_409(api: httpx.AsyncClient) -> None:
    assert (await api.post("/v1/contacts", json={"email": "dup@example.com"})).status_code == 201
    response = await api.post("/v1/contacts", json={"email": "DUP@example.com"})
    assert (response.status_code, response.json()["error"]["code"]) == (409, "CONTACT_EXISTS")


async def test_search_unknown_field_is_422_listing_allowed_fields(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/contacts/search", json={"filter": {"type": "condition", "field": "shoe_size", "op": "eq", "value": 42}}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "UNKNOWN_FILTER_FIELD"
    assert "zoom_webinar_attendance_count" in error["details"]["allowed"]
    assert "shoe_size" in error["message"]


async def test_search_bad_cursor_is_422(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/contacts/search", json={"filter": None, "cursor": "garbage!"})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "INVALID_CURSOR")
    response = await api.get("/v1/contacts", params={"cursor": "eyJhZnRlciI6IC0xfQ"})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "INVALID_CURSOR")


async def test_search_pages_through_matches(api: httpx.AsyncClient) -> None:
    for i in range(7):
        await api.post("/v1/contacts", json={"email": f"s{i}@example.com", "properties": {"tier": i % 2}})
    body: dict[str, Any] = {
        "filter": {"type": "condition", "field": "properties.tier", "op": "eq", "value": 1},
        "limit": 2,
    }
    emails: list[str] = []
    while True:
        page = (await api.post("/v1/contacts/search", json=body)).json()
        emails += [c["email"] for c in page["contacts"]]
        if not page["next_cursor"]:
            break
        body["cursor"] = page["next_cursor"]
    assert emails == ["s1@example.com", "s3@example.com", "s5@example.com"]


async def test_sync_settings_are_admin_only_and_an_operator_changes_nothing(
    api: httpx.AsyncClient, admin_api: httpx.AsyncClient
) -> None:
    """R-SET-1 and #12.1: an operator key may read the settings but not change any of them (403
    ROLE_REQUIRED, nothing written); an admin key turns global sync on and off."""
    settings = (await api.get("/v1/sync-settings")).json()
    assert settings["sync_enabled"] is False
    changed = settings | {
        "sync_enabled": True,
        "contact_exclusion_domains": ["@Corp.com"],
        "webinar_sync": "selected",
        "webinar_sync_users": ["Host@Corp.com"],
    }
    for attempt in (changed, settings | {"contact_exclusion_domains": []}):
        refused = await api.put("/v1/sync-settings", json=attempt)
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "ROLE_REQUIRED")
        assert refused.json()["error"]["details"]["required_role"] == "admin"
    assert (await api.get("/v1/sync-settings")).json() == settings
    accepted = await admin_api.put("/v1/sync-settings", json=changed)
    assert accepted.status_code == 200
    assert accepted.json()["contact_exclusion_domains"] == ["corp.com"]
    assert accepted.json()["webinar_sync_users"] == ["host@corp.com"]
    off = await admin_api.put("/v1/sync-settings", json=changed | {"sync_enabled": False})
    assert (off.status_code, off.json()["sync_enabled"]) == (200, False)


async def test_zoom_connection_takes_credentials_by_reference_only(admin_api: httpx.AsyncClient) -> None:
    api = admin_api
    connection = {
        "business_unit_id": 1,
        "name": "Main",
        "zoom_account_id": "acc-1",
        "connected_by_email": "Owner@Example.com",
        "credentials_ref": "env:ZOOM_MAIN",
    }
    raw = await api.post("/v1/zoom-connections", json=connection | {"client_secret": "s3cr3t"})
    assert raw.status_code == 422
    assert "client_secret" in raw.json()["error"]["message"] + str(raw.json()["error"]["details"])
    bad_ref = await api.post("/v1/zoom-connections", json=connection | {"credentials_ref": "abcdef0123456789"})
    assert (bad_ref.status_code, bad_ref.json()["error"]["code"]) == (422, "INVALID_CREDENTIALS_REF")
    created = await api.post("/v1/zoom-connections", json=connection)
    assert created.status_code == 201
    assert created.json()["connected_by_email"] == "owner@example.com"
    second = await api.post("/v1/zoom-connections", json=connection | {"name": "Other", "zoom_account_id": "acc-2"})
    assert (second.status_code, second.json()["error"]["code"]) == (409, "ZOOM_CONNECTION_EXISTS")  # R-BU-1
    connection_id = created.json()["id"]
    assert (await api.get(f"/v1/zoom-connections/{connection_id}")).json()["credentials_ref"] == "env:ZOOM_MAIN"

    user = await api.put(
        f"/v1/zoom-connections/{connection_id}/users/u1", json={"email": "host@example.com", "sync_recordings": False}
    )
    assert user.json() | {} == {
        "connection_id": connection_id,
        "zoom_user_id": "u1",
        "email": "host@example.com",
        "sync_new_webinars_by_default": True,
        "sync_recordings": False,
    }
    override = await api.put(
        f"/v1/zoom-connections/{connection_id}/users/u1/webinars/123456", json={"sync_enabled": False}
    )
    assert override.json() == {"zoom_webinar_id": "123456", "sync_enabled": False}
    listed = await api.get(f"/v1/zoom-connections/{connection_id}/users/u1/webinars")
    assert listed.json() == [{"zoom_webinar_id": "123456", "sync_enabled": False}]
    assert (await api.delete(f"/v1/zoom-connections/{connection_id}/users/u1/webinars/123456")).status_code == 204


async def test_business_units_and_account_users(admin_api: httpx.AsyncClient) -> None:
    api = admin_api
    assert (await api.get("/v1/business-units")).json() == [{"id": 1, "name": "Account", "is_primary": True}]
    created = await api.post("/v1/business-units", json={"name": "EMEA"})
    assert (created.status_code, created.json()["id"]) == (201, 2)
    assert (await api.post("/v1/business-units", json={"name": "EMEA"})).status_code == 409
    user = await api.post("/v1/account-users", json={"email": "Staff@Corp.com", "name": "Staff"})
    assert (user.status_code, user.json()["email"]) == (201, "staff@corp.com")
    assert (await api.post("/v1/account-users", json={"email": "staff@corp.com"})).status_code == 409
    assert (await api.delete(f"/v1/account-users/{user.json()['id']}")).status_code == 204


async def test_webinar_audit_is_newest_first_and_paginated(api: httpx.AsyncClient, session: Session) -> None:
    """§7: one entry per run, a retried write under the same run key updates it."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for i in range(3):
        record_audit_entry(
            session,
            AuditEntryWrite(
                run_key=f"run-{i}",
                zoom_webinar_id="999",
                trigger=SyncTrigger.SCHEDULE,
                status=SyncStatus.RUNNING,
                started_at=start + timedelta(hours=i),
            ),
        )
    warning = AuditWarning(
        code=AuditWarningCode.EMAILS_EXCLUDED,
        message="1 email excluded",
        items=[{"email": "x@corp.com", "reason": "excluded_domain"}],
    )
    record_audit_entry(
        session,
        AuditEntryWrite(
            run_key="run-2",
            zoom_webinar_id="999",
            trigger=SyncTrigger.SCHEDULE,
            status=SyncStatus.PARTIAL,
            started_at=start + timedelta(hours=2),
            counts={"registrants": 4},
            warnings=[warning],
        ),
    )
    session.commit()
    first = (await api.get("/v1/webinars/999/audit", params={"limit": 2})).json()
    assert [e["run_key"] for e in first["entries"]] == ["run-2", "run-1"]
    assert first["entries"][0]["status"] == "partial"
    assert first["entries"][0]["warnings"][0]["code"] == "EMAILS_EXCLUDED"
    second = (await api.get("/v1/webinars/999/audit", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert ([e["run_key"] for e in second["entries"]], second["next_cursor"]) == (["run-0"], None)


# --- no input makes a 500 ----------------------------------------------------------------------------

_MALFORMED: list[Any] = [
    None,
    [],
    "text",
    12,
    {},
    {"email": None},
    {"email": 12},
    {"email": "x" * 5000 + "@example.com"},
    {"email": "nul\u0000@example.com"},
    {"email": "a@b.com", "first_name": "\u0000"},
    {"email": "a@b.com", "properties": {"bad name": 1}},
    {"email": "a@b.com", "properties": {"zoom_webinar_attendance_count": 1}},
    {"email": "a@b.com", "properties": {"nested": {"x": 1}}},
    {"email": "a@b.com", "business_unit_ids": [99999]},
    {"email": "a@b.com", "business_unit_ids": [2**40]},
    {"email": "a@b.com", "secondary_emails": ["a@b.com", "a@b.com"]},
    {"name": ""},
    {"name": "x" * 500},
    {
        "business_unit_id": 2**40,
        "name": "n",
        "zoom_account_id": "a",
        "connected_by_email": "a@b.com",
        "credentials_ref": "env:X",
    },
    {
        "business_unit_id": 424242,
        "name": "n",
        "zoom_account_id": "a",
        "connected_by_email": "a@b.com",
        "credentials_ref": "env:X",
    },
    {"filter": {"type": "condition", "field": "email", "op": "gt", "value": 5}},
    {"filter": {"type": "condition", "field": "created_at", "op": "gt", "value": "yesterday"}},
    {"filter": {"type": "condition", "field": "properties.x", "op": "in", "value": []}},
    {"filter": {"type": "condition", "field": "properties.x", "op": "contains", "value": True}},
    {"filter": {"type": "condition", "field": "properties.x", "op": "gt", "value": "\u0000"}},
    {"filter": {"type": "condition", "field": "email", "op": "eq"}},
    {"filter": {"type": "condition", "field": "email", "op": "eq", "value": [1, 2]}},
    {"filter": {"type": "and", "filters": []}},
    {"filter": {"type": "event", "event": "party"}},
    {
        "filter": {
            "type": "event",
            "event": "webinar_attendance",
            "where": [{"type": "condition", "field": "x", "op": "eq", "value": 1}],
        }
    },
    {"filter": {"type": "not"}},
    {"cursor": "x" * 499},
    {"limit": 0},
    {"sync_enabled": "maybe"},
    {"webinar_sync": "some"},
    {"contact_exclusion_domains": ["not a domain"]},
    {"webinar_sync_users": ["nope"]},
    {"sync_enabled": False, "extra": 1},
    {"sync_enabled": None},
    {"email": "h@example.com", "sync_recordings": "yes"},
]

_ROUTES = [
    ("POST", "/v1/contacts"),
    ("PATCH", "/v1/contacts/1"),
    ("PATCH", "/v1/contacts/2147483647"),
    ("POST", "/v1/contacts/search"),
    ("POST", "/v1/contacts/restore"),
    ("POST", "/v1/account-users"),
    ("POST", "/v1/business-units"),
    ("POST", "/v1/zoom-connections"),
    ("PUT", "/v1/sync-settings"),
    ("PUT", "/v1/zoom-connections/1/users/u1"),
    ("PUT", "/v1/zoom-connections/1/users/u1/webinars/123"),
]

_PATHS = [
    ("GET", "/v1/contacts/0"),
    ("GET", "/v1/contacts/99999999999999999999"),
    ("GET", "/v1/contacts/abc"),
    ("DELETE", "/v1/contacts/-1"),
    ("GET", "/v1/contacts/1/timeline?cursor=%00"),
    ("GET", "/v1/contacts/1/participations"),
    ("GET", "/v1/contacts?limit=100000"),
    ("GET", "/v1/contacts?cursor=eyJhZnRlciI6dHJ1ZX0"),
    ("GET", "/v1/zoom-connections/0"),
    ("GET", "/v1/zoom-connections/99999999999"),
    ("GET", "/v1/zoom-connections/1/users"),
    ("GET", "/v1/zoom-connections/1/users/%00/webinars"),
    ("DELETE", "/v1/zoom-connections/1/users/u1/webinars/abc"),
    ("DELETE", "/v1/account-users/99999999999"),
    ("GET", "/v1/webinars/abc/audit"),
    ("GET", "/v1/webinars/123/audit?cursor=bad"),
    ("GET", "/v1/webinars/123/audit?cursor=eyJhdCI6IDEsICJpZCI6IDF9"),
    ("GET", "/v1/webinars/" + "9" * 40 + "/audit"),
]


async def test_no_malformed_body_or_path_makes_a_500(admin_api: httpx.AsyncClient) -> None:
    """Every route answers a 4xx with the JSON error envelope for any malformed input (as an admin,
    so every route gets as far as reading its input)."""
    api = admin_api
    await api.post("/v1/contacts", json={"email": "a@b.com"})
    failures = []
    for method, path in _ROUTES:
        for body in _MALFORMED:
            response = await api.request(method, path, json=body)
            if response.status_code >= 500 or (response.status_code >= 400 and "error" not in response.json()):
                failures.append((method, path, body, response.status_code, response.text[:200]))
        response = await api.request(method, path, content=b"{not json", headers={"Content-Type": "application/json"})
        if response.status_code >= 500:
            failures.append((method, path, "{not json", response.status_code, response.text[:200]))
    for method, path in _PATHS:
        response = await api.request(method, path)
        if response.status_code >= 500:
            failures.append((method, path, None, response.status_code, response.text[:200]))
    assert failures == []


@pytest.mark.parametrize("route", ["/v1/contacts", "/v1/sync-settings", "/v1/webinars/1/audit", "/v1/business-units"])
async def test_routes_need_an_api_key(api: httpx.AsyncClient, route: str) -> None:
    response = await api.get(route, headers={"Authorization": "Bearer wrong"})
    assert (response.status_code, response.json()["error"]["code"]) == (401, "UNAUTHORIZED")
