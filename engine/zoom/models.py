"""Typed views of Zoom's JSON (field names as in zoom-openapi-subset.json).

Models tolerate unknown fields (Zoom adds fields over time) and keep only what Rollcall reads.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

#: R-SCOPE-2: Zoom documents no flag for webinars created by Zoom Events. Rollcall's rule, shared
#: by the emulator and the sync: a webinar whose ``creation_source`` is this value is a Zoom Event
#: webinar and is skipped.
ZOOM_EVENTS_CREATION_SOURCE = "zoom_events"


def _to_str(value: Any) -> Any:
    # Zoom sends ids as numbers in some payloads and strings in others.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


IdStr = Annotated[str, BeforeValidator(_to_str)]


class ZoomModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ApprovalType(IntEnum):
    AUTOMATIC = 0
    MANUAL = 1
    NO_REGISTRATION = 2


class RegistrantStatus(StrEnum):
    APPROVED = "approved"
    PENDING = "pending"
    DENIED = "denied"


class RegistrantAction(StrEnum):
    APPROVE = "approve"
    DENY = "deny"
    CANCEL = "cancel"


class WebinarListType(StrEnum):
    SCHEDULED = "scheduled"
    UPCOMING = "upcoming"


class ZoomUser(ZoomModel):
    id: str
    email: str
    first_name: str = ""
    last_name: str = ""
    type: int | None = None
    status: str | None = None
    account_id: str | None = None
    timezone: str | None = None


class WebinarSettings(ZoomModel):
    approval_type: ApprovalType = ApprovalType.NO_REGISTRATION
    alternative_hosts: list[str] = Field(default_factory=list)
    registrants_email_notification: bool | None = None
    auto_recording: str | None = None

    @field_validator("alternative_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        # Zoom joins alternative hosts' emails with ";" (sometimes ",") in one string.
        if isinstance(value, str):
            return [part.strip().lower() for part in re.split(r"[;,]", value) if part.strip()]
        return value


class Occurrence(ZoomModel):
    occurrence_id: str
    start_time: datetime | None = None
    duration: int | None = None
    status: str | None = None


class WebinarSummary(ZoomModel):
    """A webinar as listed by ``GET /users/{userId}/webinars``."""

    id: IdStr
    uuid: str | None = None
    host_id: str | None = None
    topic: str = ""
    type: int | None = None
    start_time: datetime | None = None
    duration: int | None = None
    timezone: str | None = None
    join_url: str | None = None
    is_simulive: bool | None = None


class Webinar(WebinarSummary):
    host_email: str | None = None
    registration_url: str | None = None
    creation_source: str | None = None
    occurrences: list[Occurrence] = Field(default_factory=list)
    settings: WebinarSettings = Field(default_factory=WebinarSettings)

    @property
    def is_zoom_event(self) -> bool:
        """R-SCOPE-2, see ``ZOOM_EVENTS_CREATION_SOURCE``."""
        return self.creation_source == ZOOM_EVENTS_CREATION_SOURCE

    @property
    def registration_enabled(self) -> bool:
        return self.settings.approval_type != ApprovalType.NO_REGISTRATION


class StandardQuestion(ZoomModel):
    field_name: str
    required: bool = False


class CustomQuestion(ZoomModel):
    title: str
    type: str | None = None
    required: bool = False
    answers: list[str] = Field(default_factory=list)


class RegistrationQuestions(ZoomModel):
    questions: list[StandardQuestion] = Field(default_factory=list)
    custom_questions: list[CustomQuestion] = Field(default_factory=list)

    def extra_required_fields(self) -> list[str]:
        """Required fields beyond first name and email (R-ADD-5); custom ones by their title.

        ``last_name`` counts as allowed: R-ADD-1 sends it.
        """
        standard = [q.field_name for q in self.questions if q.required and q.field_name != "last_name"]
        return standard + [q.title for q in self.custom_questions if q.required]


class CustomAnswer(ZoomModel):
    title: str
    value: str = ""


class Registrant(ZoomModel):
    id: str
    email: str
    first_name: str = ""
    last_name: str = ""
    status: RegistrantStatus | None = None
    create_time: datetime | None = None
    join_url: str | None = None
    custom_questions: list[CustomAnswer] = Field(default_factory=list)


class RegistrantCreated(ZoomModel):
    """The 201 answer of ``POST /webinars/{id}/registrants``.

    Its ``id`` is the **webinar's** id (docs/zoom.md, "Registrants"); the registrant's id is ``registrant_id``.
    """

    webinar_id: IdStr = Field(alias="id")
    registrant_id: str
    join_url: str | None = None
    topic: str | None = None
    start_time: datetime | None = None
    occurrences: list[Occurrence] = Field(default_factory=list)


class NewRegistrant(ZoomModel):
    """The body of an add-registrant request; R-ADD-1 uses only the first three fields."""

    model_config = ConfigDict(extra="forbid")

    email: str
    first_name: str
    last_name: str = ""


class ParticipantSession(ZoomModel):
    """One row of the participants report: one **join session** (a rejoin is another row).

    Guests have ``user_email == ""`` and empty ``id`` / ``participant_user_id`` (R-SCOPE-3).
    """

    id: str = ""
    participant_user_id: str = ""
    user_id: str = ""
    name: str = ""
    user_email: str = ""
    join_time: datetime | None = None
    leave_time: datetime | None = None
    duration: int = 0
    status: str | None = None
    registrant_id: str | None = None

    @property
    def has_email(self) -> bool:
        return bool(self.user_email)


class PastParticipant(ZoomModel):
    """A row of ``GET /past_webinars/{id|uuid}/participants``."""

    id: str = ""
    user_id: str = ""
    name: str = ""
    user_email: str = ""
    registrant_id: str | None = None
    join_time: datetime | None = None
    leave_time: datetime | None = None
    duration: int | None = None
    status: str | None = None


class PastInstance(ZoomModel):
    uuid: str
    start_time: datetime | None = None


class RecordingFileType(StrEnum):
    MP4 = "MP4"
    M4A = "M4A"
    CHAT = "CHAT"
    TRANSCRIPT = "TRANSCRIPT"
    CC = "CC"


class RecordingFile(ZoomModel):
    id: str = ""
    meeting_id: str = ""
    recording_start: datetime | None = None
    recording_end: datetime | None = None
    file_type: str = ""
    file_extension: str = ""
    file_size: float | None = None
    play_url: str | None = None
    download_url: str | None = None
    status: str | None = None
    recording_type: str | None = None

    @property
    def is_transcript(self) -> bool:
        return self.file_type == RecordingFileType.TRANSCRIPT


class Recording(ZoomModel):
    uuid: str
    id: IdStr
    host_id: str | None = None
    topic: str = ""
    start_time: datetime | None = None
    duration: int | None = None
    share_url: str | None = None
    recording_files: list[RecordingFile] = Field(default_factory=list)

    @property
    def transcript(self) -> RecordingFile | None:
        return next((f for f in self.recording_files if f.is_transcript), None)


class AccessToken(ZoomModel):
    access_token: str = Field(repr=False)
    token_type: str = "bearer"
    expires_in: int
    scope: str = ""
    api_url: str | None = None
