"""Issue #12.1 acceptance: the role matrix, walked over the live OpenAPI with real HTTP, on every database.

Every route the running app documents must have an entry in ``engine.api.access.ROUTE_ROLES``; then
every route is called without a key and with a key of each role. Below the table's role the answer
is 401/403 JSON with a stable code naming the role needed, and a write changes nothing in the store
(every row of every table compared before and after); at or above it the request is never refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel
from support.http import serve
from temporalio.client import Client

from engine.api.access import ROUTE_ROLES
from engine.api.app import create_app
from engine.api.auth import Role
from engine.config import Settings
from engine.crm import accounts, contacts, sync_settings
from engine.enrollment.definitions import put_definition_text
from engine.zoom.settings import ZoomSettings

pytestmark = pytest.mark.timeout(300)

KEYS = {role: f"matrix-{role.value}-key" for role in Role}
#: The issue's order (each role may do what the ones before it may), kept apart from the code under test.
ORDER = ["viewer", "operator", "editor", "admin"]
#: Served by FastAPI itself and left out of the OpenAPI document they describe.
DOCS_ROUTES = {("GET", "/docs"), ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc"), ("GET", "/openapi.json")}
#: The webhook route answers for itself (401 without Zoom's signature): only "no API key asked" is checked.
SIGNATURE_ROUTE = ("POST", "/v1/zoom/webhooks/{connection}")

DEFINITION = """
key: matrix
name: Matrix
enrollment:
  triggers: [{type: api}]
steps:
  - id: wait
    type: delay
    for: 30d
"""


@dataclass(frozen=True)
class Seeded:
    contact_id: int
    account_user_id: int
    connection_id: int
    free_business_unit_id: int


def seed(engine: Engine) -> Seeded:
    """One of everything a route can point at, so that an allowed request gets as far as it can."""
    with Session(engine, expire_on_commit=False) as session:
        contact = contacts.create_contact(session, email="jane@customers.example", first_name="Jane")
        gone = contacts.create_contact(session, email="gone@customers.example")
        assert gone.id is not None
        contacts.delete_contact(session, gone.id)
        user = accounts.create_account_user(session, email="staff@corp.example")
        connection = accounts.create_zoom_connection(
            session,
            business_unit_id=1,
            name="matrix",
            zoom_account_id="matrix-account",
            connected_by_email="owner@corp.example",
            credentials_ref="env:MATRIX",
        )
        assert connection.id is not None
        sync_settings.put_zoom_user(session, connection.id, "host-1", email="host@corp.example")
        free_unit = accounts.create_business_unit(session, "Unconnected")
        put_definition_text(session, "matrix", DEFINITION, source="test")
        session.commit()
    assert contact.id and user.id and free_unit.id
    return Seeded(contact.id, user.id, connection.id, free_unit.id)


def concrete(path: str, seeded: Seeded) -> str:
    values = {
        "contact_id": seeded.contact_id,
        "account_user_id": seeded.account_user_id,
        "connection_id": seeded.connection_id,
        "zoom_user_id": "host-1",
        "webinar_id": "81000000001",
        "workflow_id": "system-check:none",
        "key": "matrix",
        "connection": "no-such-connection",
    }
    return re.sub(r"\{([^}]+)\}", lambda found: str(values[found.group(1)]), path)


Body = Callable[[str, Seeded], dict[str, Any]]

#: Writes that take no body.
BODYLESS = {
    ("POST", "/v1/system/checks"),
    ("POST", "/v1/workflows/{key}/enable"),
    ("POST", "/v1/workflows/{key}/disable"),
    ("POST", "/v1/webinars/{webinar_id}/sync"),
    SIGNATURE_ROUTE,
}

#: The request of every route that takes a body: each would change the store if it were allowed
#: (``who`` keeps the bodies of different callers apart).
BODIES: dict[tuple[str, str], Body] = {
    ("POST", "/v1/contacts"): lambda who, _: {"json": {"email": f"{who}@customers.example"}},
    ("POST", "/v1/contacts/search"): lambda who, _: {"json": {"filter": None}},
    ("PATCH", "/v1/contacts/{contact_id}"): lambda who, _: {"json": {"first_name": who}},
    ("POST", "/v1/contacts/restore"): lambda who, _: {"json": {"email": "gone@customers.example"}},
    ("POST", "/v1/account-users"): lambda who, _: {"json": {"email": f"staff-{who}@corp.example"}},
    ("POST", "/v1/business-units"): lambda who, _: {"json": {"name": f"BU {who}"}},
    ("POST", "/v1/zoom-connections"): lambda who, seeded: {
        "json": {
            "business_unit_id": seeded.free_business_unit_id,
            "name": f"zoom-{who}",
            "zoom_account_id": f"account-{who}",
            "connected_by_email": "owner@corp.example",
            "credentials_ref": "env:ZOOM",
        }
    },
    ("PUT", "/v1/sync-settings"): lambda who, _: {
        "json": {"sync_enabled": True, "webinar_sync": "none", "contact_exclusion_domains": []}
    },
    ("PUT", "/v1/zoom-connections/{connection_id}/users/{zoom_user_id}"): lambda who, _: {
        "json": {"email": f"{who}@corp.example", "sync_recordings": False}
    },
    ("PUT", "/v1/zoom-connections/{connection_id}/users/{zoom_user_id}/webinars/{webinar_id}"): lambda who, _: {
        "json": {"sync_enabled": False}
    },
    ("PUT", "/v1/workflows/{key}"): lambda who, _: {
        "content": DEFINITION.replace("30d", "31d"),
        "headers": {"content-type": "application/yaml"},
    },
    ("POST", "/v1/workflows/{key}/enrollments"): lambda who, _: {"json": {"email": f"enroll-{who}@customers.example"}},
    # #17.4: the codec server (a JSON Payloads document; the login form takes a key).
    ("POST", "/codec/decode"): lambda who, _: {"json": {"payloads": []}},
    ("POST", "/codec/encode"): lambda who, _: {"json": {"payloads": []}},
    ("POST", "/codec/login"): lambda who, _: {"data": {"key": KEYS[Role.VIEWER]}},
    ("POST", "/v1/workflows/{key}/enrollments:bulk"): lambda who, _: {
        "json": {"contacts": [{"email": f"bulk-{who}@customers.example"}]}
    },
}


def store_snapshot(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table of the CRM store."""
    with engine.connect() as connection:
        return {
            table.name: sorted(repr(tuple(row)) for row in connection.execute(sa.select(table)))
            for table in SQLModel.metadata.sorted_tables
        }


def callers() -> Iterator[tuple[str, Role | None]]:
    yield "no-key", None
    for role in Role:
        yield role.value, role


@dataclass
class Walk:
    http: httpx.AsyncClient
    engine: Engine
    seeded: Seeded
    problems: list[str]

    async def call(self, method: str, path: str, who: str, role: Role | None) -> httpx.Response:
        kwargs = BODIES[(method, path)](who, self.seeded) if (method, path) in BODIES else {}
        headers = {**kwargs.pop("headers", {}), **({"Authorization": f"Bearer {KEYS[role]}"} if role else {})}
        return await self.http.request(method, concrete(path, self.seeded), headers=headers, **kwargs)

    async def refused(self, method: str, path: str, who: str, role: Role | None, needed: Role) -> None:
        before = store_snapshot(self.engine) if method != "GET" else None
        response = await self.call(method, path, who, role)
        status, code = (401, "UNAUTHORIZED") if role is None else (403, "ROLE_REQUIRED")
        body = response.json() if response.headers.get("content-type") == "application/json" else None
        error = body.get("error", {}) if isinstance(body, dict) else {}
        if (response.status_code, error.get("code")) != (status, code):
            self.problems.append(f"{method} {path} as {who}: {response.status_code} {response.text[:200]}")
        elif role is not None and error["details"]["required_role"] != needed.value:
            self.problems.append(f"{method} {path} as {who}: names {error['details']} instead of {needed.value}")
        if before is not None and store_snapshot(self.engine) != before:
            self.problems.append(f"{method} {path} as {who}: refused, but the store changed")

    async def allowed(self, method: str, path: str, who: str, role: Role | None) -> None:
        response = await self.call(method, path, who, role)
        if response.status_code in (401, 403) or response.status_code >= 500:
            self.problems.append(f"{method} {path} as {who}: {response.status_code} {response.text[:200]}")


async def test_every_route_answers_each_role_as_the_table_says(
    database_url: str, db_engine: Engine, temporal_client: Client, task_queue: str
) -> None:
    """#12.1: each route × no key and each role, over real HTTP; refusals write nothing."""
    seeded = seed(db_engine)
    settings = Settings(
        api_keys=[f"matrix-{role.value}:{role.value}:{key}" for role, key in KEYS.items()],
        database_url=database_url,
        definitions_dir=None,
        temporal_address=temporal_client.service_client.config.target_host,
        temporal_task_queue=task_queue,
    )
    app = create_app(settings, db_engine=db_engine, zoom_settings=ZoomSettings(connections=[]))
    with serve(app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            spec = (await http.get("/openapi.json")).json()
            operations = [(method.upper(), path) for path, items in spec["paths"].items() for method in items]
            # A route the app serves and the table lacks fails here (and create_app refuses it).
            assert sorted(set(operations) - set(ROUTE_ROLES)) == []
            assert set(ROUTE_ROLES) - set(operations) == DOCS_ROUTES
            assert sorted(set(BODIES) - set(operations)) == []
            writes = {op for op in operations if op[0] in ("POST", "PUT", "PATCH")}
            assert sorted(writes - set(BODIES) - BODYLESS) == [], "add the route's request to BODIES"

            walk = Walk(http, db_engine, seeded, [])
            for method, path in [*operations, *sorted(DOCS_ROUTES)]:
                needed = ROUTE_ROLES[(method, path)]
                if needed is None:
                    if (method, path) != SIGNATURE_ROUTE:
                        await walk.allowed(method, path, "no-key", None)
                    continue
                for who, role in callers():
                    if role is not None and ORDER.index(role.value) >= ORDER.index(needed.value):
                        await walk.allowed(method, path, who, role)
                    else:
                        await walk.refused(method, path, who, role, needed)
            hook = await walk.call(*SIGNATURE_ROUTE, "no-key", None)
            assert (hook.status_code, hook.json()["error"]["code"]) == (404, "ZOOM_CONNECTION_NOT_FOUND")
    assert walk.problems == []
