"""What every route shares: Zoom's error envelope, the gateway checks (faults, bearer token, rate
limit), Zoom's path decoding of instance UUIDs, and ``next_page_token`` paging.

The emulator follows the real API (Zoom's documentation and OpenAPI description), not Rollcall's
client: status codes, ``{"code","message"}`` envelopes, ``x-zm-trackingid`` on every answer and
rate-limit headers on successes.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_plus

from fastapi import Request
from starlette.responses import Response

from zoom_emulator.core.emulator import Emulator
from zoom_emulator.core.facts import (
    DAILY_MESSAGE,
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PAGE_TOKEN_EXPIRED_MESSAGE,
    PAGE_TOKEN_LIFETIME_SECONDS,
    QPS_MESSAGE,
    RateLabel,
)
from zoom_emulator.core.faults import FaultKind
from zoom_emulator.core.limits import next_utc_midnight
from zoom_emulator.core.state import Account, EmulatorState, Instance, PageCursor, Webinar, zoom_time


class ZoomReply(Exception):
    """An error answer in Zoom's envelope."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"code": code, "message": message}
        if errors is not None:
            self.body["errors"] = errors
        self.headers = headers or {}


class OAuthReply(Exception):
    """An ``/oauth/token`` error: OAuth's ``{"reason","error"}`` shape, not Zoom's envelope."""

    def __init__(self, status: int, error: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.body = {"reason": reason, "error": error}


class DropConnection(Exception):
    """Fault injection: the connection dies mid-answer."""


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # json.dumps straight to bytes: FastAPI's jsonable_encoder would cost more than the page itself.
    return Response(json.dumps(body, separators=(",", ":")).encode(), status, headers, media_type="application/json")


@dataclass
class Call:
    emulator: Emulator
    account: Account
    rate_headers: dict[str, str]

    @property
    def state(self) -> EmulatorState:
        return self.emulator.state

    def reply(self, body: Any, status: int = 200) -> Response:
        return json_response(body, status, self.rate_headers)

    def no_content(self) -> Response:
        return Response(status_code=204, headers=self.rate_headers)


def emulator_of(request: Request) -> Emulator:
    """The emulator, brought up to its clock (due webinar events run first), so every answer sees
    the world as it is now."""
    emulator: Emulator = request.app.state.emulator
    if not emulator.public_url:
        emulator.public_url = str(request.base_url).rstrip("/")
    emulator.tick()
    return emulator


async def apply_faults(emulator: Emulator, operation: str) -> None:
    emulator.state.requests[operation] += 1
    rule = emulator.faults.pick(operation)
    if rule is None:
        return
    if rule.kind is FaultKind.LATENCY:
        await asyncio.sleep(rule.latency_ms / 1000)
    elif rule.kind is FaultKind.ERROR:
        raise ZoomReply(rule.status, rule.status, "Internal Error (injected fault).")
    elif rule.kind is FaultKind.RATE_LIMIT:
        headers = {"X-RateLimit-Type": "Daily-limit" if rule.daily else "QPS", "X-RateLimit-Remaining": "0"}
        headers["Retry-After"] = zoom_time(next_utc_midnight(emulator.clock.now())) if rule.daily else "1"
        raise ZoomReply(
            429, 429, DAILY_MESSAGE if rule.daily else QPS_MESSAGE, headers={} if rule.omit_headers else headers
        )
    else:
        raise DropConnection


async def begin(request: Request, operation: str, label: RateLabel) -> Call:
    """Faults, then the bearer token, then the account's rate limit — like Zoom's gateway."""
    emulator = emulator_of(request)
    await apply_faults(emulator, operation)
    state = emulator.state
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    issued = state.tokens.get(token)
    if issued is None:
        raise ZoomReply(401, 124, "Invalid access token.")
    account_id, expires_at = issued
    if emulator.clock.timestamp() >= expires_at:
        raise ZoomReply(401, 124, "Access token is expired.")
    account = state.accounts[account_id]
    decision = emulator.limits.check(account.id, account.plan, label, account.rate_limits)
    if not decision.allowed:
        raise ZoomReply(429, 429, decision.message, headers=decision.headers)
    return Call(emulator, account, decision.headers)


def path_ref(request: Request, index: int) -> str | None:
    """The id or UUID in raw path segment ``index``, decoded the way Zoom does.

    The gateway decodes once (a literal ``+`` then reads as a space) and normalises slashes, so a
    once-encoded UUID that starts with ``/`` or contains ``//`` is lost (``None`` → 404). A value
    still percent-encoded after that first decode was double-encoded and is decoded again.
    """
    raw = request.scope["raw_path"].decode("latin-1").split("/")
    if index >= len(raw):
        return None
    once = unquote_plus(raw[index])
    if once.startswith("/") or "//" in once:
        return None
    return unquote(once) if "%" in once else once


def not_found_webinar(ref: str) -> ZoomReply:
    return ZoomReply(404, 3001, f"Webinar {ref} not found or has expired.")


def webinar_or_404(call: Call, webinar_id: str) -> Webinar:
    webinar = call.state.webinar_for(call.account.id, webinar_id)
    if webinar is None:
        raise not_found_webinar(webinar_id)
    return webinar


def instance_or_404(call: Call, ref: str | None, *, message: str) -> Instance:
    instance = call.state.instance_for(call.account.id, ref) if ref else None
    if instance is None:
        raise ZoomReply(404, 3001, message.format(ref=ref or ""))
    return instance


def page_size_of(value: int | None) -> int:
    if value is None or value < 1:
        return DEFAULT_PAGE_SIZE
    return min(value, MAX_PAGE_SIZE)


def paginate(
    call: Call,
    listing: tuple[str, ...],
    rows: Callable[[], Sequence[Any]],
    *,
    items_key: str,
    page_size: int | None,
    next_page_token: str | None,
    render: Callable[[Any], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One page of a listing, read from the live data. ``next_page_token`` keeps a position (an
    offset), not a snapshot: a registrant cancelled between two pages shifts the later ones, as
    Zoom's may. Tokens live 15 minutes of emulator time; ``page_number``/``page_count`` are not
    served. With ``render``, ``rows`` are the listing's objects and only the page's are rendered
    as JSON (a 100,000-row listing is not rendered whole for every page).
    """
    state = call.state
    now = call.emulator.clock.timestamp()
    size, offset = page_size_of(page_size), 0
    if next_page_token:
        cursor = state.page_cursors.get(next_page_token)
        if cursor is None or cursor.listing != listing or now - cursor.issued_at > PAGE_TOKEN_LIFETIME_SECONDS:
            raise ZoomReply(400, 300, PAGE_TOKEN_EXPIRED_MESSAGE)
        offset = cursor.offset
    current = rows()
    page = list(current[offset : offset + size])
    token = ""
    if offset + len(page) < len(current):
        _forget_stale_cursors(state, now)
        token = secrets.token_urlsafe(24)
        state.page_cursors[token] = PageCursor(listing, offset + len(page), now)
    return {
        "page_size": size,
        "total_records": len(current),
        "next_page_token": token,
        items_key: page if render is None else [render(row) for row in page],
    }


def _forget_stale_cursors(state: EmulatorState, now: float) -> None:
    if len(state.page_cursors) > 1000:
        for stale in [t for t, c in state.page_cursors.items() if now - c.issued_at > PAGE_TOKEN_LIFETIME_SECONDS]:
            del state.page_cursors[stale]
