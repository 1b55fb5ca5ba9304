"""The loopback Zoom emulator as an ASGI app: OAuth on ``/oauth/token``, the Zoom API v2 under
``/v2`` (``routes/``, one module per resource) and the admin API under ``/_admin``."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zoom_emulator.core.clock import EmulatorClock
from zoom_emulator.core.emulator import Emulator
from zoom_emulator.core.runner import Heartbeat
from zoom_emulator.core.seeds import SeedDocument
from zoom_emulator.routes import admin, admin_live, oauth, recordings, registrants, reports, users, webinars
from zoom_emulator.routes.common import DropConnection, OAuthReply, ZoomReply, json_response


class _DroppedResponse(Response):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Announce a body and send less of it: the server then has to close the connection.
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
            }
        )
        await send({"type": "http.response.body", "body": b"{", "more_body": False})


class TrackingIdMiddleware:
    """``x-zm-trackingid`` on every answer, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-zm-trackingid", f"v=2.0;clid=emu;rid={secrets.token_hex(12)}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


def _zoom_reply(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ZoomReply)
    return json_response(exc.body, exc.status, exc.headers)


def _oauth_reply(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthReply)
    return json_response(exc.body, exc.status)


def _dropped(request: Request, exc: Exception) -> Response:
    return _DroppedResponse()


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return json_response({"code": 404, "message": "Not Found."}, 404)
    return json_response({"code": exc.status_code, "message": str(exc.detail)}, exc.status_code)


def _invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": str(e["loc"][-1]), "message": str(e["msg"])} for e in exc.errors()]
    return json_response({"code": 300, "message": "Validation Failed.", "errors": errors}, 400)


def create_app(
    seed: SeedDocument | None = None,
    *,
    clock: EmulatorClock | None = None,
    emulator: Emulator | None = None,
    state_file: Path | None = None,
) -> FastAPI:
    """The emulator as an ASGI app. Pass ``emulator`` to keep a handle on its state in-process;
    with ``state_file`` the state is written there while it runs and when it stops."""
    world = emulator or Emulator(seed, clock=clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        heartbeat = Heartbeat(world, state_file)
        world.webhooks.start()
        beating = asyncio.create_task(heartbeat.run())
        try:
            yield
        finally:
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)
            heartbeat.save(force=True)
            await world.webhooks.aclose()

    app = FastAPI(title="Rollcall Zoom emulator", openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.emulator = world
    for module in (oauth, users, webinars, registrants, reports, recordings):
        app.include_router(module.router)
    app.include_router(admin.router)
    app.include_router(admin_live.router)
    app.add_exception_handler(ZoomReply, _zoom_reply)
    app.add_exception_handler(OAuthReply, _oauth_reply)
    app.add_exception_handler(DropConnection, _dropped)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_middleware(TrackingIdMiddleware)
    return app
