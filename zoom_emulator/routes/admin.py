"""The emulator's admin API (``/_admin``): seed, steer and inspect the emulated Zoom — accounts,
webinars, registrants, instances, faults, rate limits (``admin_live.py``: clock, schedule,
scenarios and webhooks).

Not part of Zoom; tests, the benchmark and the demo use it (see ``EmulatorAdmin`` for a client).
Seed bodies may use times relative to the emulator clock (``"+5m"``, ``"-2h"``).
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from zoom_emulator.core.emulator import Emulator
from zoom_emulator.core.faults import FaultRule
from zoom_emulator.core.limits import RateLimitMode
from zoom_emulator.core.seeds import (
    GenerateRegistrants,
    GenerateSessions,
    InstanceSeed,
    RegistrantSeed,
    SessionSeed,
    WebinarSeed,
    parse_seed,
)
from zoom_emulator.core.state import Webinar
from zoom_emulator.routes.common import emulator_of, json_response

router = APIRouter(prefix="/_admin")
Model = TypeVar("Model", bound=BaseModel)


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


class FaultsReset(AdminModel):
    #: Re-seed the RNG that drives probabilistic faults.
    seed: int | None = None


class RateLimitRequest(AdminModel):
    mode: RateLimitMode


def webinar_of(emulator: Emulator, webinar_id: int) -> Webinar:
    webinar = emulator.state.webinars.get(webinar_id)
    if webinar is None:
        raise HTTPException(404, f"no webinar {webinar_id}")
    return webinar


def admin_body(model: type[Model], raw: Any, emulator: Emulator) -> Model:
    """``raw`` as ``model``, seed times relative to the emulator clock (``"+5m"``…); a bad body is
    the same 400 as FastAPI's own validation."""
    try:
        return model.model_validate(raw, context={"now": emulator.clock.now()})
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


@router.post("/reset")
async def reset(request: Request, body: ResetRequest | None = None) -> Response:
    emulator_of(request).reset(reseed=body.reseed if body else False)
    return Response(status_code=204)


@router.post("/seed")
async def seed(request: Request, raw: Annotated[Any, Body()]) -> Response:
    emulator = emulator_of(request)
    try:
        document = parse_seed(raw, emulator.clock.now())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    try:
        emulator.apply_seed(document)
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
async def add_webinar(request: Request, account_id: str, raw: Annotated[Any, Body()]) -> Response:
    emulator = emulator_of(request)
    body = admin_body(WebinarSeed, raw, emulator)
    if account_id not in emulator.state.accounts:
        raise HTTPException(404, f"no account {account_id}")
    try:
        webinar = emulator.add_webinar(account_id, body)
    except KeyError as exc:
        raise HTTPException(422, str(exc)) from exc
    return json_response(webinar.to_json(), 201)


@router.post("/webinars/{webinar_id}/registrants", status_code=201)
async def add_registrants(request: Request, webinar_id: int, raw: Annotated[Any, Body()]) -> Response:
    emulator = emulator_of(request)
    body = admin_body(RegistrantsRequest, raw, emulator)
    webinar = webinar_of(emulator, webinar_id)
    emulator.state.add_registrants(webinar, body.registrants, body.generate)
    return json_response({"registrants": len(webinar.registrants)}, 201)


@router.get("/webinars/{webinar_id}/registrants")
async def registrants(request: Request, webinar_id: int) -> Response:
    """Every registrant whatever the status, with the ``cancelled`` flag Zoom does not serve."""
    webinar = webinar_of(emulator_of(request), webinar_id)
    return json_response(
        [
            {"id": r.id, "email": r.email, "status": r.status, "cancelled": r.cancelled, "join_url": r.join_url}
            for r in webinar.registrants.values()
        ]
    )


@router.post("/webinars/{webinar_id}/instances", status_code=201)
async def add_instance(request: Request, webinar_id: int, raw: Annotated[Any, Body()]) -> Response:
    emulator = emulator_of(request)
    instance = emulator.add_instance(webinar_of(emulator, webinar_id), admin_body(InstanceSeed, raw, emulator))
    return json_response({"uuid": instance.uuid, "sessions": len(instance.sessions)}, 201)


@router.post("/sessions", status_code=201)
async def add_sessions(request: Request, raw: Annotated[Any, Body()]) -> Response:
    emulator = emulator_of(request)
    body = admin_body(SessionsRequest, raw, emulator)
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
            # Per account and rate label: {"QPS": 429s, "Daily-limit": 429s, "peak_per_second": calls}.
            "rate_limits": emulator.limits.report(),
            "clock": emulator.clock.to_json(),
        }
    )


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
