"""#15.1–15.4: the emulator runs webinars on its clock; reports, recordings and downloads come from
the same simulation; Zoom's edges (input validation, 429 headers, paging over live data).

The world is zoom_world's (clock frozen at NOW); each test adds its webinars through the admin
API and moves the clock, so what happens in between is exactly what the scheduler fired.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from integration.zoom.zoom_world import FREE, MAIN, NOW, W_FREE, W_OPEN, W_QUESTIONS, raw_token

from zoom_emulator import EmulatorAdmin, EmulatorServer, Panelist, Scenario, ScriptedAttendee
from zoom_emulator.core.seeds import GenerateRegistrants, RegistrantSeed, WebinarSeed

W_LIVE = 91000000201
W_WEEKLY = 91000000202
W_UNRECORDED = 91000000203
JANE = "jane@customers.example"
CUE = re.compile(r"^(\d+)\n(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n([^:\n]+): (.+)$")


class Bearer(httpx.Auth):
    """The main account's access token, fetched again when the emulator says it expired (the
    tests move the clock by hours)."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.token = ""

    async def fresh(self) -> str:
        async with httpx.AsyncClient(timeout=10) as client:
            self.token = await raw_token(self.server, client)
        return self.token

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {self.token or await self.fresh()}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {await self.fresh()}"
            yield request


@pytest.fixture
async def http(emulator_server: EmulatorServer, admin: EmulatorAdmin) -> AsyncIterator[httpx.AsyncClient]:
    """Raw HTTP to the emulator's Zoom API as the main account."""
    async with httpx.AsyncClient(
        base_url=emulator_server.api_base_url, timeout=10, auth=Bearer(emulator_server)
    ) as client:
        yield client


async def _bearer(http: httpx.AsyncClient) -> dict[str, str]:
    assert isinstance(http.auth, Bearer)
    return {"Authorization": f"Bearer {await http.auth.fresh()}"}


def _live_scenario(**changes: Any) -> Scenario:
    return Scenario(
        attendance=0.5,
        guests=2,
        panelists=[Panelist(name="Pat Panel", email="pat.panel@rollcall.example")],
        attendees=[
            # Leaves after 10 minutes, comes back at 15, and from minute 20 to 25 is on a second device too.
            ScriptedAttendee(email=JANE, sessions=[(0, 10), (15, 40), (20, 25)], speaks=True),
        ],
        recording_delay_minutes=5,
        transcript_delay_minutes=15,
        **changes,
    )


async def _add_live(admin: EmulatorAdmin, **scenario: Any) -> None:
    await admin.add_webinar(
        MAIN,
        WebinarSeed(id=W_LIVE, host_id="u-host", topic="Live launch", start_time=NOW + timedelta(minutes=5),
                    duration=40, registrants=[RegistrantSeed(email=JANE, first_name="Jane", last_name="Doe")],
                    generate_registrants=GenerateRegistrants(count=30, seed=4), scenario=_live_scenario(**scenario)),
    )  # fmt: skip


def _rows(body: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(r["user_id"], r["join_time"], r["leave_time"]) for r in body["participants"]}


async def test_the_report_and_the_webhooks_come_from_the_same_simulation(
    admin: EmulatorAdmin, http: httpx.AsyncClient
) -> None:
    """#15.1: joins and leaves told by webhooks are the participants report's rows; Jane's rejoin
    and second device are three rows; guests have no email; nothing is reported while it runs."""
    await _add_live(admin)
    await admin.advance_clock(20 * 60)  # 15 minutes into the webinar
    during = await http.get(f"/report/webinars/{W_LIVE}/participants")
    assert (during.status_code, during.json()["code"]) == (404, 3001)
    assert (await http.get(f"/past_webinars/{W_LIVE}/instances")).json() == {"webinars": []}

    await admin.advance_clock(3600)
    emitted = await admin.emitted_webhooks()
    started = [e for e in emitted if e["event"] == "webinar.started"]
    assert [e["payload"]["object"]["id"] for e in started] == [str(W_LIVE)]
    uuid = started[0]["payload"]["object"]["uuid"]
    listed = await http.get(f"/past_webinars/{W_LIVE}/instances")
    assert listed.json().get("webinars") == [{"uuid": uuid, "start_time": "2025-06-02T09:05:00Z"}]
    report = (
        await http.get(f"/report/webinars/{W_LIVE}/participants?page_size=300&include_fields=registrant_id")
    ).json()
    joins = {(e["payload"]["object"]["participant"]["user_id"], e["payload"]["object"]["participant"]["join_time"])
             for e in emitted if e["event"] == "webinar.participant_joined"}  # fmt: skip
    leaves = {(e["payload"]["object"]["participant"]["user_id"], e["payload"]["object"]["participant"]["leave_time"])
              for e in emitted if e["event"] == "webinar.participant_left"}  # fmt: skip
    assert {(u, j) for u, j, _ in _rows(report)} == joins
    assert {(u, le) for u, _, le in _rows(report)} == leaves
    jane = sorted((r["join_time"], r["leave_time"]) for r in report["participants"] if r["user_email"] == JANE)
    assert jane == [("2025-06-02T09:05:00Z", "2025-06-02T09:15:00Z"), ("2025-06-02T09:20:00Z", "2025-06-02T09:45:00Z"),
                    ("2025-06-02T09:25:00Z", "2025-06-02T09:30:00Z")]  # fmt: skip
    assert {r["registrant_id"] for r in report["participants"] if r["user_email"] == JANE} != {""}
    guests = [r for r in report["participants"] if r["user_email"] == ""]
    assert len(guests) >= 2 and all(r["id"] == "" for r in guests)
    assert any(r["name"] == "Pat Panel" for r in report["participants"])
    ended = [e for e in emitted if e["event"] == "webinar.ended"]
    assert ended[0]["payload"]["object"]["end_time"] == "2025-06-02T09:45:00Z"


async def test_a_recurring_webinar_runs_each_occurrence_with_its_own_uuid(
    admin: EmulatorAdmin, http: httpx.AsyncClient
) -> None:
    """#15.1: occurrences are instances of their own; each is reachable by its (double-encoded) UUID."""
    first, second = NOW + timedelta(hours=1), NOW + timedelta(days=7, hours=1)
    await admin.add_webinar(
        MAIN,
        WebinarSeed(id=W_WEEKLY, host_id="u-host", topic="Weekly", type=9, start_time=first, duration=30,
                    occurrences=[first, second], generate_registrants=GenerateRegistrants(count=10)),
    )  # fmt: skip
    await admin.advance_clock(8 * 86400)
    instances = (await http.get(f"/past_webinars/{W_WEEKLY}/instances")).json()["webinars"]
    assert [i["start_time"] for i in instances] == ["2025-06-02T10:00:00Z", "2025-06-09T10:00:00Z"]
    assert len({i["uuid"] for i in instances}) == 2
    for instance in instances:
        encoded = quote(quote(instance["uuid"], safe=""), safe="")
        answer = await http.get(f"/past_webinars/{encoded}/participants")
        assert answer.status_code == 200 and answer.json()["total_records"] > 0


async def test_a_webinar_without_recording_answers_3301_for_ever(admin: EmulatorAdmin, http: httpx.AsyncClient) -> None:
    await admin.add_webinar(
        MAIN,
        WebinarSeed(id=W_UNRECORDED, host_id="u-host", topic="Off the record", start_time=NOW + timedelta(minutes=1),
                    duration=30, scenario=Scenario(recording=False)),
    )  # fmt: skip
    await admin.advance_clock(40 * 86400)
    answer = await http.get(f"/meetings/{W_UNRECORDED}/recordings")
    assert (answer.status_code, answer.json()["code"]) == (404, 3301)
    assert [e for e in await admin.emitted_webhooks() if e["event"].startswith("recording.")
            and e["payload"]["object"]["id"] == W_UNRECORDED] == []  # fmt: skip


async def test_recording_then_transcript_arrive_after_their_processing_delays(
    admin: EmulatorAdmin, http: httpx.AsyncClient
) -> None:
    """#15.1: the video after 5 minutes (``recording.completed`` with a ``download_token``, files
    naming the instance), the transcript after 15 (``recording.transcript_completed``)."""
    await _add_live(admin)
    await admin.set_clock(NOW + timedelta(minutes=46))  # a minute after the end
    assert (await http.get(f"/meetings/{W_LIVE}/recordings")).json()["code"] == 3301
    await admin.set_clock(NOW + timedelta(minutes=51))
    video = (await http.get(f"/meetings/{W_LIVE}/recordings")).json()
    assert sorted(f["file_type"] for f in video["recording_files"]) == ["M4A", "MP4"]
    [completed] = await admin.emitted_webhooks("recording.completed")
    assert completed["download_token"]
    assert {f["meeting_id"] for f in completed["payload"]["object"]["recording_files"]} == {video["uuid"]}
    assert await admin.emitted_webhooks("recording.transcript_completed") == []
    await admin.set_clock(NOW + timedelta(minutes=61))
    [transcript] = await admin.emitted_webhooks("recording.transcript_completed")
    files = transcript["payload"]["object"]["recording_files"]
    assert [(f["file_type"], f["file_extension"]) for f in files] == [("TRANSCRIPT", "VTT")]
    assert transcript["event_ts"] == int((NOW + timedelta(minutes=60)).timestamp() * 1000)


async def test_a_scenario_set_through_the_admin_api_runs_a_past_occurrence_at_once(
    admin: EmulatorAdmin, http: httpx.AsyncClient
) -> None:
    """A webinar seeded in the past without an instance is history until it gets a scenario."""
    await admin.add_webinar(
        MAIN,
        WebinarSeed(id=W_LIVE, host_id="u-host", topic="Yesterday", start_time=NOW - timedelta(days=1),
                    generate_registrants=GenerateRegistrants(count=12)),
    )  # fmt: skip
    assert (await http.get(f"/past_webinars/{W_LIVE}/instances")).json() == {"webinars": []}
    answer = await admin.set_scenario(W_LIVE, Scenario(attendance=1.0, guests=0, host_joins=False))
    assert answer["scheduled"] == 1
    report = (await http.get(f"/report/webinars/{W_LIVE}/participants")).json()
    assert report["total_records"] >= 12
    assert (await http.get(f"/meetings/{W_LIVE}/recordings")).status_code == 200


async def test_an_accelerated_clock_runs_the_webinar_by_itself(admin: EmulatorAdmin) -> None:
    """#15.2: at 3,600 emulator seconds per real second, nobody steps the clock and the webinar
    still starts, runs and ends, its events in order."""
    await _add_live(admin)
    await admin.set_clock(NOW, frozen=False, speed=3600)
    for _ in range(600):
        if await admin.emitted_webhooks("webinar.ended"):
            break
        await admin.clock()
    await admin.set_clock_speed(1.0, frozen=True)
    events = [e for e in await admin.emitted_webhooks() if e["payload"]["object"].get("id") == str(W_LIVE)]
    assert events[0]["event"] == "webinar.started" and events[-1]["event"] == "webinar.ended"
    assert [e["event_ts"] for e in events] == sorted(e["event_ts"] for e in events)


async def _transcript(admin: EmulatorAdmin, http: httpx.AsyncClient, **scenario: Any) -> tuple[dict[str, Any], str]:
    await _add_live(admin, **scenario)
    await admin.set_clock(NOW + timedelta(hours=2))
    recording = (await http.get(f"/meetings/{W_LIVE}/recordings")).json()
    [vtt] = [f for f in recording["recording_files"] if f["file_type"] == "TRANSCRIPT"]
    return vtt, recording["uuid"]


async def test_downloads_follow_zoom_s_access_rules(admin: EmulatorAdmin, http: httpx.AsyncClient) -> None:
    """#15.4: OAuth bearer or the webhook's download_token (header or ``access_token`` query) → 302
    to the signed file; nothing → 401; a token of another recording → 401; unknown file → 404;
    video → described, not served (501); a tampered signature → 403."""
    vtt, uuid = await _transcript(admin, http)
    [event] = [e for e in await admin.emitted_webhooks("recording.transcript_completed")
               if e["payload"]["object"]["id"] == W_LIVE]  # fmt: skip
    token = event["download_token"]
    assert vtt["download_url"].startswith(str(http.base_url).removesuffix("/v2/"))
    async with httpx.AsyncClient(timeout=10) as plain:
        bearer = await _bearer(http)
        redirect = await plain.get(vtt["download_url"], headers=bearer)
        assert redirect.status_code == 302 and "/rec/files/" in redirect.headers["location"]
        for answer in (
            await plain.get(vtt["download_url"], headers=bearer, follow_redirects=True),
            await plain.get(vtt["download_url"], params={"access_token": token}, follow_redirects=True),
            await plain.get(vtt["download_url"], headers={"Authorization": f"Bearer {token}"}, follow_redirects=True),
        ):
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/vtt")
            assert len(answer.content) == vtt["file_size"]
        assert (await plain.get(vtt["download_url"])).status_code == 401
        assert (await plain.get(vtt["download_url"], params={"access_token": "forged"})).json()["code"] == 124
        unknown = vtt["download_url"].rsplit("/", 1)[0] + "/no-such-file"
        assert (await plain.get(unknown, headers=bearer)).status_code == 404
        past = (
            await http.get(f"/meetings/{quote(quote('Ab+Cd/EfGhIjKlMnOpQrSw==', safe=''), safe='')}/recordings")
        ).json()
        mp4 = next(f for f in past["recording_files"] if f["file_type"] == "MP4")
        assert (await plain.get(mp4["download_url"], params={"access_token": token})).status_code == 401
        media = await plain.get(mp4["download_url"], headers=bearer, follow_redirects=True)
        assert media.status_code == 501
        tampered = redirect.headers["location"].replace("signature=", "signature=0")
        assert (await plain.get(tampered)).status_code == 403
    assert uuid


async def test_the_transcript_is_webvtt_spoken_by_who_was_there(admin: EmulatorAdmin, http: httpx.AsyncClient) -> None:
    """#15.4: real WebVTT; the host and the panelist speak, Jane (a scripted speaker) asks while
    present; the size is the one asked for, to the byte."""
    vtt, _ = await _transcript(admin, http, transcript_bytes=150_000)
    async with httpx.AsyncClient(timeout=10) as plain:
        text = (await plain.get(vtt["download_url"], headers=await _bearer(http), follow_redirects=True)).text
    assert len(text.encode()) == vtt["file_size"] == 150_000
    header, *blocks = text.split("\n\n")
    assert header == "WEBVTT"
    cues = [CUE.match(block) for block in blocks if block]
    assert all(cues), [b for b, c in zip(blocks, cues, strict=False) if not c][:2]
    speakers = {c[4] for c in cues if c}
    assert {"Hana Host", "Pat Panel", "Jane Doe"} <= speakers
    janes = [_seconds(c[2]) for c in cues if c and c[4] == "Jane Doe"]
    assert all(0 <= s < 600 or 900 <= s < 2400 for s in janes)  # only while she is there
    starts = [_seconds(c[2]) for c in cues if c]
    assert starts == sorted(starts) and [int(c[1]) for c in cues if c] == list(range(1, len(starts) + 1))


def _seconds(stamp: str) -> float:
    hours, minutes, seconds = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


# --- faithful edges (#15.3) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "first_name": "N"}, "email"),
        ({"email": "two@@customers.example", "first_name": "N"}, "email"),
        ({"email": "long@customers.example", "first_name": "N" * 65}, "first_name"),
        ({"email": "long@customers.example", "first_name": "N", "last_name": "L" * 65}, "last_name"),
        ({"email": "x" * 120 + "@customers.example", "first_name": "N"}, "email"),
    ],
)
async def test_registrant_input_is_validated_like_zoom(
    admin: EmulatorAdmin, http: httpx.AsyncClient, body: dict[str, str], field: str
) -> None:
    before = len(await admin.registrants(W_OPEN))
    answer = await http.post(f"/webinars/{W_OPEN}/registrants", json=body)
    assert (answer.status_code, answer.json()["code"]) == (400, 300)
    assert field in [e["field"] for e in answer.json()["errors"]]
    assert len(await admin.registrants(W_OPEN)) == before


async def test_names_of_64_characters_and_required_questions(http: httpx.AsyncClient) -> None:
    body = {"email": "n64@customers.example", "first_name": "N" * 64, "last_name": "L" * 64}
    ok = await http.post(f"/webinars/{W_OPEN}/registrants", json=body)
    assert ok.status_code == 201
    missing = await http.post(f"/webinars/{W_QUESTIONS}/registrants", json={"email": "q@customers.example",
                                                                           "first_name": "Q"})  # fmt: skip
    assert (missing.status_code, missing.json()["code"]) == (400, 300)
    assert {e["field"] for e in missing.json()["errors"]} == {"city", "custom_questions"}


async def test_every_429_says_its_type_and_when_to_retry(
    emulator_server: EmulatorServer, http: httpx.AsyncClient
) -> None:
    """The per-registrant daily limit (4th add of one email in a UTC day) and the per-second one."""
    body = {"email": "daily@customers.example", "first_name": "D"}
    for _ in range(3):
        assert (await http.post(f"/webinars/{W_OPEN}/registrants", json=body)).status_code == 201
    daily = await http.post(f"/webinars/{W_OPEN}/registrants", json=body)
    assert daily.status_code == 429
    assert (daily.headers["x-ratelimit-type"], daily.headers["retry-after"]) == ("Daily-limit", "2025-06-03T00:00:00Z")
    async with httpx.AsyncClient(base_url=emulator_server.api_base_url, timeout=10) as free:
        token = (await free.post(f"{emulator_server.base_url}/oauth/token",
                                 data={"grant_type": "account_credentials", "account_id": FREE},
                                 auth=("free-client", "free-secret"))).json()["access_token"]  # fmt: skip
        free.headers["Authorization"] = f"Bearer {token}"
        answers = [await free.get(f"/report/webinars/{W_FREE}/participants") for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 429]
    assert (answers[1].headers["x-ratelimit-type"], answers[1].headers["retry-after"]) == ("QPS", "1")


async def test_paging_reads_live_data_not_a_snapshot(http: httpx.AsyncClient) -> None:
    """A registrant cancelled between two pages shifts the later pages, as Zoom's may: the token
    holds a position."""
    first = (await http.get(f"/webinars/{W_OPEN}/registrants?page_size=300")).json()
    every = [r["email"] for r in first["registrants"]]
    cancel = {"action": "cancel", "registrants": [{"email": every[0]}]}
    assert (await http.put(f"/webinars/{W_OPEN}/registrants/status", json=cancel)).status_code == 204
    second = (await http.get(f"/webinars/{W_OPEN}/registrants?page_size=300",
                             params={"next_page_token": first["next_page_token"]})).json()  # fmt: skip
    assert second["total_records"] == first["total_records"] - 1
    assert second["registrants"][0]["email"] == "approved301@customers.example"  # approved300 slid onto page one
    assert every[-1] == "approved299@customers.example"
