"""The emulator's admin API (``/_admin``): seed, steer and inspect the emulated Zoom.

Not part of Zoom; tests, the benchmark and the demo use it (see ``EmulatorAdmin`` for a client).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from zoom_emulator.core.emulator import Emulator
from zoom_emulator.core.faults import FaultRule
from zoom_emulator.core.limits import RateLimitMode
from zoom_emulator.core.seeds import (
    GenerateRegistrants,
    GenerateSessions,
    InstanceSeed,
    RegistrantSeed,
    SeedDocument,
    SessionSeed,
    WebinarSeed,
)
from zoom_emulator.core.state import Webinar, zoom_time
from zoom_emulator.routes.common import emulator_of, json_response

router = APIRouter(prefix="/_admin")


class AdminModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResetRequest(AdminModel):
    #: Re-apply the seed the emulator started with.
    reseed: bool = False


class RegistrantsRequest(AdminModel):
    registrants: list[RegistrantSeed] = Field(default_factory=list)
    generate: GenerateRegistrants | None = None


class SessionsRequest(AdminModel):
    instance_uuid: str
    sessions: list[SessionSeed] = Field(default_factory=list)
    generate: GenerateSessions | None = None


class ClockRequest(AdminModel):
    now: datetime | None = None
    advance_seconds: float | None = None
    frozen: bool | None = None


class FaultsReset(AdminModel):
    #: Re-seed the RNG that drives probabilistic faults.
    seed: int | None = None


class RateLimitRequest(AdminModel):
    mode: RateLimitMode


class SubscriptionRequest(AdminModel):
    account_id: str
    url: str
    secret_token: str


class EmitRequest(AdminModel):
    account_id: str
    event: str
    object: dict[str, Any]
    payload_extra: dict[str, Any] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)


class RetryScheduleRequest(AdminModel):
    seconds: list[float] = Field(min_length=0, max_length=10)


def _webinar(emulator: Emulator, webinar_id: int) -> Webinar:
    webinar = emulator.state.webinars.get(webinar_id)
    if webinar is None:
        raise HTTPException(404, f"no webinar {webinar_id}")
    return webinar


def _clock_json(emulator: Emulator) -> dict[str, Any]:
    return {"now": emulator.clock.now().isoformat(), "frozen": emulator.clock.frozen}


@router.post("/reset")
async def reset(request: Request, body: ResetRequest | None = None) -> Response:
    emulator_of(request).reset(reseed=body.reseed if body else False)
    return Response(status_code=204)


@router.post("/seed")
async def seed(request: Request, body: SeedDocument) -> Response:
    emulator = emulator_of(request)
    try:
        emulator.state.apply_seed(body)
    except KeyError as exc:
        raise HTTPException(422, str(exc)) from exc
    return json_response({"accounts": len(emulator.state.accounts), "webinars": len(emulator.state.webinars)})


@router.get("/accounts")
async def accounts(request: Request) -> Response:
    """Accounts with their client credentials, so a caller can build connections."""
    state = emulator_of(request).state
    return json_response(
        [
            {
                "id": a.id,
                "name": a.name,
                "plan": a.plan.value,
                "client_id": a.client_id,
                "client_secret": a.client_secret,
                "users": [u.to_json() for u in a.users.values()],
            }
            for a in state.accounts.values()
        ]
    )


@router.post("/accounts/{account_id}/webinars", status_code=201)
async def add_webinar(request: Request, account_id: str, body: WebinarSeed) -> Response:
    emulator = emulator_of(request)
    if account_id not in emulator.state.accounts:
        raise HTTPException(404, f"no account {account_id}")
    try:
        webinar = emulator.state.add_webinar(account_id, body)
    except KeyError as exc:
        raise HTTPException(422, str(exc)) from exc
    return json_response(webinar.to_json(), 201)


@router.post("/webinars/{webinar_id}/registrants", status_code=201)
async def add_registrants(request: Request, webinar_id: int, body: RegistrantsRequest) -> Response:
    emulator = emulator_of(request)
    webinar = _webinar(emulator, webinar_id)
    emulator.state.add_registrants(webinar, body.registrants, body.generate)
    return json_response({"registrants": len(webinar.registrants)}, 201)


@router.get("/webinars/{webinar_id}/registrants")
async def registrants(request: Request, webinar_id: int) -> Response:
    """Every registrant whatever the status, with the ``cancelled`` flag Zoom does not serve."""
    webinar = _webinar(emulator_of(request), webinar_id)
    return json_response(
        [
            {"id": r.id, "email": r.email, "status": r.status, "cancelled": r.cancelled, "join_url": r.join_url}
            for r in webinar.registrants.values()
        ]
    )


@router.post("/webinars/{webinar_id}/instances", status_code=201)
async def add_instance(request: Request, webinar_id: int, body: InstanceSeed) -> Response:
    emulator = emulator_of(request)
    instance = emulator.state.add_instance(_webinar(emulator, webinar_id), body)
    return json_response({"uuid": instance.uuid, "sessions": len(instance.sessions)}, 201)


@router.post("/sessions", status_code=201)
async def add_sessions(request: Request, body: SessionsRequest) -> Response:
    emulator = emulator_of(request)
    instance = emulator.state.instances.get(body.instance_uuid)
    if instance is None:
        raise HTTPException(404, f"no instance {body.instance_uuid}")
    emulator.state.add_sessions(emulator.state.webinars[instance.webinar_id], instance, body.sessions, body.generate)
    return json_response({"uuid": instance.uuid, "sessions": len(instance.sessions)}, 201)


@router.get("/stats")
async def stats(request: Request) -> Response:
    emulator = emulator_of(request)
    state = emulator.state
    return json_response(
        {
            "tokens_issued": dict(state.tokens_issued),
            "add_calls": {str(k): v for k, v in state.add_calls.items()},
            "requests": dict(state.requests),
            "faults_fired": [[operation, kind.value] for operation, kind in emulator.faults.fired],
            "clock": _clock_json(emulator),
        }
    )


@router.get("/clock")
async def get_clock(request: Request) -> Response:
    return json_response(_clock_json(emulator_of(request)))


@router.put("/clock")
async def set_clock(request: Request, body: ClockRequest) -> Response:
    emulator = emulator_of(request)
    if body.now is not None:
        emulator.clock.set(body.now, frozen=body.frozen)
    elif body.frozen is not None:
        emulator.clock.set(emulator.clock.now(), frozen=body.frozen)
    if body.advance_seconds is not None:
        emulator.clock.advance(body.advance_seconds)
    return json_response(_clock_json(emulator))


@router.get("/faults")
async def list_faults(request: Request) -> Response:
    rules = emulator_of(request).faults.rules()
    return json_response({str(rule_id): rule.model_dump(mode="json") for rule_id, rule in rules.items()})


@router.post("/faults", status_code=201)
async def add_fault(request: Request, body: FaultRule) -> Response:
    return json_response({"id": emulator_of(request).faults.add(body)}, 201)


@router.post("/faults/clear")
async def clear_faults(request: Request, body: FaultsReset | None = None) -> Response:
    emulator_of(request).faults.clear(seed=body.seed if body else None)
    return Response(status_code=204)


@router.put("/rate_limits")
async def set_rate_limits(request: Request, body: RateLimitRequest) -> Response:
    emulator_of(request).limits.mode = body.mode
    return json_response({"mode": body.mode.value})


@router.post("/webhooks/subscriptions", status_code=201)
async def subscribe(request: Request, body: SubscriptionRequest) -> Response:
    """Runs Zoom's URL-validation handshake against ``url`` before events are sent there."""
    emulator = emulator_of(request)
    if body.account_id not in emulator.state.accounts:
        raise HTTPException(404, f"no account {body.account_id}")
    subscription = await emulator.webhooks.subscribe(body.account_id, body.url, body.secret_token)
    return json_response(subscription.to_json(), 201)


@router.post("/webhooks/events", status_code=202)
async def emit(request: Request, body: EmitRequest) -> Response:
    queued = emulator_of(request).webhooks.emit(
        body.account_id, body.event, body.object, payload_extra=body.payload_extra, extra=body.extra
    )
    return json_response({"queued": queued}, 202)


@router.get("/webhooks/deliveries")
async def deliveries(request: Request) -> Response:
    return json_response(
        [
            {
                "subscription_id": a.subscription_id,
                "event": a.event,
                "event_ts": a.event_ts,
                "attempt": a.attempt,
                "status_code": a.status_code,
                "error": a.error,
                "at": zoom_time(datetime.fromtimestamp(a.at)),
            }
            for a in emulator_of(request).webhooks.attempts
        ]
    )


@router.put("/webhooks/retry_schedule")
async def set_retry_schedule(request: Request, body: RetryScheduleRequest) -> Response:
    emulator_of(request).webhooks.retry_schedule_seconds = tuple(body.seconds)
    return json_response({"seconds": body.seconds})
