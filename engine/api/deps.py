"""Request-scoped dependencies: database sessions, the Temporal client and the request's caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from engine.api.auth import Caller
from engine.config import Settings
from engine.crm.sqlite_transactions import read_only
from engine.errors import ConfigurationError
from engine.temporal import connect


class TemporalGateway:
    """Connects to Temporal on first use and keeps the client; the API starts even while Temporal
    is still coming up, and /readyz reports it."""

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    try:
                        self._client = await connect(self._settings)
                    except RuntimeError as exc:
                        raise ConfigurationError(
                            f"cannot reach Temporal at {self._settings.temporal_target}: {exc}"
                        ) from None
        return self._client


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.db_engine
    return engine


async def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> AsyncIterator[Session]:
    """The request's session. Its route runs in a worker thread; it is closed here, in the event
    loop, as soon as the route returns — so a transaction left open (a read after the commit)
    gives SQLite's write lock back without waiting for a free worker thread (#13.4)."""
    session = Session(engine)
    try:
        yield session
    finally:
        session.close()


async def get_read_session(engine: Annotated[Engine, Depends(get_engine)]) -> AsyncIterator[Session]:
    """A session for routes that only read: it never waits for SQLite's write lock."""
    session = Session(read_only(engine))
    try:
        yield session
    finally:
        session.close()


async def get_temporal_client(request: Request) -> Client:
    gateway: TemporalGateway = request.app.state.temporal
    return await gateway.client()


def get_caller(request: Request) -> Caller:
    """The key that sent the request (set by ``AccessMiddleware`` on every route that needs one)."""
    caller: Caller = request.state.caller
    return caller


SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
TemporalDep = Annotated[Client, Depends(get_temporal_client)]
CallerDep = Annotated[Caller, Depends(get_caller)]
