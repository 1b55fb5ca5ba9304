"""Server-to-Server OAuth: ``POST /oauth/token`` (HTTP Basic client credentials, form body)."""

from __future__ import annotations

import base64
import secrets

from fastapi import APIRouter, Request
from starlette.responses import Response

from zoom_emulator.core.facts import TOKEN_LIFETIME_SECONDS
from zoom_emulator.routes.common import OAuthReply, apply_faults, emulator_of, json_response

OAUTH_SCOPES = "user:read:admin webinar:read:admin webinar:write:admin report:read:admin recording:read:admin"

router = APIRouter()


@router.post("/oauth/token")
async def oauth_token(request: Request) -> Response:
    emulator = emulator_of(request)
    await apply_faults(emulator, "oauth_token")
    form = await request.form()
    if form.get("grant_type") != "account_credentials":
        # The grant must be in the form body; query-string parameters are refused (docs/zoom.md, "Authentication").
        raise OAuthReply(400, "unsupported_grant_type", "Unsupported grant type")
    header = request.headers.get("authorization", "")
    client_id = client_secret = ""
    if header.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            client_id = ""
    account = next(
        (
            a
            for a in emulator.state.accounts.values()
            if secrets.compare_digest(a.client_id, client_id) and secrets.compare_digest(a.client_secret, client_secret)
        ),
        None,
    )
    if account is None:
        raise OAuthReply(401, "invalid_client", "Invalid client_id or client_secret")
    if form.get("account_id") != account.id:
        raise OAuthReply(400, "invalid_request", "Invalid account_id")
    token = secrets.token_urlsafe(32)
    emulator.state.tokens[token] = (account.id, emulator.clock.timestamp() + TOKEN_LIFETIME_SECONDS)
    emulator.state.tokens_issued[account.id] += 1
    base = str(request.base_url).rstrip("/")
    return json_response(
        {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": TOKEN_LIFETIME_SECONDS,
            "scope": OAUTH_SCOPES,
            "api_url": base,
        }
    )
