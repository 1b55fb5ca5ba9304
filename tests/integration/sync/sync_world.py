"""The Zoom world and CRM store of the sync tests (behaviour spec §1, §2, §4–§8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.zoom.settings import ZoomPlan
from zoom_emulator import SeedDocument
from zoom_emulator.core.seeds import (
    AccountSeed,
    InstanceSeed,
    RecordingFileSeed,
    RecordingSeed,
    RegistrantSeed,
    SessionSeed,
    UserSeed,
    WebinarSeed,
)

NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
HOST = "host@ourco.example"
PARTNER_HOST = "host@partner.example"
EMEA_HOST = "host@emea.example"
STAFF = "staff@ourco.example"  # an account user (R-EXC-1)
INTERN = "intern@ourco.example"  # the company's own domain, not a contact (R-EXC-2)
OWNER = "owner@customers.example"  # a contact whose secondary email is SECOND
SECOND = "second@customers.example"
DELETED = "deleted@customers.example"  # a deleted contact (R-EXC-5)

W_ENDED = "93100000001"  # ended 2 h ago: registrants in every status, rejoins, a guest, a recording
W_ZOOM_EVENT = "93100000002"  # R-SCOPE-2
W_PARTNER = "93100000003"  # hosted by PARTNER_HOST
W_LATE_TRANSCRIPT = "93100000004"  # ended 30 min ago; the transcript is ready 150 min after the end
W_UPCOMING = "93100000005"  # next week: registrants only
W_EMEA = "93200000001"  # on the second BU's Zoom account
INSTANCE = "/sync//Instance+1=="


def _at(start: datetime, minutes: int) -> datetime:
    return start + timedelta(minutes=minutes)


def seed(main_account: str, emea_account: str) -> SeedDocument:
    ended = NOW - timedelta(hours=3)
    late = NOW - timedelta(minutes=90)
    return SeedDocument(
        clock=NOW,
        clock_frozen=True,
        accounts=[
            AccountSeed(
                id=main_account,
                name="Main (BU Account)",
                plan=ZoomPlan.BUSINESS,
                client_id=f"{main_account}-client",
                client_secret="main-secret",
                users=[
                    UserSeed(id="host-1", email=HOST, first_name="Hana", last_name="Host"),
                    UserSeed(id="host-2", email=PARTNER_HOST, first_name="Pat", last_name="Partner"),
                ],
                webinars=[
                    WebinarSeed(
                        id=int(W_ENDED),
                        host_id="host-1",
                        topic="Quarterly product update",
                        start_time=ended,
                        duration=60,
                        registrants=[
                            RegistrantSeed(email="alice@customers.example", first_name="Alice", last_name="Able"),
                            RegistrantSeed(
                                email="bob@customers.example", first_name="Bob", last_name="Baker", status="pending"
                            ),
                            RegistrantSeed(
                                email="carol@customers.example", first_name="Carol", last_name="C", status="cancelled"
                            ),
                            RegistrantSeed(email=STAFF, first_name="Sam", last_name="Staff"),
                            RegistrantSeed(email=INTERN, first_name="Ian", last_name="Intern"),
                            RegistrantSeed(email=SECOND, first_name="Sec", last_name="Ond"),
                            RegistrantSeed(email=DELETED, first_name="Del", last_name="Eted"),
                            RegistrantSeed(email="not-an-email", first_name="No", last_name="Mail"),
                        ],
                        instances=[
                            InstanceSeed(
                                uuid=INSTANCE,
                                start_time=ended,
                                sessions=[
                                    SessionSeed(
                                        name="Alice Able",
                                        email="alice@customers.example",
                                        join_time=_at(ended, 0),
                                        leave_time=_at(ended, 20),
                                    ),
                                    SessionSeed(
                                        name="Alice Able",
                                        email="alice@customers.example",
                                        join_time=_at(ended, 25),
                                        leave_time=_at(ended, 55),
                                    ),
                                    SessionSeed(
                                        name="Bob Baker",
                                        email="bob@customers.example",
                                        join_time=_at(ended, 0),
                                        leave_time=_at(ended, 90),
                                    ),
                                    SessionSeed(
                                        name="Dana Walkin",
                                        email="dana@walkin.example",
                                        join_time=_at(ended, 10),
                                        leave_time=_at(ended, 40),
                                    ),
                                    SessionSeed(
                                        name="Sam Staff",
                                        email=STAFF,
                                        join_time=_at(ended, 0),
                                        leave_time=_at(ended, 60),
                                    ),
                                    SessionSeed(
                                        name="Sec Ond", email=SECOND, join_time=_at(ended, 5), leave_time=_at(ended, 50)
                                    ),
                                    SessionSeed(
                                        name="Guest Person",
                                        guest=True,
                                        join_time=_at(ended, 3),
                                        leave_time=_at(ended, 33),
                                    ),
                                ],
                                recording=RecordingSeed(
                                    files=[
                                        RecordingFileSeed(file_type="MP4", file_extension="MP4"),
                                        RecordingFileSeed(
                                            file_type="TRANSCRIPT",
                                            file_extension="VTT",
                                            recording_type="audio_transcript",
                                            available_after_minutes=30,
                                        ),
                                    ]
                                ),
                            )
                        ],
                    ),
                    WebinarSeed(
                        id=int(W_ZOOM_EVENT),
                        host_id="host-1",
                        topic="A Zoom Events session",
                        start_time=ended,
                        zoom_event=True,
                        registrants=[RegistrantSeed(email="ze@customers.example", first_name="Zed")],
                    ),
                    WebinarSeed(
                        id=int(W_PARTNER),
                        host_id="host-2",
                        topic="Partner webinar",
                        start_time=ended,
                        registrants=[RegistrantSeed(email="pp@customers.example", first_name="Pia")],
                    ),
                    WebinarSeed(
                        id=int(W_LATE_TRANSCRIPT),
                        host_id="host-1",
                        topic="Late transcript",
                        start_time=late,
                        registrants=[RegistrantSeed(email="lena@customers.example", first_name="Lena")],
                        instances=[
                            InstanceSeed(
                                uuid="LateInstance0000000000==",
                                start_time=late,
                                sessions=[
                                    SessionSeed(
                                        name="Lena L",
                                        email="lena@customers.example",
                                        join_time=_at(late, 0),
                                        leave_time=_at(late, 60),
                                    )
                                ],
                                recording=RecordingSeed(
                                    files=[
                                        RecordingFileSeed(file_type="MP4", file_extension="MP4"),
                                        RecordingFileSeed(
                                            file_type="TRANSCRIPT",
                                            file_extension="VTT",
                                            recording_type="audio_transcript",
                                            available_after_minutes=150,
                                        ),
                                    ]
                                ),
                            )
                        ],
                    ),
                    WebinarSeed(
                        id=int(W_UPCOMING),
                        host_id="host-1",
                        topic="Next week",
                        start_time=NOW + timedelta(days=7),
                        registrants=[
                            RegistrantSeed(email="early@customers.example", first_name="Early", last_name="Bird")
                        ],
                    ),
                ],
            ),
            AccountSeed(
                id=emea_account,
                name="EMEA",
                client_id=f"{emea_account}-client",
                client_secret="emea-secret",
                users=[UserSeed(id="emea-host", email=EMEA_HOST, first_name="Emma")],
                webinars=[
                    WebinarSeed(
                        id=int(W_EMEA),
                        host_id="emea-host",
                        topic="EMEA webinar",
                        start_time=NOW + timedelta(days=3),
                        registrants=[
                            RegistrantSeed(email="eve@customers.example", first_name="Eve", last_name="E"),
                            RegistrantSeed(email="alice@customers.example", first_name="Alice", last_name="Able"),
                        ],
                    )
                ],
            ),
        ],
    )
