"""Bearer API-key authentication. Every route but the health checks depends on ``require_api_key``."""

from __future__ import annotations

import hmac
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from engine.config import Settings
from engine.errors import RollcallError


class Unauthorized(RollcallError):
    code = "UNAUTHORIZED"
    http_status = 401


class Forbidden(RollcallError):
    code = "FORBIDDEN"
    http_status = 403


class Scope(StrEnum):
    USER = "user"
    ADMIN = "admin"


_bearer = HTTPBearer(auto_error=False, description="A key from ROLLCALL_API_KEYS or ROLLCALL_ADMIN_API_KEYS")


def _matches(candidate: str, keys: list[str]) -> bool:
    # Compare against every key in constant time so timing reveals neither key nor position.
    found = False
    for key in keys:
        found |= hmac.compare_digest(candidate.encode(), key.encode())
    return found


def scope_of(settings: Settings, token: str) -> Scope | None:
    if _matches(token, [k.get_secret_value() for k in settings.admin_api_keys]):
        return Scope.ADMIN
    if _matches(token, [k.get_secret_value() for k in settings.api_keys]):
        return Scope.USER
    return None


async def require_api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Scope:
    if credentials is None:
        raise Unauthorized("missing bearer API key (Authorization: Bearer <key>)")
    scope = scope_of(request.app.state.settings, credentials.credentials)
    if scope is None:
        raise Unauthorized("invalid API key")
    return scope


async def require_admin_key(scope: Annotated[Scope, Depends(require_api_key)]) -> Scope:
    if scope is not Scope.ADMIN:
        raise Forbidden("this operation needs an admin API key (ROLLCALL_ADMIN_API_KEYS)")
    return scope
