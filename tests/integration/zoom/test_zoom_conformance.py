"""Conformance: the emulator's answers and the client's requests against Zoom's own OpenAPI subset.

The subset is kept in the repository, ``tests/data/zoom/zoom-openapi-subset.json`` (its source and
version are in the README beside it). One deliberate adjustment: the ``email`` format also accepts ``""``, because the
subset's own field descriptions say Zoom returns an empty string for hidden emails (guests,
R-SCOPE-3). Fields newer than the 2023 subset pass as additional properties (the subset allows them);
types are never loosened.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from integration.zoom.zoom_world import (
    HOST_EMAIL,
    MAIN,
    OPENAPI_SUBSET,
    UUID_DOUBLE_SLASH,
    UUID_LEADING_SLASH,
    UUID_PLUS,
    W_MANUAL,
    W_NO_REGISTRATION,
    W_OPEN,
    W_PAST,
    W_QUESTIONS,
    raw_token,
)
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from support.zoom import emulator_connection

from engine.zoom import (
    NewRegistrant,
    RegistrantAction,
    RegistrantRef,
    RegistrantStatus,
    ZoomClient,
    ZoomError,
    collect,
)
from zoom_emulator import EmulatorAdmin, EmulatorServer

SPEC_HOST = "https://api.zoom.us"


@dataclass(frozen=True)
class Exchange:
    request: httpx.Request
    response: httpx.Response
    by_client: bool


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    config = Config(extra_format_validators={"email": lambda value: value == "" or "@" in str(value)})
    return OpenAPI.from_file_path(str(OPENAPI_SUBSET), config=config)


class Recorder:
    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self.by_client = True

    async def hook(self, response: httpx.Response) -> None:
        await response.aread()
        self.exchanges.append(Exchange(response.request, response, self.by_client))


@pytest.fixture
async def recorded(
    emulator_server: EmulatorServer, admin: EmulatorAdmin
) -> AsyncIterator[tuple[ZoomClient, httpx.AsyncClient, Recorder]]:
    recorder = Recorder()
    async with httpx.AsyncClient(event_hooks={"response": [recorder.hook]}) as http:
        client = ZoomClient(emulator_connection(emulator_server, MAIN), http=http, rate_limit=False)
        yield client, http, recorder


def _spec_request(request: httpx.Request) -> MockRequest:
    raw_path = request.url.raw_path.decode().split("?", 1)[0]
    return MockRequest(
        SPEC_HOST,
        request.method,
        raw_path,
        args=dict(request.url.params),
        headers=dict(request.headers),
        data=request.content or None,
        content_type=request.headers.get("content-type", "application/json").split(";")[0],
    )


def _spec_response(response: httpx.Response) -> MockResponse:
    return MockResponse(
        response.content,
        status_code=response.status_code,
        headers=dict(response.headers),
        content_type=response.headers.get("content-type", "application/json"),
    )


async def _expect_error(call: Awaitable[Any]) -> None:
    with pytest.raises(ZoomError):
        await call


# long: every operation of the OpenAPI subset exercised once, checked against its schema
async def test_emulator_answers_and_client_requests_match_the_openapi_subset(
    openapi: OpenAPI,
    recorded: tuple[ZoomClient, httpx.AsyncClient, Recorder],
    emulator_server: EmulatorServer,
    admin: EmulatorAdmin,
) -> None:
    client, http, recorder = recorded
    # --- successes, through the client -------------------------------------------------------
    await client.get_user("u-host")
    await client.list_users()
    await client.list_user_webinars("u-host")
    await client.get_webinar(W_OPEN)
    await client.get_webinar(W_PAST)  # recurring: occurrences
    await client.get_registration_questions(W_QUESTIONS)
    created = await client.add_registrant(
        W_OPEN, NewRegistrant(email="c@customers.example", first_name="C", last_name="D")
    )
    await client.add_registrant(W_MANUAL, NewRegistrant(email="c@customers.example", first_name="C"))
    for status in RegistrantStatus:
        await client.list_registrants(W_OPEN, status)
    await client.update_registrant_status(W_OPEN, RegistrantAction.CANCEL, [RegistrantRef(id=created.registrant_id)])
    await client.update_registrant_status(
        W_OPEN, RegistrantAction.APPROVE, [RegistrantRef(email="pending1@customers.example")]
    )
    await client.list_past_instances(W_PAST)
    for ref in (W_PAST, UUID_LEADING_SLASH, UUID_DOUBLE_SLASH, UUID_PLUS):
        await client.list_participant_report(ref)
        await collect(client.past_participant_pages(ref))
    await collect(client.absentee_pages(UUID_LEADING_SLASH))
    await admin.advance_clock(3 * 3600)  # the transcript is ready too
    await client.get_recordings(UUID_PLUS)
    await client.get_recordings(W_PAST)

    # --- documented errors, through the client -----------------------------------------------
    missing = 12345678901
    for failing in (
        client.get_user("nobody@rollcall.example"),
        client.list_user_webinars("nobody@rollcall.example"),
        client.get_webinar(missing),
        client.get_registration_questions(missing),
        client.add_registrant(missing, NewRegistrant(email="x@customers.example", first_name="X")),
        client.add_registrant(W_OPEN, NewRegistrant(email=HOST_EMAIL, first_name="H")),
        client.add_registrant(W_NO_REGISTRATION, NewRegistrant(email="x@customers.example", first_name="X")),
        client.add_registrant(W_PAST, NewRegistrant(email="x@customers.example", first_name="X")),
        client.add_registrant(W_QUESTIONS, NewRegistrant(email="x@customers.example", first_name="X")),
        client.list_registrants(missing),
        client.list_registrants(W_NO_REGISTRATION),
        client.update_registrant_status(missing, RegistrantAction.DENY, [RegistrantRef(email="a@b.example")]),
        client.list_past_instances(missing),
        client.list_participant_report(missing),
        collect(client.past_participant_pages(missing)),
        collect(client.absentee_pages("NoSuchInstanceUuidAAAA==")),
        client.get_recordings(UUID_DOUBLE_SLASH),  # deleted
    ):
        await _expect_error(failing)
    again = NewRegistrant(email="c@customers.example", first_name="C")
    for _ in range(2):  # with the first add above, three adds of one email today
        await client.add_registrant(W_OPEN, again)
    await _expect_error(client.add_registrant(W_OPEN, again))  # the 4th is 429
    approve = (W_OPEN, RegistrantAction.APPROVE, [RegistrantRef(email="approved0@customers.example")])
    for _ in range(10):
        await client.update_registrant_status(*approve)
    await _expect_error(client.update_registrant_status(*approve))  # the 11th change today is 429
    # Unknown or expired page tokens: 400 code 300.
    for pages in (client.participant_report_pages, client.past_participant_pages, client.absentee_pages):
        await _expect_error(anext(pages(UUID_PLUS, start_token="expired-or-unknown")))
    await _expect_error(anext(client.registrant_pages(W_OPEN, start_token="expired-or-unknown")))

    # --- requests the subset cannot describe: only the answers are validated ----------------
    recorder.by_client = False
    # The subset's userId is a oneOf of overlapping string schemas, which "me" and an email
    # each match twice (so never exactly once).
    await client.get_user("me")
    await client.get_user(HOST_EMAIL)
    # An invalid body (the client cannot produce it).
    token = await raw_token(emulator_server, http)
    await http.put(
        f"{emulator_server.api_base_url}/webinars/{W_OPEN}/registrants/status",
        json={"action": "explode", "registrants": []},
        headers={"Authorization": f"Bearer {token}"},
    )

    # --- validate everything that went to /v2 ------------------------------------------------
    validated: set[tuple[str, int]] = set()
    failures: list[str] = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Unsupported scheme type")
        for exchange in recorder.exchanges:
            if not exchange.request.url.path.startswith("/v2/"):
                continue
            if exchange.response.status_code == 401:
                # Expired tokens (code 124) are in docs/zoom.md, not in the subset.
                _check_envelope(exchange, failures)
                continue
            spec_request = _spec_request(exchange.request)
            try:
                if exchange.by_client:
                    openapi.validate_request(spec_request)
                openapi.validate_response(spec_request, _spec_response(exchange.response))
            except Exception as exc:  # collect every mismatch, then fail once with all of them
                failures.append(
                    f"{exchange.request.method} {exchange.request.url} → "
                    f"{exchange.response.status_code}: {type(exc).__name__}: {exc}"
                )
                continue
            if exchange.response.status_code >= 300:
                _check_envelope(exchange, failures)
            validated.add((_operation(exchange.request), exchange.response.status_code))
    assert failures == []
    assert validated == EXPECTED


def _check_envelope(exchange: Exchange, failures: list[str]) -> None:
    """The subset documents error statuses without a body schema: check Zoom's envelope here."""
    body = exchange.response.json()
    keys = {"code", "message", "errors"} if body.get("code") == 300 and "errors" in body else {"code", "message"}
    if set(body) != keys or not isinstance(body["code"], int) or not isinstance(body["message"], str):
        failures.append(f"{exchange.request.url} → {exchange.response.status_code}: not a Zoom envelope: {body}")
    if not exchange.response.headers.get("x-zm-trackingid"):
        failures.append(f"{exchange.request.url}: no x-zm-trackingid")


def _operation(request: httpx.Request) -> str:
    parts = request.url.raw_path.decode().split("?", 1)[0].split("/")[2:]
    if parts[0] in ("past_webinars", "meetings") or parts[:2] == ["report", "webinars"]:
        ref_index = 2 if parts[0] == "report" else 1
        parts[ref_index] = "{id}"
    elif parts[0] == "webinars" or (parts[0] == "users" and len(parts) > 1):
        parts[1] = "{id}"
    return f"{request.method} /{'/'.join(parts)}"


#: Every implemented endpoint with each status the subset documents and the scenario provokes.
EXPECTED: set[tuple[str, int]] = {
    ("GET /users/{id}", 200),
    ("GET /users/{id}", 404),
    ("GET /users", 200),
    ("GET /users/{id}/webinars", 200),
    ("GET /users/{id}/webinars", 404),
    ("GET /webinars/{id}", 200),
    ("GET /webinars/{id}", 404),
    ("GET /webinars/{id}/registrants/questions", 200),
    ("GET /webinars/{id}/registrants/questions", 404),
    ("POST /webinars/{id}/registrants", 201),
    ("POST /webinars/{id}/registrants", 400),
    ("POST /webinars/{id}/registrants", 404),
    ("POST /webinars/{id}/registrants", 429),
    ("GET /webinars/{id}/registrants", 200),
    ("GET /webinars/{id}/registrants", 400),
    ("GET /webinars/{id}/registrants", 404),
    ("PUT /webinars/{id}/registrants/status", 204),
    ("PUT /webinars/{id}/registrants/status", 400),
    ("PUT /webinars/{id}/registrants/status", 404),
    ("PUT /webinars/{id}/registrants/status", 429),
    ("GET /past_webinars/{id}/instances", 200),
    ("GET /past_webinars/{id}/instances", 404),
    ("GET /past_webinars/{id}/participants", 200),
    ("GET /past_webinars/{id}/participants", 400),
    ("GET /past_webinars/{id}/participants", 404),
    ("GET /past_webinars/{id}/absentees", 200),
    ("GET /past_webinars/{id}/absentees", 400),
    ("GET /past_webinars/{id}/absentees", 404),
    ("GET /report/webinars/{id}/participants", 200),
    ("GET /report/webinars/{id}/participants", 400),
    ("GET /report/webinars/{id}/participants", 404),
    ("GET /meetings/{id}/recordings", 200),
    ("GET /meetings/{id}/recordings", 404),
}
