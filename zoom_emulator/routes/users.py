"""Users and their webinars: ``GET /users``, ``/users/{userId}``, ``/users/{userId}/webinars``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from zoom_emulator.core.facts import RateLabel
from zoom_emulator.core.state import SCHEDULED_LISTING_GRACE
from zoom_emulator.routes.common import ZoomReply, begin, paginate

router = APIRouter()


@router.get("/v2/users/{user_ref}")
async def get_user(request: Request, user_ref: str) -> Response:
    call = await begin(request, "get_user", RateLabel.LIGHT)
    user = call.state.user_for(call.account.id, user_ref)
    if user is None:
        raise ZoomReply(404, 1001, f"User does not exist: {user_ref}.")
    return call.reply(user.to_json())


@router.get("/v2/users")
async def list_users(
    request: Request, page_size: int | None = None, next_page_token: str | None = None, status: str = "active"
) -> Response:
    call = await begin(request, "list_users", RateLabel.MEDIUM)
    account = call.account

    def rows() -> list[dict[str, Any]]:
        # Every seeded user is active.
        return [u.to_json() for u in account.users.values()] if status == "active" else []

    body = paginate(
        call,
        ("users", account.id, status),
        rows,
        items_key="users",
        page_size=page_size,
        next_page_token=next_page_token,
    )
    return call.reply(body)


@router.get("/v2/users/{user_ref}/webinars")
async def list_user_webinars(
    request: Request,
    user_ref: str,
    type: str = "scheduled",
    page_size: int | None = None,
    next_page_token: str | None = None,
) -> Response:
    call = await begin(request, "list_user_webinars", RateLabel.MEDIUM)
    user = call.state.user_for(call.account.id, user_ref)
    if user is None:
        raise ZoomReply(404, 1001, f"User {user_ref} not exist or not belong to this account.")
    if type not in ("scheduled", "upcoming"):
        raise ZoomReply(400, 300, "Validation Failed.", errors=[{"field": "type", "message": "Invalid value"}])
    now = call.emulator.clock.now()

    def rows() -> list[dict[str, Any]]:
        # "upcoming": not ended yet (live included); "scheduled": also those that ended less than
        # 30 days ago — older ones have expired.
        horizon = now if type == "upcoming" else now - SCHEDULED_LISTING_GRACE
        webinars = [w for w in call.state.webinars.values() if w.host.id == user.id and w.end_time > horizon]
        return [w.summary_json() for w in sorted(webinars, key=lambda w: w.start_time)]

    body = paginate(
        call,
        ("user_webinars", user.id, type),
        rows,
        items_key="webinars",
        page_size=page_size,
        next_page_token=next_page_token,
    )
    return call.reply(body)
