"""``POST /v1/zoom/webhooks/{connection}`` served by uvicorn on loopback, fed by the emulator's emitter
(signed like Zoom, URL-validation handshake, redelivery) and by hand-made requests, on every database."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Request
from integration.zoom.zoom_world import MAIN, W_OPEN
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.responses import Response
from support.http import serve
from support.waiting import eventually

from engine.api.app import create_app
from engine.config import Settings
from engine.crm.tables import ZoomWebhookEvent
from engine.crm.webhook_events import list_webhook_events
from engine.zoom import NewRegistrant, ZoomClient
from engine.zoom.settings import ZoomConnectionConfig, ZoomSettings
from engine.zoom.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from zoom_emulator import EmulatorAdmin, EmulatorServer

SECRET = "route-test-secret-token"
CONNECTION = "main"
NO_SECRET_CONNECTION = "main-without-webhooks"
API_KEY = "webhook-route-test-key"


@dataclass
class RollcallApi:
    url: str
    app: FastAPI
    engine: Engine
    dispatched: list[tuple[str, int]] = field(default_factory=list)

    def hook_url(self, connection: str = CONNECTION) -> str:
        return f"{self.url}/v1/zoom/webhooks/{connection}"

    def rows(self) -> list[ZoomWebhookEvent]:
        with Session(self.engine) as session:
            return list_webhook_events(session)

    def count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.text("SELECT count(*) FROM zoom_webhook_events")).scalar_one())


@pytest.fixture
def rollcall_api(database_url: str, db_engine: Engine, emulator_server: EmulatorServer) -> Iterator[RollcallApi]:
    """Rollcall's real API app with two connections to the emulator's MAIN account: one that has a
    webhook secret token, one that has none. ``dispatched`` sees every ``webhook_dispatch`` call."""
    base = {
        "account_id": MAIN,
        "client_id": "route-test-client",
        "client_secret": "route-test-client-secret",
        "api_base_url": emulator_server.api_base_url,
        "oauth_base_url": emulator_server.base_url,
    }
    zoom_settings = ZoomSettings(
        connections=[
            ZoomConnectionConfig.model_validate({**base, "name": CONNECTION, "webhook_secret_token": SECRET}),
            ZoomConnectionConfig.model_validate({**base, "name": NO_SECRET_CONNECTION, "account_id": "other"}),
        ]
    )
    # No workflow definitions are loaded from the working directory: only the webhook route is under test.
    settings = Settings(api_keys=[API_KEY], database_url=database_url, definitions_dir=None)
    app = create_app(settings, db_engine=db_engine, zoom_settings=zoom_settings)
    with serve(app) as url:
        api = RollcallApi(url=url, app=app, engine=db_engine)

        async def dispatch(connection: str, row: ZoomWebhookEvent) -> None:
            assert row.id is not None
            api.dispatched.append((connection, row.id))

        app.state.webhook_dispatch = dispatch
        yield api


@pytest.fixture
async def admin(admin: EmulatorAdmin) -> EmulatorAdmin:
    """The conftest's admin, with the emulator signing ``x-zm-request-timestamp`` by the wall clock:
    this world's emulator clock is frozen in 2025 while Rollcall's route checks timestamps against
    the wall clock (a real Zoom's clock agrees with it)."""
    await admin.set_webhook_timestamp_clock("wall")
    return admin


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def event_body(event: str = "webinar.started", **object_fields: Any) -> bytes:
    obj = {"id": str(W_OPEN), "uuid": "Ab+Cd/EfGhIjKlMnOpQrSw==", "topic": "Launch", **object_fields}
    document = {"event": event, "event_ts": 1_748_854_800_123, "payload": {"account_id": MAIN, "object": obj}}
    return json.dumps(document, separators=(",", ":")).encode()


def signed_headers(body: bytes, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"content-type": "application/json", TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(secret, ts, body)}


# --- through the emulator's emitter ------------------------------------------------------------


async def test_emulator_handshake_then_a_real_registration_is_recorded(
    rollcall_api: RollcallApi, admin: EmulatorAdmin, zoom: ZoomClient
) -> None:
    """Zoom's URL-validation handshake succeeds against the route (answered exactly, nothing stored);
    a registration made through the Zoom API arrives signed and is stored as sent."""
    subscription = await admin.subscribe_webhooks(MAIN, rollcall_api.hook_url(), SECRET)
    assert (subscription["validated"], subscription["validation_error"]) == (True, "")
    assert rollcall_api.count() == 0

    await zoom.add_registrant(W_OPEN, NewRegistrant(email="hooked@customers.example", first_name="Hoo", last_name="K"))
    await eventually(lambda: rollcall_api.count() == 1, "the registration_created row")

    [row] = rollcall_api.rows()
    assert (row.connection, row.event, row.deliveries, row.processed_at) == (
        CONNECTION, "webinar.registration_created", 1, None
    )  # fmt: skip
    assert row.event_ts is not None and row.event_ts > 1_000_000_000_000  # milliseconds
    assert row.payload["payload"]["account_id"] == MAIN
    assert row.payload["payload"]["object"]["id"] == W_OPEN  # kept a number, as Zoom sent it
    assert row.payload["payload"]["object"]["registrant"]["email"] == "hooked@customers.example"
    # The row is committed before the route hands it to the dispatcher: wait for that call too.
    await eventually(lambda: rollcall_api.dispatched, "the dispatch of the recorded row")
    assert rollcall_api.dispatched == [(CONNECTION, row.id)]
    deliveries = await admin.webhook_deliveries()
    assert [(d["event"], d["attempt"], d["status_code"]) for d in deliveries] == [
        ("webinar.registration_created", 1, 200)
    ]


async def test_emulator_handshake_with_the_wrong_secret_fails_and_stores_nothing(
    rollcall_api: RollcallApi, admin: EmulatorAdmin
) -> None:
    subscription = await admin.subscribe_webhooks(MAIN, rollcall_api.hook_url(), "not-our-secret")
    assert subscription["validated"] is False
    assert subscription["validation_error"] == "endpoint answered HTTP 401"
    assert rollcall_api.count() == 0


@contextmanager
def answer_losing_relay(target: str) -> Iterator[tuple[str, list[int]]]:
    """A network hop between Zoom and Rollcall that passes every request on but loses Rollcall's
    answer to the first delivery of each event (Zoom sees a 502 and redelivers later)."""
    seen: set[bytes] = set()
    statuses: list[int] = []  # Rollcall's real answers, in order
    relay = FastAPI()

    @relay.post("/hook")
    async def hook(request: Request) -> Response:
        body = await request.body()
        headers = {
            k: v for k, v in request.headers.items() if k in ("content-type", TIMESTAMP_HEADER, SIGNATURE_HEADER)
        }
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(target, content=body, headers=headers)
        statuses.append(answer.status_code)
        if json.loads(body)["event"] != "endpoint.url_validation" and body not in seen:
            seen.add(body)
            return Response(status_code=502)
        return Response(answer.content, answer.status_code, media_type="application/json")

    with serve(relay) as url:
        yield f"{url}/hook", statuses


async def test_emulator_redelivery_is_recognised_as_a_duplicate(
    rollcall_api: RollcallApi, admin: EmulatorAdmin
) -> None:
    with answer_losing_relay(rollcall_api.hook_url()) as (relay_url, statuses):
        subscription = await admin.subscribe_webhooks(MAIN, relay_url, SECRET)
        assert subscription["validated"] is True
        await admin.set_webhook_retry_schedule([0.05, 0.05, 0.05])
        await admin.emit_webhook(MAIN, "webinar.started", {"id": str(W_OPEN), "uuid": "abc==", "topic": "T"})
        await eventually(lambda: len(statuses) == 3, "handshake, delivery and redelivery")

    deliveries = await admin.webhook_deliveries()
    assert [(d["attempt"], d["status_code"]) for d in deliveries] == [(1, 502), (2, 200)]
    assert statuses == [200, 200, 200]
    [row] = rollcall_api.rows()
    assert (row.event, row.deliveries) == ("webinar.started", 2)
    assert rollcall_api.dispatched == [(CONNECTION, row.id)]  # the duplicate is not dispatched again


# --- hand-made requests ------------------------------------------------------------------------


async def test_valid_signature_is_recorded_and_a_resend_is_a_duplicate(
    rollcall_api: RollcallApi, http: httpx.AsyncClient
) -> None:
    body = event_body()
    first = await http.post(rollcall_api.hook_url(), content=body, headers=signed_headers(body))
    assert first.status_code == 200, first.text
    row_id = first.json()["id"]
    assert first.json() == {"status": "recorded", "event": "webinar.started", "id": row_id}
    # A redelivery: same body, new timestamp and signature.
    again = await http.post(
        rollcall_api.hook_url(), content=body, headers=signed_headers(body, timestamp=int(time.time()) + 1)
    )
    assert again.json() == {"status": "duplicate", "event": "webinar.started", "id": row_id}
    other = event_body(topic="Launch", end_time="2025-06-10T16:00:00Z", uuid="other==")
    third = await http.post(rollcall_api.hook_url(), content=other, headers=signed_headers(other))
    assert third.json()["status"] == "recorded" and third.json()["id"] != row_id
    rows = rollcall_api.rows()
    assert [(r.id, r.deliveries) for r in rows] == [(row_id, 2), (third.json()["id"], 1)]
    assert rollcall_api.dispatched == [(CONNECTION, row_id), (CONNECTION, third.json()["id"])]


async def test_url_validation_is_answered_exactly_and_stores_nothing(
    rollcall_api: RollcallApi, http: httpx.AsyncClient
) -> None:
    body = json.dumps(
        {"event": "endpoint.url_validation", "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}, "event_ts": 1}
    ).encode()
    response = await http.post(rollcall_api.hook_url(), content=body, headers=signed_headers(body))
    assert response.status_code == 200
    expected = hmac.new(SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert response.json() == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}
    assert rollcall_api.count() == 0
    assert rollcall_api.dispatched == []


def _changed_byte(body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = signed_headers(body)
    tampered = body.replace(b'"Launch"', b'"Lbunch"')
    assert tampered != body
    return tampered, headers


def _without(header: str) -> Callable[[bytes], tuple[bytes, dict[str, str]]]:
    def make(body: bytes) -> tuple[bytes, dict[str, str]]:
        headers = signed_headers(body)
        del headers[header]
        return body, headers

    return make


REJECTIONS: dict[str, tuple[Callable[[bytes], tuple[bytes, dict[str, str]]], str]] = {
    "changed-byte": (_changed_byte, "BAD_SIGNATURE"),
    "wrong-secret": (lambda body: (body, signed_headers(body, secret="someone-else")), "BAD_SIGNATURE"),
    "stale-timestamp": (lambda body: (body, signed_headers(body, timestamp=int(time.time()) - 301)), "STALE_TIMESTAMP"),
    "missing-signature": (_without(SIGNATURE_HEADER), "MISSING_SIGNATURE"),
    "missing-timestamp": (_without(TIMESTAMP_HEADER), "MISSING_TIMESTAMP"),
    "non-numeric-timestamp": (
        lambda body: (body, {**signed_headers(body), TIMESTAMP_HEADER: "yesterday"}),
        "BAD_TIMESTAMP",
    ),
}


@pytest.mark.parametrize("case", list(REJECTIONS))
async def test_forged_or_stale_requests_are_401_with_the_code_and_change_nothing(
    case: str, rollcall_api: RollcallApi, http: httpx.AsyncClient
) -> None:
    make, code = REJECTIONS[case]
    body, headers = make(event_body())
    response = await http.post(rollcall_api.hook_url(), content=body, headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert (error["code"], error["details"]) == (code, {"connection": CONNECTION})
    assert rollcall_api.count() == 0
    assert rollcall_api.dispatched == []


@pytest.mark.parametrize("connection", ["nobody", NO_SECRET_CONNECTION, "<script>" + "x" * 150])
async def test_unknown_connection_or_one_without_a_secret_is_404_without_echoing_the_name(
    connection: str, rollcall_api: RollcallApi, http: httpx.AsyncClient
) -> None:
    """#12.6: the answer to anyone who asks does not repeat the name they sent."""
    body = event_body()
    response = await http.post(rollcall_api.hook_url(connection), content=body, headers=signed_headers(body))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ZOOM_CONNECTION_NOT_FOUND"
    assert connection not in response.text
    assert rollcall_api.count() == 0


async def test_a_400_digit_timestamp_is_401_bad_timestamp_not_a_500(
    rollcall_api: RollcallApi, http: httpx.AsyncClient
) -> None:
    """#12.6: the timestamp is capped before any arithmetic (it raised OverflowError before)."""
    body = event_body()
    timestamp = "9" * 400
    headers = {**signed_headers(body), TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(SECRET, timestamp, body)}
    response = await http.post(rollcall_api.hook_url(), content=body, headers=headers)
    assert (response.status_code, response.json()["error"]["code"]) == (401, "BAD_TIMESTAMP")
    assert rollcall_api.count() == 0


@pytest.mark.parametrize("body", [b"not json at all", b"[1, 2]", b'{"event": "webinar.started"}', b"\xff\xfe"])
async def test_valid_signature_over_a_non_event_is_400_never_500(
    body: bytes, rollcall_api: RollcallApi, http: httpx.AsyncClient
) -> None:
    response = await http.post(rollcall_api.hook_url(), content=body, headers=signed_headers(body))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "MALFORMED_BODY"
    assert rollcall_api.count() == 0


async def test_url_validation_without_a_plain_token_is_400(rollcall_api: RollcallApi, http: httpx.AsyncClient) -> None:
    body = b'{"event":"endpoint.url_validation","payload":{}}'
    response = await http.post(rollcall_api.hook_url(), content=body, headers=signed_headers(body))
    assert (response.status_code, response.json()["error"]["code"]) == (400, "MALFORMED_BODY")


async def test_oversized_body_is_413_before_anything_else(rollcall_api: RollcallApi, http: httpx.AsyncClient) -> None:
    body = event_body(topic="x" * (1 << 20))
    response = await http.post(rollcall_api.hook_url(), content=body, headers=signed_headers(body))
    assert (response.status_code, response.json()["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert rollcall_api.count() == 0


async def test_an_oversized_chunked_body_is_413_while_it_streams(
    rollcall_api: RollcallApi, http: httpx.AsyncClient
) -> None:
    """#12.6: no Content-Length to check first: the 1 MiB limit counts the chunks as they arrive."""
    body = event_body(topic="x" * (1 << 20))

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = await http.post(rollcall_api.hook_url(), content=chunks(), headers=signed_headers(body))
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert (response.status_code, response.json()["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert rollcall_api.count() == 0


async def test_the_webhook_route_needs_no_api_key_but_the_rest_of_v1_still_does(
    rollcall_api: RollcallApi, http: httpx.AsyncClient
) -> None:
    assert (await http.get(f"{rollcall_api.url}/v1/zoom-connections")).status_code == 401
    keyed = await http.get(f"{rollcall_api.url}/v1/zoom-connections", headers={"Authorization": f"Bearer {API_KEY}"})
    assert keyed.status_code == 200
    # A bearer key does not replace the signature either.
    body = event_body()
    response = await http.post(
        rollcall_api.hook_url(),
        content=body,
        headers={"Authorization": f"Bearer {API_KEY}", "content-type": "application/json"},
    )
    assert (response.status_code, response.json()["error"]["code"]) == (401, "MISSING_SIGNATURE")
