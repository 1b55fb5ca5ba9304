"""The seeded Zoom world of the integration tests, and raw-HTTP helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from engine.zoom.settings import ZoomPlan
from zoom_emulator import EmulatorServer, SeedDocument
from zoom_emulator.core.seeds import (
    AccountSeed,
    CustomQuestionSeed,
    GenerateRegistrants,
    InstanceSeed,
    RecordingFileSeed,
    RecordingSeed,
    RegistrantSeed,
    SessionSeed,
    StandardQuestionSeed,
    UserSeed,
    WebinarSeed,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
OPENAPI_SUBSET = REPO_ROOT / "tests" / "data" / "zoom" / "zoom-openapi-subset.json"

NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
MAIN = "acct-main"
FREE = "acct-free"
HOST_EMAIL = "host@rollcall.example"
ALT_HOST_EMAIL = "alt.two@rollcall.example"

W_OPEN = 91000000001  # approval 0, 650 registrants in every status, two alternative hosts
W_MANUAL = 91000000002  # approval 1: new registrants are pending
W_QUESTIONS = 91000000003  # requires city and a custom question
W_NO_REGISTRATION = 91000000004  # approval_type 2
W_PAST = 91000000005  # ended; three instances with awkward UUIDs
W_ZOOM_EVENT = 91000000006
W_FREE = 92000000001  # on the Free plan account

UUID_LEADING_SLASH = "/ajXp112QmuoKj4854875=="
UUID_DOUBLE_SLASH = "Zl9a//bRQKiZ+s6k1m0wTw=="
UUID_PLUS = "Ab+Cd/EfGhIjKlMnOpQrSw=="  # the latest instance
UUID_FREE = "FreeFreeFreeFreeFree0w=="

OPEN_COUNTS = {"approved": 520, "pending": 65, "denied": 65}


def _session(
    name: str, email: str, start: datetime, join_min: int, leave_min: int, *, guest: bool = False
) -> SessionSeed:
    return SessionSeed(
        name=name,
        email=email,
        guest=guest,
        join_time=start + timedelta(minutes=join_min),
        leave_time=start + timedelta(minutes=leave_min),
    )


def base_seed() -> SeedDocument:
    """The world every integration test starts from (clock frozen at ``NOW``)."""
    first = NOW - timedelta(days=14)
    second = NOW - timedelta(days=7)
    latest = NOW - timedelta(minutes=90)  # ended 30 minutes ago
    registrants = (
        [
            RegistrantSeed(email=f"approved{n}@customers.example", first_name="A", last_name=str(n))
            for n in range(OPEN_COUNTS["approved"])
        ]
        + [
            RegistrantSeed(email=f"pending{n}@customers.example", first_name="P", last_name=str(n), status="pending")
            for n in range(OPEN_COUNTS["pending"])
        ]
        + [
            RegistrantSeed(email=f"denied{n}@customers.example", first_name="D", last_name=str(n), status="denied")
            for n in range(OPEN_COUNTS["denied"])
        ]
    )
    upcoming = NOW + timedelta(days=7)
    return SeedDocument(
        clock=NOW,
        clock_frozen=True,
        accounts=[
            AccountSeed(
                id=MAIN,
                plan=ZoomPlan.BUSINESS,
                client_id="main-client",
                client_secret="main-secret",
                users=[
                    UserSeed(id="u-host", email=HOST_EMAIL, first_name="Hana", last_name="Host"),
                    UserSeed(id="u-alt", email=ALT_HOST_EMAIL, first_name="Alt", last_name="Two"),
                ],
                webinars=[
                    WebinarSeed(
                        id=W_OPEN,
                        host_id="u-host",
                        topic="Open webinar",
                        start_time=upcoming,
                        alternative_hosts=f"alt.one@rollcall.example;{ALT_HOST_EMAIL}",
                        questions=[StandardQuestionSeed(field_name="last_name", required=False)],
                        registrants=registrants,
                    ),
                    WebinarSeed(
                        id=W_MANUAL, host_id="u-host", topic="Manual approval", start_time=upcoming, approval_type=1
                    ),
                    WebinarSeed(
                        id=W_QUESTIONS,
                        host_id="u-host",
                        topic="Long form",
                        start_time=upcoming,
                        questions=[
                            StandardQuestionSeed(field_name="city", required=True),
                            StandardQuestionSeed(field_name="org", required=False),
                        ],
                        custom_questions=[
                            CustomQuestionSeed(
                                title="Company size", required=True, type="single_dropdown", answers=["1-50", "51+"]
                            )
                        ],
                    ),
                    WebinarSeed(
                        id=W_NO_REGISTRATION,
                        host_id="u-host",
                        topic="No registration",
                        start_time=upcoming,
                        approval_type=2,
                    ),
                    WebinarSeed(
                        id=W_ZOOM_EVENT, host_id="u-host", topic="Summit", start_time=upcoming, zoom_event=True
                    ),
                    WebinarSeed(
                        id=W_PAST,
                        host_id="u-host",
                        topic="Recurring past",
                        type=9,
                        start_time=first,
                        occurrences=[first, second, latest],
                        registrants=[
                            RegistrantSeed(email="jonas@customers.example", first_name="Jonas"),
                            RegistrantSeed(email="greta@customers.example", first_name="Greta"),
                            RegistrantSeed(email="absent@customers.example", first_name="Abe"),
                        ],
                        generate_registrants=None,
                        instances=[
                            InstanceSeed(
                                uuid=UUID_LEADING_SLASH,
                                start_time=first,
                                sessions=[
                                    _session("Jonas", "jonas@customers.example", first, 0, 20),
                                    _session("Jonas", "jonas@customers.example", first, 25, 60),
                                    _session("Guest 1", "", first, 10, 40, guest=True),
                                ],
                            ),
                            InstanceSeed(
                                uuid=UUID_DOUBLE_SLASH,
                                start_time=second,
                                sessions=[
                                    _session("Greta", "greta@customers.example", second, 2, 60),
                                ],
                                recording=RecordingSeed(
                                    deleted=True, files=[RecordingFileSeed(file_type="MP4", file_extension="MP4")]
                                ),
                            ),
                            InstanceSeed(
                                uuid=UUID_PLUS,
                                start_time=latest,
                                sessions=[
                                    _session("Greta", "greta@customers.example", latest, 0, 60),
                                ],
                                recording=RecordingSeed(
                                    files=[
                                        RecordingFileSeed(file_type="MP4", file_extension="MP4"),
                                        RecordingFileSeed(
                                            file_type="TRANSCRIPT",
                                            file_extension="VTT",
                                            recording_type="audio_transcript",
                                            available_after_minutes=120,
                                        ),
                                    ]
                                ),
                            ),
                        ],
                    ),
                ],
            ),
            AccountSeed(
                id=FREE,
                plan=ZoomPlan.FREE,
                client_id="free-client",
                client_secret="free-secret",
                users=[UserSeed(id="u-free", email="free@rollcall.example")],
                webinars=[
                    WebinarSeed(
                        id=W_FREE,
                        host_id="u-free",
                        topic="Free",
                        start_time=NOW - timedelta(days=1),
                        generate_registrants=GenerateRegistrants(count=3),
                        instances=[InstanceSeed(uuid=UUID_FREE, start_time=NOW - timedelta(days=1))],
                    ),
                ],
            ),
        ],
    )


async def raw_token(server: EmulatorServer, http: httpx.AsyncClient) -> str:
    """An access token for the main account, fetched without the client under test."""
    response = await http.post(
        f"{server.base_url}/oauth/token",
        data={"grant_type": "account_credentials", "account_id": MAIN},
        auth=("main-client", "main-secret"),
    )
    token: str = response.json()["access_token"]
    return token
