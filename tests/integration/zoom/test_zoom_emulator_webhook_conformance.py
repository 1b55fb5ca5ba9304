"""#15 acceptance 1: every webhook the emulator emits by itself matches Zoom's documented shape.

Webinars run on the emulator's accelerated clock (a one-time webinar whose scenario has a rejoin,
two devices, guests and a panelist; a recurring one with two occurrences) while registrations go
through the REST API; a loopback receiver captures every request, and each body is validated
against the JSON Schema of its event in ``tests/data/zoom/webhooks`` (sources in its README) —
field presence and types, not Rollcall's parser.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from fastapi import FastAPI, Request
from integration.zoom.zoom_world import MAIN, NOW, W_MANUAL, W_OPEN, raw_token
from starlette.responses import JSONResponse, Response
from support.http import serve
from support.waiting import eventually

from engine.zoom.webhooks import url_validation_response, verify_request
from zoom_emulator import EmulatorAdmin, EmulatorServer, Panelist, Scenario, ScriptedAttendee
from zoom_emulator.core.seeds import GenerateRegistrants, WebinarSeed

SCHEMAS = Path(__file__).resolve().parents[2] / "data" / "zoom" / "webhooks"
SECRET = "conformance-secret"
W_LIVE = 91000000101
W_RECURRING = 91000000102
SPEED = 1200.0  # twenty emulator minutes per real second


@dataclass
class Captured:
    """Every request the receiver got: the body as sent and the signature timestamp header."""

    clock: Callable[[], float]
    requests: list[tuple[dict[str, Any], int]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            raw = await request.body()
            # A receiver whose clock agrees with Zoom's: the emulator's. At twenty minutes per real
            # second, a delivery's latency alone is worth minutes: the window is widened to a day.
            verified = verify_request(SECRET, dict(request.headers), raw, now=self.clock(), tolerance_seconds=86_400)
            self.requests.append((json.loads(raw), int(request.headers["x-zm-request-timestamp"])))
            if verified.is_url_validation:
                return JSONResponse(url_validation_response(SECRET, verified.event.payload.plain_token or ""))
            return Response(status_code=200)

        return app

    def events(self, name: str) -> list[dict[str, Any]]:
        return [body for body, _ in self.requests if body["event"] == name]

    def ours(self, name: str) -> list[dict[str, Any]]:
        """Events about this test's webinars (the base world's past recording has one too)."""
        return [b for b in self.events(name) if int(b["payload"]["object"]["id"]) in (W_LIVE, W_RECURRING)]


@pytest.fixture
def captured(emulator_server: EmulatorServer) -> Iterator[tuple[Captured, str]]:
    receiver = Captured(clock=emulator_server.emulator.clock.timestamp)
    with serve(receiver.app(), name="conformance-receiver") as url:
        yield receiver, f"{url}/hook"


def _schema(event: str) -> dict[str, Any]:
    path = SCHEMAS / f"{event}.schema.json"
    assert path.exists(), f"no schema for {event}: every event the emulator emits needs one"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _scenario() -> Scenario:
    return Scenario(
        attendance=0.7,
        late_share=0.4,
        rejoin_share=0.3,
        two_devices_share=0.2,
        guests=2,
        walk_ins=1,
        panelists=[Panelist(name="Pat Panel", email="pat.panel@rollcall.example")],
        attendees=[
            ScriptedAttendee(email="approved0@customers.example", sessions=[(0, 10), (15, 30), (5, 12)], speaks=True),
            ScriptedAttendee(name="Hidden Guest", guest=True, sessions=[(2, 20)]),
        ],
        recording_delay_minutes=3,
        transcript_delay_minutes=6,
    )


async def _run_world(admin: EmulatorAdmin, http: httpx.AsyncClient, server: EmulatorServer, hook: str) -> None:
    subscription = await admin.subscribe_webhooks(MAIN, hook, SECRET)
    assert subscription["validated"], subscription
    await admin.add_webinar(
        MAIN,
        WebinarSeed(id=W_LIVE, host_id="u-host", topic="Conformance live", start_time=NOW + timedelta(minutes=5),
                    duration=30, generate_registrants=GenerateRegistrants(count=25), scenario=_scenario()),
    )  # fmt: skip
    await admin.add_webinar(
        MAIN,
        WebinarSeed(id=W_RECURRING, host_id="u-host", topic="Conformance recurring", type=9,
                    start_time=NOW + timedelta(minutes=10), duration=20,
                    occurrences=[NOW + timedelta(minutes=10), NOW + timedelta(minutes=50)],
                    generate_registrants=GenerateRegistrants(count=8, seed=3), scenario=Scenario(guests=1, seed=3)),
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {await raw_token(server, http)}"}
    base = server.api_base_url
    for webinar_id, email in ((W_OPEN, "new.one@customers.example"), (W_MANUAL, "manual.one@customers.example"),
                              (W_MANUAL, "manual.two@customers.example")):  # fmt: skip
        body = {"email": email, "first_name": "New", "last_name": "One"}
        answer = await http.post(f"{base}/webinars/{webinar_id}/registrants", json=body, headers=headers)
        assert answer.status_code == 201
    for webinar_id, action, email in ((W_MANUAL, "approve", "manual.one@customers.example"),
                                      (W_MANUAL, "deny", "manual.two@customers.example"),
                                      (W_OPEN, "cancel", "new.one@customers.example")):  # fmt: skip
        change = {"action": action, "registrants": [{"email": email}]}
        answer = await http.put(f"{base}/webinars/{webinar_id}/registrants/status", json=change, headers=headers)
        assert answer.status_code == 204
    await admin.set_clock(NOW, frozen=False, speed=SPEED)


async def test_every_webhook_the_emulator_emits_matches_zoom_s_documented_shape(
    emulator_server: EmulatorServer, admin: EmulatorAdmin, captured: tuple[Captured, str]
) -> None:
    receiver, hook = captured
    async with httpx.AsyncClient(timeout=10) as http:
        await _run_world(admin, http, emulator_server, hook)
        await eventually(
            lambda: len(receiver.ours("recording.transcript_completed")) == 3, "three transcripts", within=60
        )
    await admin.set_clock_speed(1.0, frozen=True)

    kinds = {body["event"] for body, _ in receiver.requests}
    assert kinds == {
        "endpoint.url_validation", "webinar.registration_created", "webinar.registration_approved",
        "webinar.registration_denied", "webinar.registration_cancelled", "webinar.started",
        "webinar.participant_joined", "webinar.participant_left", "webinar.ended", "recording.completed",
        "recording.transcript_completed",
    }  # fmt: skip
    for body, timestamp in receiver.requests:
        jsonschema.validate(body, _schema(body["event"]), cls=jsonschema.Draft202012Validator)
        # The signature timestamp and event_ts read one clock, the emulator's (2025 here, not the wall clock).
        assert NOW.timestamp() <= timestamp < (NOW + timedelta(days=1)).timestamp()
        assert body["event_ts"] // 1000 <= timestamp


async def test_a_run_tells_a_coherent_story_per_instance(
    emulator_server: EmulatorServer, admin: EmulatorAdmin, captured: tuple[Captured, str]
) -> None:
    """#15.1: started → joins and leaves → ended → recording → transcript, per instance, in order;
    recurring occurrences have their own UUIDs; recording files name their instance."""
    receiver, hook = captured
    async with httpx.AsyncClient(timeout=10) as http:
        await _run_world(admin, http, emulator_server, hook)
        await eventually(
            lambda: len(receiver.ours("recording.transcript_completed")) == 3, "three transcripts", within=60
        )
    await admin.set_clock_speed(1.0, frozen=True)

    order = ["webinar.started", "webinar.participant_joined", "webinar.ended", "recording.completed",
             "recording.transcript_completed"]  # fmt: skip
    by_instance: dict[str, list[tuple[int, str]]] = {}
    for body, _ in receiver.requests:
        if body["event"] in (*order, "webinar.participant_left") and body in receiver.ours(body["event"]):
            uuid = body["payload"]["object"]["uuid"]
            by_instance.setdefault(uuid, []).append((body["event_ts"], body["event"]))
    assert len(by_instance) == 3  # one live webinar, two occurrences of the recurring one
    for uuid, events in by_instance.items():
        assert [ts for ts, _ in events] == sorted(ts for ts, _ in events), uuid  # delivered in order
        firsts = [next(i for i, (_, e) in enumerate(events) if e == name) for name in order]
        assert firsts == sorted(firsts), (uuid, events)
        joined = sum(1 for _, e in events if e == "webinar.participant_joined")
        assert joined == sum(1 for _, e in events if e == "webinar.participant_left") > 0
    recurring = {b["payload"]["object"]["uuid"] for b in receiver.events("webinar.started")
                 if b["payload"]["object"]["id"] == str(W_RECURRING)}  # fmt: skip
    assert len(recurring) == 2
    for body in receiver.ours("recording.completed") + receiver.ours("recording.transcript_completed"):
        obj = body["payload"]["object"]
        assert {f["meeting_id"] for f in obj["recording_files"]} == {obj["uuid"]}
        assert obj["id"] in (W_LIVE, W_RECURRING)
        assert all(f["download_url"].startswith(emulator_server.base_url) for f in obj["recording_files"])


@pytest.mark.parametrize(
    ("event", "mistake"),
    [
        ("webinar.started", lambda d: d["payload"]["object"].update(id=91000000101)),  # a number, Zoom sends a string
        ("recording.completed", lambda d: d["payload"]["object"].update(id="91000000101")),  # a string, Zoom: a number
        ("recording.completed", lambda d: d.pop("download_token")),
        ("webinar.participant_joined", lambda d: d["payload"]["object"]["participant"].pop("join_time")),
    ],
)
def test_the_schemas_refuse_what_zoom_does_not_send(event: str, mistake: Callable[[dict[str, Any]], object]) -> None:
    """The schemas can fail: each valid example passes, the same example with one mistake does not."""
    example = json.loads((SCHEMAS / "examples.json").read_text(encoding="utf-8"))[event]
    jsonschema.validate(example, _schema(event), cls=jsonschema.Draft202012Validator)
    mistake(example)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(example, _schema(event), cls=jsonschema.Draft202012Validator)
