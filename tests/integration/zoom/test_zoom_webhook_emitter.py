"""The emulator's webhook sender against a real receiver that uses engine.zoom.webhooks.

The receiver checks the signature timestamp against the emulator's clock, as a real receiver's
clock agrees with Zoom's: the header and ``event_ts`` both follow the emulator clock (#15.3).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from integration.zoom.zoom_world import MAIN, W_OPEN
from starlette.responses import JSONResponse, Response
from support.waiting import eventually

from engine.zoom import NewRegistrant, ZoomClient
from engine.zoom.webhooks import WebhookVerificationError, url_validation_response, verify_request
from zoom_emulator import EmulatorAdmin, EmulatorServer

SECRET = "receiver-secret-token"


@dataclass
class Receiver:
    """A webhook endpoint like the one Rollcall's API will serve; fails the first N events."""

    #: The receiver's clock (Unix seconds): the emulator's, frozen at the seed's NOW here.
    clock: Callable[[], float] = time.time
    fail_next: int = 0
    received: list[tuple[str, str]] = field(default_factory=list)  # accepted (event, dedup key)
    attempts: list[str] = field(default_factory=list)  # dedup key of every verified delivery
    rejected: list[str] = field(default_factory=list)
    port: int = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            try:
                verified = verify_request(SECRET, dict(request.headers), await request.body(), now=self.clock())
            except WebhookVerificationError as exc:
                self.rejected.append(exc.code)
                return JSONResponse({"code": exc.code}, status_code=401)
            if verified.is_url_validation:
                plain = verified.event.payload.plain_token or ""
                return JSONResponse(url_validation_response(SECRET, plain))
            self.attempts.append(verified.dedup_key)
            if self.fail_next > 0:
                self.fail_next -= 1
                return Response(status_code=500)
            self.received.append((verified.event.event, verified.dedup_key))
            return Response(status_code=200)

        return app


@pytest.fixture(scope="module")
def receiver(emulator_server: EmulatorServer) -> Iterator[Receiver]:
    state = Receiver(clock=emulator_server.emulator.clock.timestamp)
    server = uvicorn.Server(uvicorn.Config(state.app(), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    state.port = server.servers[0].sockets[0].getsockname()[1]
    yield state
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def hook_url(receiver: Receiver) -> str:
    receiver.received.clear()
    receiver.attempts.clear()
    receiver.rejected.clear()
    receiver.fail_next = 0
    return f"http://127.0.0.1:{receiver.port}/hook"


async def test_subscription_passes_the_url_validation_handshake(admin: EmulatorAdmin, hook_url: str) -> None:
    subscription = await admin.subscribe_webhooks(MAIN, hook_url, SECRET)
    assert (subscription["validated"], subscription["validation_error"]) == (True, "")


async def test_wrong_secret_fails_the_handshake(admin: EmulatorAdmin, hook_url: str, receiver: Receiver) -> None:
    subscription = await admin.subscribe_webhooks(MAIN, hook_url, "another-secret")
    assert subscription["validated"] is False
    assert receiver.rejected == ["BAD_SIGNATURE"]


async def test_api_registration_emits_a_signed_registration_created(
    zoom: ZoomClient, admin: EmulatorAdmin, hook_url: str, receiver: Receiver
) -> None:
    await admin.subscribe_webhooks(MAIN, hook_url, SECRET)
    await zoom.add_registrant(W_OPEN, NewRegistrant(email="hooked@customers.example", first_name="H"))
    await eventually(lambda: receiver.received, "a delivery", within=3, every=0.02)
    assert [event for event, _ in receiver.received] == ["webinar.registration_created"]


async def test_failed_delivery_is_redelivered_with_the_same_dedup_key(
    admin: EmulatorAdmin, hook_url: str, receiver: Receiver
) -> None:
    """Zoom retries failed deliveries (5, 20, 60 min; compressed here); the receiver de-duplicates."""
    await admin.subscribe_webhooks(MAIN, hook_url, SECRET)
    await admin.set_webhook_retry_schedule([0.05, 0.05, 0.05])
    receiver.fail_next = 2
    await admin.emit_webhook(MAIN, "webinar.started", {"id": str(W_OPEN), "uuid": "abc==", "topic": "T"})
    await eventually(lambda: receiver.received, "a delivery", within=3, every=0.02)

    async def three_recorded() -> list[dict[str, Any]] | None:
        # The emulator records an attempt once the receiver's answer is back: a moment after it arrived.
        deliveries: list[dict[str, Any]] = await admin.webhook_deliveries()
        return deliveries if len(deliveries) >= 3 else None

    deliveries = await eventually(three_recorded, "the third attempt recorded", within=3, every=0.02)
    assert [(d["attempt"], d["status_code"]) for d in deliveries] == [(1, 500), (2, 500), (3, 200)]
    assert [event for event, _ in receiver.received] == ["webinar.started"]
    assert len(receiver.attempts) == 3
    assert len(set(receiver.attempts)) == 1


async def test_distinct_events_have_distinct_dedup_keys(
    admin: EmulatorAdmin, hook_url: str, receiver: Receiver
) -> None:
    await admin.subscribe_webhooks(MAIN, hook_url, SECRET)
    await admin.set_webhook_retry_schedule([0.05])
    receiver.fail_next = 1
    obj = {"id": W_OPEN, "registrant": {"id": "r1", "email": "a@customers.example"}}
    await admin.emit_webhook(MAIN, "webinar.registration_approved", obj)
    await admin.emit_webhook(MAIN, "webinar.registration_denied", obj)
    await eventually(lambda: len(receiver.received) == 2, "two deliveries", within=3, every=0.02)
    assert sorted(event for event, _ in receiver.received) == [
        "webinar.registration_approved",
        "webinar.registration_denied",
    ]
    assert len({key for _, key in receiver.received}) == 2
