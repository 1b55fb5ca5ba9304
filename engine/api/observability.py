"""Request metrics of the API (#17.1): a pure ASGI middleware, outermost, so refusals by
``AccessMiddleware`` (401, 403, 413) are counted too. Routes are named by their template from
``ROUTE_ROLES`` (never the concrete path, which holds ids); anything else is ``unmatched``."""

from __future__ import annotations

import time

from starlette._utils import get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.api.access import RouteAccess
from engine.metrics import API_REQUEST_SECONDS, API_REQUESTS

UNMATCHED = "unmatched"


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp, *, table: list[RouteAccess]) -> None:
        self.app = app
        self.table = table

    def _route_of(self, scope: Scope) -> str:
        path = get_route_path(scope)
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        for entry in self.table:
            if entry.method == method and entry.pattern.match(path):
                return entry.path
        return UNMATCHED

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self._route_of(scope)
        method = scope["method"] if route != UNMATCHED else "other"
        status = 500
        started = time.perf_counter()

        async def counted_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counted_send)
        finally:
            API_REQUESTS.labels(method, route, str(status)).inc()
            API_REQUEST_SECONDS.labels(method, route).observe(time.perf_counter() - started)
