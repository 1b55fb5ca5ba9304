"""Fixtures of the CRM store tests: a session on the fresh store, and the real app over real HTTP
(httpx on the ASGI transport) with a user key; ``admin_headers`` switches a request to an admin key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from engine.api.app import create_app
from engine.config import Settings

USER_KEY = "user-key-for-tests"
ADMIN_KEY = "admin-key-for-tests"


@pytest.fixture
def session(db_engine: Engine) -> Iterator[Session]:
    with Session(db_engine) as session:
        yield session


@pytest.fixture
async def api(database_url: str, db_engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(api_keys=[USER_KEY], admin_api_keys=[ADMIN_KEY], database_url=database_url)
    app = create_app(settings, db_engine=db_engine)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app),
        base_url="http://rollcall.test",
        headers={"Authorization": f"Bearer {USER_KEY}"},
    ) as client:
        yield client


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}
