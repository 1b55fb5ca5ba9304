"""Who may call what, checked before any byte of a body is read (issue #12.1 and #12.6).

``ROUTE_ROLES`` is the one table of every route's minimum role; ``AccessMiddleware`` (pure ASGI, in
front of the routes) enforces it: it finds the route a request is for, checks the bearer key and
its role (401/403 JSON without reading the body), then lets the body in only while it stays under
the route's size limit (Content-Length first, streamed bytes counted: 413 JSON). It matches the
request against the table's own templates, so a route can never be reached around it; and
``create_app`` refuses to build an app with a route the table lacks, or an entry no route has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import structlog
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette._utils import get_route_path
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.api.auth import ApiKey, Caller, Keyring, Role
from engine.api.errors import error_response
from engine.api.routers.zoom_webhooks import MAX_BODY_BYTES as WEBHOOK_MAX_BODY_BYTES
from engine.dsl.validation import MAX_DEFINITION_CHARS

log = structlog.get_logger("rollcall.api.access")

#: No key: health, readiness, the API docs, and Zoom's webhooks (authenticated by their signature).
PUBLIC = None

VIEWER, OPERATOR, EDITOR, ADMIN = Role.VIEWER, Role.OPERATOR, Role.EDITOR, Role.ADMIN

#: (method, path template) → the least role that may call it. Viewers read; operators enroll,
#: unenroll, sync now and write contacts; editors change definitions; admins change what is synced
#: and from where (sync settings, Zoom connections and their users), business units, account users
#: (which decide who is excluded) and see the keys.
ROUTE_ROLES: dict[tuple[str, str], Role | None] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/docs/assets/{asset}"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("POST", "/v1/zoom/webhooks/{connection}"): PUBLIC,
    # Prometheus metrics (#17.1): public only with ROLLCALL_METRICS_PUBLIC=true (``roles_of``)
    ("GET", "/metrics"): VIEWER,
    # the codec server (#17.4): decoding shows what runs carry; encoding crafts inputs
    ("POST", "/codec/decode"): VIEWER,
    ("POST", "/codec/encode"): OPERATOR,
    ("GET", "/codec/login"): PUBLIC,
    ("POST", "/codec/login"): PUBLIC,
    # system checks
    ("POST", "/v1/system/checks"): OPERATOR,
    ("GET", "/v1/system/checks/{workflow_id}"): VIEWER,
    # contacts
    ("GET", "/v1/contacts"): VIEWER,
    ("POST", "/v1/contacts/search"): VIEWER,
    ("GET", "/v1/contacts/{contact_id}"): VIEWER,
    ("GET", "/v1/contacts/{contact_id}/timeline"): VIEWER,
    ("GET", "/v1/contacts/{contact_id}/participations"): VIEWER,
    ("GET", "/v1/contacts/{contact_id}/enrollments"): VIEWER,
    ("POST", "/v1/contacts"): OPERATOR,
    ("PATCH", "/v1/contacts/{contact_id}"): OPERATOR,
    ("DELETE", "/v1/contacts/{contact_id}"): OPERATOR,
    ("POST", "/v1/contacts/restore"): OPERATOR,
    # account users, business units, Zoom connections, sync settings
    ("GET", "/v1/account-users"): VIEWER,
    ("POST", "/v1/account-users"): ADMIN,
    ("DELETE", "/v1/account-users/{account_user_id}"): ADMIN,
    ("GET", "/v1/business-units"): VIEWER,
    ("POST", "/v1/business-units"): ADMIN,
    ("GET", "/v1/zoom-connections"): VIEWER,
    ("GET", "/v1/zoom-connections/{connection_id}"): VIEWER,
    ("POST", "/v1/zoom-connections"): ADMIN,
    ("GET", "/v1/sync-settings"): VIEWER,
    ("PUT", "/v1/sync-settings"): ADMIN,
    ("GET", "/v1/zoom-connections/{connection_id}/users"): VIEWER,
    ("PUT", "/v1/zoom-connections/{connection_id}/users/{zoom_user_id}"): ADMIN,
    ("GET", "/v1/zoom-connections/{connection_id}/users/{zoom_user_id}/webinars"): VIEWER,
    ("PUT", "/v1/zoom-connections/{connection_id}/users/{zoom_user_id}/webinars/{webinar_id}"): ADMIN,
    ("DELETE", "/v1/zoom-connections/{connection_id}/users/{zoom_user_id}/webinars/{webinar_id}"): ADMIN,
    ("GET", "/v1/api-keys"): ADMIN,
    # webinars: audit, Sync now
    ("GET", "/v1/webinars/{webinar_id}/audit"): VIEWER,
    ("GET", "/v1/webinars/{webinar_id}/sync"): VIEWER,
    ("POST", "/v1/webinars/{webinar_id}/sync"): OPERATOR,
    # transcripts (#15.4)
    ("GET", "/v1/webinars/{webinar_id}/transcript"): VIEWER,
    ("GET", "/v1/transcripts/search"): VIEWER,
    # workflow definitions and enrollments
    ("GET", "/v1/workflows"): VIEWER,
    ("GET", "/v1/workflows/{key}"): VIEWER,
    ("PUT", "/v1/workflows/{key}"): EDITOR,
    ("POST", "/v1/workflows/{key}/enable"): EDITOR,
    ("POST", "/v1/workflows/{key}/disable"): EDITOR,
    ("POST", "/v1/workflows/{key}/enrollments"): OPERATOR,
    ("POST", "/v1/workflows/{key}/enrollments:bulk"): OPERATOR,
    ("GET", "/v1/workflows/{key}/enrollments"): VIEWER,  # e-mails (include=email): operator
    ("GET", "/v1/workflows/{key}/stats"): VIEWER,
    ("GET", "/v1/workflows/{key}/enrollments/{contact_id}"): VIEWER,
    ("DELETE", "/v1/workflows/{key}/enrollments/{contact_id}"): OPERATOR,
}

#: Routes with a smaller body limit than ``ROLLCALL_API_MAX_BODY_BYTES``: a definition travels in
#: every enrollment's workflow input, and Zoom's events are a few KiB.
ROUTE_BODY_LIMITS: dict[tuple[str, str], int] = {
    ("PUT", "/v1/workflows/{key}"): MAX_DEFINITION_CHARS,
    ("POST", "/v1/zoom/webhooks/{connection}"): WEBHOOK_MAX_BODY_BYTES,
    ("POST", "/codec/login"): 4096,
}

#: Routes a browser may authenticate to with the codec session cookie instead of a bearer key.
COOKIE_ROUTES: frozenset[tuple[str, str]] = frozenset({("POST", "/codec/decode"), ("POST", "/codec/encode")})
CODEC_SESSION_COOKIE = b"rollcall_codec"


class RouteTableError(RuntimeError):
    """A route without an entry in ``ROUTE_ROLES``, or an entry without a route: a bug, caught at start."""


class RequestBodyTooLarge(StarletteHTTPException):
    """Raised from ``receive`` once the streamed body passes the limit; FastAPI re-raises
    HTTPExceptions from body reading, and the error handlers answer 413 ``PAYLOAD_TOO_LARGE``."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


@dataclass(frozen=True)
class RouteAccess:
    method: str
    path: str
    role: Role | None
    max_body_bytes: int
    pattern: re.Pattern[str] = field(repr=False, compare=False)


#: What ``ROLLCALL_METRICS_PUBLIC=true`` opens to callers without a key.
METRICS_ROUTE = ("GET", "/metrics")


def roles_of(*, metrics_public: bool = False) -> dict[tuple[str, str], Role | None]:
    """``ROUTE_ROLES`` as configured: ``/metrics`` public when the settings say so."""
    return {**ROUTE_ROLES, METRICS_ROUTE: PUBLIC} if metrics_public else dict(ROUTE_ROLES)


def route_table(max_body_bytes: int, *, metrics_public: bool = False) -> list[RouteAccess]:
    """``ROUTE_ROLES`` ready to match requests: each template compiled as Starlette compiles it."""
    table = []
    for (method, path), role in roles_of(metrics_public=metrics_public).items():
        limit = min(ROUTE_BODY_LIMITS.get((method, path), max_body_bytes), max_body_bytes)
        table.append(RouteAccess(method, path, role, limit, compile_path(path)[0]))
    return table


def check_route_table(app: FastAPI) -> None:
    """``RouteTableError`` unless every (method, path) the app serves has exactly one table entry."""
    served = set()
    for route in iter_route_contexts(app.router.routes):
        # Starlette answers HEAD with the GET route; HEAD is checked as GET.
        served |= {(method, route.path) for method in (route.methods or set()) - {"HEAD"} if route.path}
    unknown = sorted(f"{method} {path}" for method, path in served - set(ROUTE_ROLES))
    stale = sorted(f"{method} {path}" for method, path in set(ROUTE_ROLES) - served)
    if unknown or stale:
        raise RouteTableError(
            f"engine/api/access.py ROUTE_ROLES: no entry for {unknown or 'none'}; "
            f"entry without a route: {stale or 'none'}"
        )


def _strictness(entry: RouteAccess) -> int:
    return -1 if entry.role is None else entry.role.rank


def _bearer_token(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            token = token.strip()
            return token if scheme.lower() == b"bearer" and token else None
    return None


def _cookie(scope: Scope, name: bytes) -> bytes | None:
    for header, value in scope["headers"]:
        if header == b"cookie":
            for part in value.split(b";"):
                key, _, found = part.strip().partition(b"=")
                if key == name and found:
                    value_: bytes = found.strip().strip(b'"')
                    return value_
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class CodecCors:
    """CORS for the codec routes only (``/codec/…``), for the configured origins (the Web UI's):
    credentials allowed, so the codec session cookie goes along. Other paths get no CORS header."""

    def __init__(self, app: ASGIApp, *, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["POST"],
            allow_headers=["Authorization", "Content-Type", "X-Namespace"],
            allow_credentials=True,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and get_route_path(scope).startswith("/codec/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class AccessMiddleware:
    """Key, role and body size, in that order, before the route sees the request."""

    def __init__(self, app: ASGIApp, *, table: list[RouteAccess], keyring: Keyring) -> None:
        self.app = app
        self.table = table
        self.keyring = keyring

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        access = self._access_of(scope)
        if access is None:
            # No such path, or not this method: the app's own 404/405, which reads no body.
            await self.app(scope, receive, send)
            return
        if access.role is None:
            await self._within_body_limit(access, scope, receive, send)
            return
        caller = await self._caller(access, scope, receive, send)
        if caller is None:
            return
        scope.setdefault("state", {})["caller"] = caller
        with structlog.contextvars.bound_contextvars(key_name=caller.key_name, role=caller.role.value):
            await self._within_body_limit(access, scope, receive, send)

    def _access_of(self, scope: Scope) -> RouteAccess | None:
        """The table entry of the request's method and path. Templates of one method do not overlap;
        if they ever did, the strictest entry would apply (and a public one only if it is the only one)."""
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        path = get_route_path(scope)
        matches = [entry for entry in self.table if entry.method == method and entry.pattern.match(path)]
        return max(matches, key=_strictness, default=None)

    async def _caller(self, access: RouteAccess, scope: Scope, receive: Receive, send: Send) -> Caller | None:
        """The request's caller, or None once a 401/403 is sent."""
        assert access.role is not None
        token = _bearer_token(scope)
        if token is None and (access.method, access.path) in COOKIE_ROUTES:
            token = _cookie(scope, CODEC_SESSION_COOKIE)
        key = self.keyring.identify(token) if token is not None else None
        if key is None:
            await _unauthorized(access, presented=token is not None)(scope, receive, send)
            return None
        if not key.role.includes(access.role):
            await _forbidden(access, access.role, key)(scope, receive, send)
            return None
        return Caller(key_name=key.name, role=key.role)

    async def _within_body_limit(self, access: RouteAccess, scope: Scope, receive: Receive, send: Send) -> None:
        limit = access.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestBodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except RequestBodyTooLarge:
            # The error handlers answer it inside the app; this is for a route that let it escape.
            if started:
                raise
            await _too_large(limit)(scope, receive, send)


def _unauthorized(access: RouteAccess, *, presented: bool) -> ASGIApp:
    log.info("request refused: no valid API key", method=access.method, route=access.path)
    message = "invalid API key" if presented else "missing bearer API key (Authorization: Bearer <key>)"
    return error_response(401, "UNAUTHORIZED", message, headers={"WWW-Authenticate": "Bearer"})


def _forbidden(access: RouteAccess, needed: Role, key: ApiKey) -> ASGIApp:
    log.warning(
        "request refused: role too low",
        key_name=key.name,
        role=key.role.value,
        required_role=needed.value,
        method=access.method,
        route=access.path,
    )
    return error_response(
        403,
        "ROLE_REQUIRED",
        f"{access.method} {access.path} needs an API key with role {needed.value} or above; "
        f"key {key.name!r} is {key.role.value}",
        {"required_role": needed.value, "role": key.role.value, "key_name": key.name},
    )


def _too_large(limit: int) -> ASGIApp:
    return error_response(413, "PAYLOAD_TOO_LARGE", f"the request body is larger than {limit} bytes")
