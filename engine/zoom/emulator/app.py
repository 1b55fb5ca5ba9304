"""The loopback Zoom emulator: OAuth on ``/oauth/token`` and the Zoom API v2 under ``/v2``.

It follows the real API (zoom-api.md and zoom-openapi-subset.json), not Rollcall's client: status
codes, ``{"code","message"}`` envelopes, ``x-zm-trackingid`` on every answer and rate-limit headers
on successes. The admin API (``/_admin``, see ``admin.py``) seeds and steers it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_plus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.zoom.emulator.clock import EmulatorClock
from engine.zoom.emulator.faults import FaultInjector, FaultKind
from engine.zoom.emulator.limits import DAILY_MESSAGE, QPS_MESSAGE, AccountRateLimits, next_utc_midnight
from engine.zoom.emulator.seeds import SeedDocument
from engine.zoom.emulator.state import (
    REPORT_RETENTION,
    SCHEDULED_LISTING_GRACE,
    Account,
    EmulatorState,
    Instance,
    PageCursor,
    Registrant,
    Webinar,
    zoom_time,
)
from engine.zoom.emulator.webhooks import WebhookEmitter
from engine.zoom.errors import PAGE_TOKEN_EXPIRED_MESSAGE
from engine.zoom.ratelimit import RateLabel

TOKEN_LIFETIME_SECONDS = 3600
PAGE_TOKEN_LIFETIME_SECONDS = 15 * 60
MAX_PAGE_SIZE = 300
DEFAULT_PAGE_SIZE = 30
ADDS_PER_EMAIL_PER_DAY = 3
STATUS_CHANGES_PER_REGISTRANT_PER_DAY = 10
MAX_STATUS_BATCH = 30
OAUTH_SCOPES = (
    "user:read:admin webinar:read:admin webinar:write:admin report:read:admin recording:read:admin"
)


class Emulator:
    """The emulator's mutable world; ``reset`` replaces the state and forgets faults and limits."""

    def __init__(self, seed: SeedDocument | None = None, *, clock: EmulatorClock | None = None) -> None:
        self.clock = clock or EmulatorClock()
        self.initial_seed = seed
        self.state = EmulatorState(self.clock)
        self.faults = FaultInjector()
        self.limits = AccountRateLimits(self.clock)
        self.webhooks = WebhookEmitter(self.clock)
        if seed is not None:
            self.state.apply_seed(seed)

    def reset(self, *, reseed: bool) -> None:
        self.state = EmulatorState(self.clock)
        self.faults.clear()
        self.limits = AccountRateLimits(self.clock, mode=self.limits.mode)
        self.webhooks.reset()
        if reseed and self.initial_seed is not None:
            self.state.apply_seed(self.initial_seed)


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


class _DroppedResponse(Response):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Announce a body and send less of it: the server then has to close the connection.
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")]})
        await send({"type": "http.response.body", "body": b"{", "more_body": False})


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # json.dumps straight to bytes: FastAPI's jsonable_encoder would cost more than the page itself.
    return Response(json.dumps(body, separators=(",", ":")).encode(), status, headers,
                    media_type="application/json")


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
    emulator: Emulator = request.app.state.emulator
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
        if rule.daily:
            headers["Retry-After"] = zoom_time(next_utc_midnight(emulator.clock.now()))
        raise ZoomReply(429, 429, DAILY_MESSAGE if rule.daily else QPS_MESSAGE,
                        headers={} if rule.omit_headers else headers)
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
    decision = emulator.limits.check(account.id, account.plan, label)
    if not decision.allowed:
        raise ZoomReply(429, 429, decision.message, headers=decision.headers)
    return Call(emulator, account, decision.headers)


def path_ref(request: Request, index: int) -> str | None:
    """The id or UUID in raw path segment ``index``, decoded the way Zoom does (zoom-api.md).

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


def page_size_of(value: int | None) -> int:
    if value is None or value < 1:
        return DEFAULT_PAGE_SIZE
    return min(value, MAX_PAGE_SIZE)


def paginate(
    call: Call,
    listing: tuple[str, ...],
    rows: Callable[[], list[dict[str, Any]]],
    *,
    items_key: str,
    page_size: int | None,
    next_page_token: str | None,
) -> dict[str, Any]:
    """One page of a listing. The first page snapshots the listing; later pages slice it (O(page)).

    Tokens live 15 minutes of emulator time; ``page_number``/``page_count`` are not served.
    """
    state = call.state
    now = call.emulator.clock.timestamp()
    size = page_size_of(page_size)
    if next_page_token:
        cursor = state.page_cursors.get(next_page_token)
        if cursor is None or cursor.listing != listing or now - cursor.issued_at > PAGE_TOKEN_LIFETIME_SECONDS:
            raise ZoomReply(400, 300, PAGE_TOKEN_EXPIRED_MESSAGE)
        snapshot, offset = cursor.rows, cursor.offset
    else:
        snapshot, offset = rows(), 0
    page = snapshot[offset : offset + size]
    token = ""
    if offset + len(page) < len(snapshot):
        if len(state.page_cursors) > 1000:
            for stale in [t for t, c in state.page_cursors.items() if now - c.issued_at > PAGE_TOKEN_LIFETIME_SECONDS]:
                del state.page_cursors[stale]
        token = secrets.token_urlsafe(24)
        state.page_cursors[token] = PageCursor(listing, snapshot, offset + len(page), now)
    return {
        "page_size": size,
        "total_records": len(snapshot),
        "next_page_token": token,
        items_key: page,
    }


def instance_or_404(call: Call, ref: str | None, *, message: str) -> Instance:
    instance = call.state.instance_for(call.account.id, ref) if ref else None
    if instance is None:
        raise ZoomReply(404, 3001, message.format(ref=ref or ""))
    return instance


def registration_object(webinar: Webinar, registrant: Registrant) -> dict[str, Any]:
    """``payload.object`` of ``webinar.registration_*`` events: the webinar id is a number there."""
    return {
        "id": webinar.id,
        "uuid": webinar.current_uuid(),
        "host_id": webinar.host.id,
        "topic": webinar.topic,
        "type": webinar.type,
        "start_time": zoom_time(webinar.start_time),
        "duration": webinar.duration,
        "timezone": webinar.timezone,
        "registrant": {
            "id": registrant.id,
            "email": registrant.email,
            "first_name": registrant.first_name,
            "last_name": registrant.last_name,
            "join_url": registrant.join_url,
            "status": registrant.status,
        },
    }


# --- routes ------------------------------------------------------------------------------------


async def oauth_token(request: Request) -> Response:
    emulator = emulator_of(request)
    await apply_faults(emulator, "oauth_token")
    form = await request.form()
    if form.get("grant_type") != "account_credentials":
        # The grant must be in the form body; query-string parameters are refused (zoom-api.md).
        raise OAuthReply(400, "unsupported_grant_type", "Unsupported grant type")
    header = request.headers.get("authorization", "")
    client_id = client_secret = ""
    if header.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            client_id = ""
    account = next(
        (a for a in emulator.state.accounts.values()
         if secrets.compare_digest(a.client_id, client_id) and secrets.compare_digest(a.client_secret, client_secret)),
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
    return json_response({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": TOKEN_LIFETIME_SECONDS,
        "scope": OAUTH_SCOPES,
        "api_url": base,
    })


async def get_user(request: Request, user_ref: str) -> Response:
    call = await begin(request, "get_user", RateLabel.LIGHT)
    user = call.state.user_for(call.account.id, user_ref)
    if user is None:
        raise ZoomReply(404, 1001, f"User does not exist: {user_ref}.")
    return call.reply(user.to_json())


async def list_users(
    request: Request, page_size: int | None = None, next_page_token: str | None = None, status: str = "active"
) -> Response:
    call = await begin(request, "list_users", RateLabel.MEDIUM)
    account = call.account

    def rows() -> list[dict[str, Any]]:
        # Every seeded user is active.
        return [u.to_json() for u in account.users.values()] if status == "active" else []

    body = paginate(call, ("users", account.id, status), rows, items_key="users",
                    page_size=page_size, next_page_token=next_page_token)
    return call.reply(body)


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

    body = paginate(call, ("user_webinars", user.id, type), rows, items_key="webinars",
                    page_size=page_size, next_page_token=next_page_token)
    return call.reply(body)


async def get_webinar(request: Request, webinar_id: str) -> Response:
    call = await begin(request, "get_webinar", RateLabel.LIGHT)
    return call.reply(webinar_or_404(call, webinar_id).to_json())


async def get_registration_questions(request: Request, webinar_id: str) -> Response:
    call = await begin(request, "get_registration_questions", RateLabel.LIGHT)
    webinar = webinar_or_404(call, webinar_id)
    return call.reply({"questions": webinar.questions, "custom_questions": webinar.custom_questions})


def _missing_answers(webinar: Webinar, body: dict[str, Any]) -> list[dict[str, str]]:
    errors = [
        {"field": q["field_name"], "message": f"{q['field_name']} is required."}
        for q in webinar.questions
        if q["required"] and not str(body.get(q["field_name"]) or "").strip()
    ]
    answered = {
        str(a.get("title")) for a in body.get("custom_questions") or []
        if isinstance(a, dict) and str(a.get("value") or "").strip()
    }
    errors += [
        {"field": "custom_questions", "message": f"{q['title']} is required."}
        for q in webinar.custom_questions
        if q["required"] and q["title"] not in answered
    ]
    return errors


async def add_registrant(request: Request, webinar_id: str) -> Response:
    call = await begin(request, "add_registrant", RateLabel.LIGHT)
    webinar = webinar_or_404(call, webinar_id)
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ZoomReply(400, 300, "Request Body should be a valid JSON object.")
    required = [
        {"field": name, "message": f"{name} is required."}
        for name in ("email", "first_name")
        if not isinstance(body.get(name), str) or not body[name].strip()
    ]
    if required:
        raise ZoomReply(400, 300, "Validation Failed.", errors=required)
    email: str = body["email"].strip()
    now = call.emulator.clock.now()
    if webinar.approval_type == 2:
        raise ZoomReply(400, 3000, f"This webinar does not have registration as required: {webinar.id}.")
    if webinar.is_over(now):
        raise ZoomReply(400, 3038, "Webinar is over, you cannot register now. "
                                   "If you have any questions, contact the webinar host.")
    if email.lower() in webinar.host_emails():
        raise ZoomReply(400, 3027, "Host cannot register.")
    day_key = (webinar.id, email.lower(), now.date())
    if call.state.adds_per_email_day[day_key] >= ADDS_PER_EMAIL_PER_DAY:
        raise ZoomReply(
            429, 429,
            f"You have exceeded the daily rate limit of ({ADDS_PER_EMAIL_PER_DAY}) for Add a webinar "
            f"registrant API requests for the registrant ({email}). "
            "You can resume these API requests at GMT 00:00:00.",
            headers={"x-ratelimit-limit": str(ADDS_PER_EMAIL_PER_DAY), "x-ratelimit-remaining": "0"},
        )
    missing = _missing_answers(webinar, body)
    if missing:
        raise ZoomReply(400, 300, "Validation Failed.", errors=missing)
    existing = webinar.registrant_by_email.get(email.lower())
    registrant = existing or webinar.add_registrant_from_api(body, now)
    call.state.adds_per_email_day[day_key] += 1
    call.state.add_calls[webinar.id] += 1
    if existing is None:
        call.emulator.webhooks.emit(webinar.account_id, "webinar.registration_created",
                                    registration_object(webinar, registrant))
    answer: dict[str, Any] = {
        # Zoom's 2023 OpenAPI types this webinar id as a string; the subset is the reference here.
        "id": str(webinar.id),
        "registrant_id": registrant.id,
        "join_url": registrant.join_url,
        "topic": webinar.topic,
        "start_time": zoom_time(webinar.start_time),
    }
    if webinar.occurrences:
        answer["occurrences"] = webinar.to_json()["occurrences"]
    return call.reply(answer, 201)


async def list_registrants(
    request: Request,
    webinar_id: str,
    status: str = "approved",
    page_size: int | None = None,
    next_page_token: str | None = None,
) -> Response:
    call = await begin(request, "list_registrants", RateLabel.MEDIUM)
    webinar = webinar_or_404(call, webinar_id)
    if status not in ("approved", "pending", "denied"):
        raise ZoomReply(400, 300, "Validation Failed.", errors=[{"field": "status", "message": "Invalid value"}])
    if webinar.approval_type == 2:
        raise ZoomReply(400, 3000, f"This webinar does not have registration as required: {webinar.id}.")

    def rows() -> list[dict[str, Any]]:
        # Cancelled registrants carry status "denied", so they are listed under status=denied.
        return [r.to_json() for r in webinar.registrants.values() if r.status == status]

    body = paginate(call, ("registrants", str(webinar.id), status), rows, items_key="registrants",
                    page_size=page_size, next_page_token=next_page_token)
    return call.reply(body)


async def update_registrant_status(request: Request, webinar_id: str) -> Response:
    call = await begin(request, "update_registrant_status", RateLabel.MEDIUM)
    webinar = webinar_or_404(call, webinar_id)
    try:
        body = await request.json()
    except ValueError:
        body = None
    action = body.get("action") if isinstance(body, dict) else None
    refs = body.get("registrants", []) if isinstance(body, dict) else None
    errors = []
    if action not in ("approve", "deny", "cancel"):
        errors.append({"field": "action", "message": "Invalid value: approve, deny or cancel."})
    if not isinstance(refs, list) or len(refs) > MAX_STATUS_BATCH or not all(isinstance(r, dict) for r in refs):
        errors.append({"field": "registrants", "message": f"At most {MAX_STATUS_BATCH} registrants."})
    if errors or not isinstance(refs, list):
        raise ZoomReply(400, 300, "Validation Failed.", errors=errors)
    now = call.emulator.clock.now()
    targets = []
    for ref in refs:
        registrant = webinar.registrants.get(str(ref.get("id", ""))) or webinar.registrant_by_email.get(
            str(ref.get("email", "")).lower()
        )
        if registrant is None:
            continue
        if call.state.status_changes_per_day[(registrant.id, now.date())] >= STATUS_CHANGES_PER_REGISTRANT_PER_DAY:
            raise ZoomReply(
                429, 429,
                f"You have exceeded the daily rate limit of ({STATUS_CHANGES_PER_REGISTRANT_PER_DAY}) for "
                f"webinar Update registrant's status API requests for the registrant ({registrant.email}). "
                "You can resume these API requests at GMT 00:00:00.",
            )
        targets.append(registrant)
    event = {"approve": "approved", "deny": "denied", "cancel": "cancelled"}[str(action)]
    for registrant in targets:
        call.state.status_changes_per_day[(registrant.id, now.date())] += 1
        registrant.set_status("approved" if action == "approve" else "denied", cancelled=action == "cancel")
        call.emulator.webhooks.emit(
            webinar.account_id, f"webinar.registration_{event}", registration_object(webinar, registrant),
            payload_extra={"operator": webinar.host.email, "operator_id": webinar.host.id},
        )
    return call.no_content()


async def list_past_instances(request: Request) -> Response:
    call = await begin(request, "list_past_instances", RateLabel.LIGHT)
    ref = path_ref(request, 3) or ""
    webinar = webinar_or_404(call, ref)
    now = call.emulator.clock.now()
    ended = sorted((i for i in webinar.instances if i.end_time <= now), key=lambda i: i.start_time)
    return call.reply({"webinars": [{"uuid": i.uuid, "start_time": zoom_time(i.start_time)} for i in ended]})


async def report_participants(
    request: Request,
    page_size: int | None = None,
    next_page_token: str | None = None,
    include_fields: str | None = None,
) -> Response:
    call = await begin(request, "report_participants", RateLabel.HEAVY)
    ref = path_ref(request, 4)
    instance = instance_or_404(call, ref, message='Webinar "{ref}" not found or has expired')
    if call.emulator.clock.now() - instance.start_time > REPORT_RETENTION:
        raise ZoomReply(400, 12702, "Can not access webinar a year ago.")
    with_registrant = include_fields == "registrant_id"
    body = paginate(call, ("report", instance.uuid, str(with_registrant)),
                    lambda: [s.to_json(with_registrant_id=with_registrant) for s in instance.sessions],
                    items_key="participants", page_size=page_size, next_page_token=next_page_token)
    return call.reply(body)


async def past_participants(
    request: Request, page_size: int | None = None, next_page_token: str | None = None
) -> Response:
    call = await begin(request, "past_participants", RateLabel.MEDIUM)
    instance = instance_or_404(call, path_ref(request, 3), message="Webinar does not exist.")

    def rows() -> list[dict[str, Any]]:
        # One row per join session, like the report, with the newer registrant_id field.
        return [
            {
                "id": s.participant_user_id,
                "user_id": s.user_id,
                "name": s.name,
                "user_email": s.email,
                "registrant_id": s.registrant_id,
                "join_time": zoom_time(s.join_time),
                "leave_time": zoom_time(s.leave_time),
                "duration": int((s.leave_time - s.join_time).total_seconds()),
                "status": "in_meeting",
                "failover": False,
            }
            for s in instance.sessions
        ]

    body = paginate(call, ("past_participants", instance.uuid), rows, items_key="participants",
                    page_size=page_size, next_page_token=next_page_token)
    return call.reply(body)


async def absentees(request: Request, page_size: int | None = None, next_page_token: str | None = None) -> Response:
    call = await begin(request, "absentees", RateLabel.HEAVY)
    instance = instance_or_404(call, path_ref(request, 3), message="Meeting ID is invalid or not end.")
    webinar = call.state.webinars[instance.webinar_id]
    if webinar.approval_type == 2:
        raise ZoomReply(400, 3000, f"This Webinar has not registration required: {instance.uuid}")

    def rows() -> list[dict[str, Any]]:
        came = {s.registrant_id for s in instance.sessions} | {s.email.lower() for s in instance.sessions}
        return [
            r.to_json() for r in webinar.registrants.values()
            if r.status == "approved" and r.id not in came and r.email.lower() not in came
        ]

    body = paginate(call, ("absentees", instance.uuid), rows, items_key="registrants",
                    page_size=page_size, next_page_token=next_page_token)
    return call.reply(body)


async def get_recordings(request: Request) -> Response:
    call = await begin(request, "get_recordings", RateLabel.LIGHT)
    ref = path_ref(request, 3)
    instance = call.state.instance_for(call.account.id, ref) if ref else None
    recording = instance.recording if instance else None
    now = call.emulator.clock.now()
    ready = [f for f in recording.files if f.available_at <= now] if recording and not recording.deleted else []
    if instance is None or not ready:
        raise ZoomReply(404, 3301, "There is no recording for this meeting.")
    webinar = call.state.webinars[instance.webinar_id]
    files = [
        {
            "id": f.id,
            "meeting_id": instance.uuid,
            "recording_start": zoom_time(instance.start_time),
            "recording_end": zoom_time(instance.end_time),
            "file_type": f.file_type,
            "file_extension": f.file_extension,
            "file_size": f.file_size,
            "play_url": f"https://emulator.zoom.invalid/rec/play/{f.id}",
            "download_url": f"https://emulator.zoom.invalid/rec/download/{f.id}",
            "status": "completed",
            "recording_type": f.recording_type,
        }
        for f in ready
    ]
    # "type" is omitted: the 2023 OpenAPI declares it a string whose enum lists numbers.
    return call.reply({
        "uuid": instance.uuid,
        "id": webinar.id,
        "account_id": webinar.account_id,
        "host_id": webinar.host.id,
        "topic": webinar.topic,
        "start_time": zoom_time(instance.start_time),
        "duration": instance.duration,
        "total_size": sum(f.file_size for f in ready),
        "recording_count": len(ready),
        "share_url": f"https://emulator.zoom.invalid/rec/share/{instance.webinar_id}",
        "recording_files": files,
    })


# --- application -------------------------------------------------------------------------------


Handler = Callable[..., Awaitable[Response]]

ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/oauth/token", oauth_token),
    ("GET", "/v2/users", list_users),
    ("GET", "/v2/users/{user_ref}", get_user),
    ("GET", "/v2/users/{user_ref}/webinars", list_user_webinars),
    ("GET", "/v2/webinars/{webinar_id}", get_webinar),
    ("GET", "/v2/webinars/{webinar_id}/registrants/questions", get_registration_questions),
    ("POST", "/v2/webinars/{webinar_id}/registrants", add_registrant),
    ("GET", "/v2/webinars/{webinar_id}/registrants", list_registrants),
    ("PUT", "/v2/webinars/{webinar_id}/registrants/status", update_registrant_status),
    # Instance routes match any path so that awkward UUIDs are judged by ``path_ref``.
    ("GET", "/v2/past_webinars/{ref:path}/instances", list_past_instances),
    ("GET", "/v2/past_webinars/{ref:path}/participants", past_participants),
    ("GET", "/v2/past_webinars/{ref:path}/absentees", absentees),
    ("GET", "/v2/report/webinars/{ref:path}/participants", report_participants),
    ("GET", "/v2/meetings/{ref:path}/recordings", get_recordings),
)


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
) -> FastAPI:
    """The emulator as an ASGI app. Pass ``emulator`` to keep a handle on its state in-process."""
    # Imported here: the admin router builds on this module's helpers.
    from engine.zoom.emulator.admin import admin_router

    world = emulator or Emulator(seed, clock=clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await world.webhooks.aclose()

    app = FastAPI(
        title="Rollcall Zoom emulator", openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan
    )
    app.state.emulator = world
    for method, path, handler in ROUTES:
        app.add_api_route(path, handler, methods=[method], name=handler.__name__)
    app.include_router(admin_router)
    app.add_exception_handler(ZoomReply, _zoom_reply)
    app.add_exception_handler(OAuthReply, _oauth_reply)
    app.add_exception_handler(DropConnection, _dropped)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_middleware(TrackingIdMiddleware)
    return app

