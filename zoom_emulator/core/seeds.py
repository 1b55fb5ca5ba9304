"""The emulator's seed format (YAML or JSON), shared by seed files, the admin API and the state file.

Seeds describe accounts (plan, client credentials), users, webinars with their registration form,
registrants, past instances with join sessions, recordings, and per webinar the attendance
``scenario`` the emulator runs each future occurrence with. Large populations are generated
deterministically from ``generate_registrants`` / ``generate_sessions`` parameters.

Times are ISO-8601 or **relative to the seed's now**: ``"now"``, ``"+5m"``, ``"-2h"``, ``"+1d"``,
``"-1h30m"`` (units ``s``, ``m``, ``h``, ``d``). The seed's now is its ``clock`` when that is an
absolute time, else the emulator clock when the seed is applied (the wall clock for a seed file
loaded at start-up) — so the demo seed is dated relative to each fresh start.

Zoom Event marker (R-SCOPE-2): a webinar seeded with ``zoom_event: true`` is served with
``"creation_source": "zoom_events"`` (``facts.ZOOM_EVENTS_CREATION_SOURCE``); other
webinars carry ``"creation_source": "web_portal"``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo

from zoom_emulator.core.facts import Plan, RateLabel
from zoom_emulator.core.scenarios import Role, Scenario

RegistrantStatusName = Literal["approved", "pending", "denied", "cancelled"]

_RELATIVE = re.compile(r"^(?P<sign>[+-])(?P<parts>(?:\d+(?:\.\d+)?[smhd])+)$")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def relative_time(text: str, now: datetime) -> datetime | None:
    """``"now"``, ``"+5m"``, ``"-1h30m"``… from ``now``; ``None`` if ``text`` is not relative."""
    stripped = text.strip()
    if stripped == "now":
        return now
    match = _RELATIVE.match(stripped)
    if match is None:
        return None
    seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(match["parts"]))
    return now + timedelta(seconds=-seconds if match["sign"] == "-" else seconds)


def _seed_now(info: ValidationInfo) -> datetime:
    context = info.context if isinstance(info.context, dict) else {}
    now = context.get("now")
    return now if isinstance(now, datetime) else _whole_second(datetime.now(UTC))


def _whole_second(moment: datetime) -> datetime:
    """Zoom's times are whole seconds."""
    return moment.replace(microsecond=0)


def _resolve(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, str):
        resolved = relative_time(value, _seed_now(info))
        if resolved is not None:
            return resolved
    return value


#: A datetime that may be written relative to the seed's now (see the module docstring).
SeedTime = Annotated[datetime, BeforeValidator(_resolve)]


class SeedModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserSeed(SeedModel):
    id: str
    email: str
    first_name: str = ""
    last_name: str = ""
    timezone: str = "UTC"


class StandardQuestionSeed(SeedModel):
    field_name: str
    required: bool = False


class CustomQuestionSeed(SeedModel):
    title: str
    type: Literal["short", "single_radio", "single_dropdown", "multiple"] = "short"
    required: bool = False
    answers: list[str] = Field(default_factory=list)


class CustomAnswerSeed(SeedModel):
    title: str
    value: str


class RegistrantSeed(SeedModel):
    email: str
    first_name: str
    last_name: str = ""
    #: ``cancelled`` is listed by Zoom under ``status=denied``.
    status: RegistrantStatusName = "approved"
    id: str | None = None
    create_time: SeedTime | None = None
    #: Answers to standard questions (``city``, ``org``, …) and custom questions.
    answers: dict[str, str] = Field(default_factory=dict)
    custom_questions: list[CustomAnswerSeed] = Field(default_factory=list)


class GenerateRegistrants(SeedModel):
    count: int = Field(ge=0)
    domain: str = "example.com"
    #: Share of each status; the rest are approved.
    pending: float = 0.0
    denied: float = 0.0
    cancelled: float = 0.0
    seed: int = 1


class SessionSeed(SeedModel):
    """One join session. A person who rejoins has several sessions with the same email."""

    name: str
    email: str = ""
    join_time: SeedTime
    leave_time: SeedTime
    #: Guests' emails are hidden by Zoom: served as ``user_email: ""`` with empty ids (R-SCOPE-3).
    guest: bool = False
    role: Role = "attendee"


class GenerateSessions(SeedModel):
    """Attendees drawn from the webinar's registrants (in order), plus some guests."""

    attendees: int = Field(ge=0)
    #: Every n-th attendee leaves and rejoins once (two rows); 0 for never.
    rejoin_every: int = Field(default=0, ge=0)
    guests: int = Field(default=0, ge=0)
    seed: int = 1


class RecordingFileSeed(SeedModel):
    file_type: Literal["MP4", "M4A", "CHAT", "TRANSCRIPT", "CC"]
    file_extension: Literal["MP4", "M4A", "TXT", "VTT"]
    recording_type: str = "shared_screen_with_speaker_view"
    #: Bytes. Transcript, captions and chat files are served with exactly this size (at least
    #: 512); MP4 and M4A are never served, only described.
    file_size: int = Field(default=1_000_000, ge=0)
    #: Minutes after the instance ends before the file is ready (transcripts come later).
    available_after_minutes: float = 0.0


class RecordingSeed(SeedModel):
    files: list[RecordingFileSeed]
    #: A deleted (trashed) recording answers 404 code 3301 like a missing one.
    deleted: bool = False


class InstanceSeed(SeedModel):
    uuid: str
    start_time: SeedTime
    #: Minutes; defaults to the webinar's duration.
    duration: int | None = None
    sessions: list[SessionSeed] = Field(default_factory=list)
    generate_sessions: GenerateSessions | None = None
    recording: RecordingSeed | None = None


class WebinarSeed(SeedModel):
    id: int
    host_id: str
    topic: str
    type: Literal[5, 6, 9] = 5
    start_time: SeedTime
    duration: int = 60
    timezone: str = "UTC"
    approval_type: Literal[0, 1, 2] = 0
    #: Emails joined by ";" or "," as Zoom stores them.
    alternative_hosts: str = ""
    zoom_event: bool = False
    #: Occurrence start times of a recurring webinar (type 9).
    occurrences: list[SeedTime] = Field(default_factory=list)
    questions: list[StandardQuestionSeed] = Field(default_factory=list)
    custom_questions: list[CustomQuestionSeed] = Field(default_factory=list)
    registrants: list[RegistrantSeed] = Field(default_factory=list)
    generate_registrants: GenerateRegistrants | None = None
    #: Past occurrences, as they happened.
    instances: list[InstanceSeed] = Field(default_factory=list)
    #: How its occurrences go when the emulator runs them. Every occurrence that starts after the
    #: seed is applied is run (with ``Scenario()`` when this is not given); with a scenario, past
    #: occurrences without an instance are run at once too (history made by the same simulation).
    scenario: Scenario | None = None


class AccountSeed(SeedModel):
    id: str
    name: str = ""
    plan: Plan = Plan.PRO
    client_id: str
    client_secret: str
    #: Per-second limits Zoom set for this account instead of its plan's (Zoom raises or sets
    #: them per account on request), by rate label.
    rate_limits: dict[RateLabel, int] = Field(default_factory=dict)
    users: list[UserSeed] = Field(default_factory=list)
    webinars: list[WebinarSeed] = Field(default_factory=list)


class SeedDocument(SeedModel):
    #: Where the emulator clock starts (it then runs unless ``clock_frozen``), at ``clock_speed``
    #: emulator seconds per real second.
    clock: SeedTime | None = None
    clock_frozen: bool = False
    clock_speed: float = Field(default=1.0, gt=0.0)
    accounts: list[AccountSeed] = Field(default_factory=list)


def generated_webinar_seed(
    *,
    clock: datetime,
    account_id: str,
    host_email: str,
    webinars: list[tuple[int, str, int, int, int, RecordingSeed | None]],
    topic: str = "Bench",
) -> SeedDocument:
    """One account and its host (user ``u-bench``), with large generated webinars that ended a day
    before ``clock``: per webinar (id, instance uuid, registrants, attendees, every how many
    attendees one rejoins, its recording). The benchmarks' world."""
    start = clock - timedelta(days=1)
    return SeedDocument(
        clock=clock,
        accounts=[
            AccountSeed(
                id=account_id,
                client_id="bench",
                client_secret="bench",
                users=[UserSeed(id="u-bench", email=host_email)],
                webinars=[
                    WebinarSeed(
                        id=number,
                        host_id="u-bench",
                        topic=topic,
                        start_time=start,
                        duration=120,
                        generate_registrants=GenerateRegistrants(count=registrants),
                        instances=[
                            InstanceSeed(
                                uuid=uuid,
                                start_time=start,
                                generate_sessions=GenerateSessions(attendees=attendees, rejoin_every=rejoin_every),
                                recording=recording,
                            )
                        ],
                    )
                    for number, uuid, registrants, attendees, rejoin_every, recording in webinars
                ],
            )
        ],
    )


def seed_now(data: Any, now: datetime | None = None) -> datetime:
    """The now relative seed times are read from: an absolute ``clock``, else ``now`` (or the wall clock)."""
    base = _whole_second(now or datetime.now(UTC))
    clock = data.get("clock") if isinstance(data, dict) else None
    if isinstance(clock, datetime):
        return clock if clock.tzinfo else clock.replace(tzinfo=UTC)
    if isinstance(clock, str) and relative_time(clock, base) is None:
        parsed = datetime.fromisoformat(clock.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return base


def parse_seed(data: Any, now: datetime | None = None) -> SeedDocument:
    """A seed from decoded YAML/JSON, its relative times read from ``seed_now(data, now)``."""
    return SeedDocument.model_validate(data or {}, context={"now": seed_now(data, now)})


def load_seed(path: Path, now: datetime | None = None) -> SeedDocument:
    return parse_seed(yaml.safe_load(path.read_text(encoding="utf-8")), now)


DEMO_SEED_PATH = Path(__file__).parent.parent / "seeds" / "demo.yaml"
