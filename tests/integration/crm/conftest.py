"""Fixtures of the CRM store tests: a session on the fresh store, and the real app over real HTTP
(httpx on the ASGI transport) with an operator key (``api``) or an admin key (``admin_api``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session

from engine.api.app import create_app
from engine.config import Settings

OPERATOR_KEY = "operator-key-for-tests"
ADMIN_KEY = "admin-key-for-tests"


@pytest.fixture
def session(db_engine: Engine) -> Iterator[Session]:
    with Session(db_engine) as session:
        yield session


@pytest.fixture
def app(database_url: str, db_engine: Engine) -> FastAPI:
    settings = Settings(
        api_keys=[f"tests-operator:operator:{OPERATOR_KEY}", f"tests-admin:admin:{ADMIN_KEY}"],
        database_url=database_url,
    )
    return create_app(settings, db_engine=db_engine)


def _client(app: FastAPI, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://rollcall.test", headers={"Authorization": f"Bearer {key}"}
    )


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The API as an operator: reads everything, writes contacts."""
    async with _client(app, OPERATOR_KEY) as client:
        yield client


@pytest.fixture
async def admin_api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The API as an admin: settings, Zoom connections, business units, account users (#12.1)."""
    async with _client(app, ADMIN_KEY) as client:
        yield client
