"""The emulator's seed format (YAML or JSON), shared by seed files and the admin API.

Seeds describe accounts (plan, client credentials), users, webinars with their registration form,
registrants, past instances with join sessions, and recordings. Large populations are generated
deterministically from ``generate_registrants`` / ``generate_sessions`` parameters.

Zoom Event marker (R-SCOPE-2): a webinar seeded with ``zoom_event: true`` is served with
``"creation_source": "zoom_events"`` (``facts.ZOOM_EVENTS_CREATION_SOURCE``); other
webinars carry ``"creation_source": "web_portal"``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from zoom_emulator.core.facts import Plan

RegistrantStatusName = Literal["approved", "pending", "denied", "cancelled"]


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


class RegistrantSeed(SeedModel):
    email: str
    first_name: str
    last_name: str = ""
    #: ``cancelled`` is listed by Zoom under ``status=denied``.
    status: RegistrantStatusName = "approved"
    id: str | None = None
    create_time: datetime | None = None


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
    join_time: datetime
    leave_time: datetime
    #: Guests' emails are hidden by Zoom: served as ``user_email: ""`` with empty ids (R-SCOPE-3).
    guest: bool = False


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
    file_size: int = 1_000_000
    #: Minutes after the instance ends before the file is ready (transcripts come later).
    available_after_minutes: float = 0.0


class RecordingSeed(SeedModel):
    files: list[RecordingFileSeed]
    #: A deleted (trashed) recording answers 404 code 3301 like a missing one.
    deleted: bool = False


class InstanceSeed(SeedModel):
    uuid: str
    start_time: datetime
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
    start_time: datetime
    duration: int = 60
    timezone: str = "UTC"
    approval_type: Literal[0, 1, 2] = 0
    #: Emails joined by ";" or "," as Zoom stores them.
    alternative_hosts: str = ""
    zoom_event: bool = False
    #: Occurrence start times of a recurring webinar (type 9).
    occurrences: list[datetime] = Field(default_factory=list)
    questions: list[StandardQuestionSeed] = Field(default_factory=list)
    custom_questions: list[CustomQuestionSeed] = Field(default_factory=list)
    registrants: list[RegistrantSeed] = Field(default_factory=list)
    generate_registrants: GenerateRegistrants | None = None
    instances: list[InstanceSeed] = Field(default_factory=list)


class AccountSeed(SeedModel):
    id: str
    name: str = ""
    plan: Plan = Plan.PRO
    client_id: str
    client_secret: str
    users: list[UserSeed] = Field(default_factory=list)
    webinars: list[WebinarSeed] = Field(default_factory=list)


class SeedDocument(SeedModel):
    #: Where the emulator clock starts (it then runs unless ``clock_frozen``).
    clock: datetime | None = None
    clock_frozen: bool = False
    accounts: list[AccountSeed] = Field(default_factory=list)


def load_seed(path: Path) -> SeedDocument:
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    return SeedDocument.model_validate(data or {})


DEMO_SEED_PATH = Path(__file__).parent.parent / "seeds" / "demo.yaml"
