"""The admin API of a living Zoom (``/_admin``): the clock and what it will fire, each webinar's
attendance scenario and instances, and the webhook emitter (subscriptions, events, deliveries).

- ``GET|PUT /_admin/clock`` — ``{"now", "advance_seconds", "frozen", "speed"}``; after a change,
  every job now due runs in order before the answer (``fired`` says how many).
- ``GET /_admin/schedule`` — the next jobs (``start``, ``join``, ``leave``, ``end``,
  ``recording``, ``transcript``).
- ``GET|PUT /_admin/webinars/{id}/scenario`` — a ``Scenario`` for occurrences not started yet.
- ``GET /_admin/webinars/{id}/instances`` — each instance with its sessions and recording files.
- ``/_admin/webhooks/…`` — subscriptions (URL-validation handshake), hand-made events, emitted
  events, delivery attempts, retry schedule and the signing clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request
from pydantic import Field
from starlette.responses import Response

from zoom_emulator.core.emulator import Emulator
from zoom_emulator.core.events import file_json
from zoom_emulator.core.live import next_jobs
from zoom_emulator.core.scenarios import Scenario
from zoom_emulator.core.seeds import SeedTime
from zoom_emulator.core.state import Instance, zoom_time
from zoom_emulator.core.webhooks import TimestampClock
from zoom_emulator.routes.admin import AdminModel, admin_body, webinar_of
from zoom_emulator.routes.common import emulator_of, json_response

router = APIRouter(prefix="/_admin")


class ClockRequest(AdminModel):
    #: ISO-8601 or relative to the emulator clock (``"+2h"``).
    now: SeedTime | None = None
    advance_seconds: float | None = None
    frozen: bool | None = None
    #: Emulator seconds per real second (``60``: a minute per second).
    speed: float | None = Field(default=None, gt=0.0)


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


class SigningRequest(AdminModel):
    timestamp_clock: TimestampClock


def _clock_json(emulator: Emulator) -> dict[str, Any]:
    next_at = emulator.state.scheduler.next_at()
    return {
        **emulator.clock.to_json(),
        "next_event_at": datetime.fromtimestamp(next_at, UTC).isoformat() if next_at is not None else None,
    }


@router.get("/clock")
async def get_clock(request: Request) -> Response:
    return json_response(_clock_json(emulator_of(request)))


@router.put("/clock")
async def set_clock(request: Request, raw: Annotated[Any, Body()]) -> Response:
    emulator = emulator_of(request)
    body = admin_body(ClockRequest, raw, emulator)
    clock = emulator.clock
    if body.now is not None:
        clock.set(body.now, frozen=body.frozen, speed=body.speed)
    elif body.frozen is not None or body.speed is not None:
        clock.set(clock.now(), frozen=body.frozen, speed=body.speed)
    if body.advance_seconds is not None:
        clock.advance(body.advance_seconds)
    fired = emulator.tick()
    return json_response({**_clock_json(emulator), "fired": fired})


@router.get("/schedule")
async def schedule(request: Request, limit: int = 50) -> Response:
    return json_response(next_jobs(emulator_of(request).state, limit))


@router.get("/webinars/{webinar_id}/scenario")
async def get_scenario(request: Request, webinar_id: int) -> Response:
    webinar = webinar_of(emulator_of(request), webinar_id)
    scenario = webinar.scenario or Scenario()
    return json_response({"explicit": webinar.scenario is not None, "scenario": scenario.model_dump(mode="json")})


@router.put("/webinars/{webinar_id}/scenario")
async def set_scenario(request: Request, webinar_id: int, raw: Annotated[Any, Body()]) -> Response:
    emulator = emulator_of(request)
    webinar = webinar_of(emulator, webinar_id)
    scheduled = emulator.set_scenario(webinar, admin_body(Scenario, raw, emulator))
    return json_response({"scenario": webinar.scenario.model_dump(mode="json") if webinar.scenario else None,
                          "scheduled": scheduled})  # fmt: skip


def _instance_json(emulator: Emulator, instance: Instance) -> dict[str, Any]:
    now = emulator.clock.now()
    recording = instance.recording
    return {
        "uuid": instance.uuid,
        "start_time": zoom_time(instance.start_time),
        "end_time": zoom_time(instance.end_time),
        "status": "ended" if instance.has_ended(now) else "live",
        "sessions": [
            {
                "name": s.name,
                "email": s.email,
                "role": s.role,
                "registrant_id": s.registrant_id,
                "user_id": s.user_id,
                "join_time": zoom_time(s.join_time),
                "leave_time": zoom_time(s.leave_time),
            }
            for s in instance.sessions
        ],
        "recording": None
        if recording is None
        else {
            "deleted": recording.deleted,
            "files": [
                {
                    **file_json(instance, f, emulator.base_url),
                    "available_at": zoom_time(f.available_at),
                    "ready": f.available_at <= now,
                }
                for f in recording.files
            ],
        },
    }


@router.get("/webinars/{webinar_id}/instances")
async def instances(request: Request, webinar_id: int) -> Response:
    """Every instance (running or ended) with its join sessions and recording files, and the
    occurrence starts still scheduled."""
    emulator = emulator_of(request)
    webinar = webinar_of(emulator, webinar_id)
    scheduled = [
        job["at"] for job in next_jobs(emulator.state, limit=10_000)
        if job["kind"] == "start" and job.get("webinar_id") == webinar.id
    ]  # fmt: skip
    return json_response({
        "instances": [_instance_json(emulator, i) for i in sorted(webinar.instances, key=lambda i: i.start_time)],
        "scheduled_starts": scheduled,
    })  # fmt: skip


# --- webhooks ------------------------------------------------------------------------------------


@router.post("/webhooks/subscriptions", status_code=201)
async def subscribe(request: Request, body: SubscriptionRequest) -> Response:
    """Runs Zoom's URL-validation handshake against ``url`` before events are sent there; the same
    account and URL again replaces the secret token (and retries what waits for that endpoint)."""
    emulator = emulator_of(request)
    if body.account_id not in emulator.state.accounts:
        raise HTTPException(404, f"no account {body.account_id}")
    subscription = await emulator.webhooks.subscribe(body.account_id, body.url, body.secret_token)
    return json_response(subscription.to_json(), 201)


@router.get("/webhooks/subscriptions")
async def subscriptions(request: Request) -> Response:
    return json_response([s.to_json() for s in emulator_of(request).webhooks.subscriptions.values()])


@router.delete("/webhooks/subscriptions/{subscription_id}")
async def unsubscribe(request: Request, subscription_id: int) -> Response:
    if not emulator_of(request).webhooks.unsubscribe(subscription_id):
        raise HTTPException(404, f"no subscription {subscription_id}")
    return Response(status_code=204)


@router.post("/webhooks/events", status_code=202)
async def emit(request: Request, body: EmitRequest) -> Response:
    """Send a hand-made event as is (the emulator's own events come from the webinars it runs)."""
    queued = emulator_of(request).webhooks.emit(
        body.account_id, body.event, body.object, payload_extra=body.payload_extra, extra=body.extra
    )
    return json_response({"queued": queued}, 202)


@router.get("/webhooks/events")
async def emitted(request: Request, event: str | None = None) -> Response:
    """The documents emitted lately (to subscribers or not), oldest first; ``?event=`` filters."""
    documents = emulator_of(request).webhooks.emitted
    return json_response([d for d in documents if event is None or d["event"] == event])


@router.get("/webhooks/deliveries")
async def deliveries(request: Request, event: str | None = None) -> Response:
    """Every delivery attempt lately (to Rollcall or another subscriber), oldest first; ``?event=`` filters."""
    return json_response(
        [
            {
                "subscription_id": a.subscription_id,
                "event": a.event,
                "event_ts": a.event_ts,
                "attempt": a.attempt,
                "status_code": a.status_code,
                "error": a.error,
                "at": zoom_time(datetime.fromtimestamp(a.at, UTC)),
            }
            for a in emulator_of(request).webhooks.attempts
            if event is None or a.event == event
        ]
    )


@router.put("/webhooks/retry_schedule")
async def set_retry_schedule(request: Request, body: RetryScheduleRequest) -> Response:
    """Delays between attempts, in emulator seconds (real seconds while the clock is frozen)."""
    emulator_of(request).webhooks.retry_schedule_seconds = tuple(body.seconds)
    return json_response({"seconds": body.seconds})


@router.put("/webhooks/signing")
async def set_signing(request: Request, body: SigningRequest) -> Response:
    """Which clock ``x-zm-request-timestamp`` reads: ``emulator`` (like ``event_ts``, the default)
    or ``wall`` — for a test that moved the emulator clock but whose receiver checks the wall clock."""
    emulator_of(request).webhooks.timestamp_clock = body.timestamp_clock
    return json_response({"timestamp_clock": body.timestamp_clock})
