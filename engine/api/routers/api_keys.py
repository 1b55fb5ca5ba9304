"""The configured API keys: names, roles and where each is configured — never a key (admin only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from engine.api.auth import Keyring, Role

router = APIRouter(prefix="/api-keys", tags=["api keys"])


class ApiKeyOut(BaseModel):
    name: str
    role: Role
    #: ``ROLLCALL_API_KEYS entry 2``, ``ROLLCALL_API_KEYS_FILE entry 1``, …
    configured_in: str


@router.get("")
def list_api_keys(request: Request) -> list[ApiKeyOut]:
    keyring: Keyring = request.app.state.keyring
    return [ApiKeyOut(name=key.name, role=key.role, configured_in=key.where) for key in keyring]
