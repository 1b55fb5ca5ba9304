"""Bodies of the CRM routes: contacts, account users, business units, Zoom connections, settings, audit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from engine.crm.accounts import CREDENTIALS_REF
from engine.crm.audit import AuditWarning
from engine.crm.numbers import PropertyValue
from engine.crm.segments import SegmentFilter
from engine.crm.tables import ParticipationState, SyncStatus, SyncTrigger
from engine.schema_hints import EMAIL_HINT, NOT_BLANK_HINT, hint, not_null


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


_NO_NUL = AfterValidator(_no_nul)


#: Ids are 32-bit in the store; a larger one is simply not found.
DbId = Annotated[int, Field(ge=1, le=2_147_483_647)]
PathId = Annotated[int, Path(ge=1, le=2_147_483_647)]
Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(max_length=500)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320), _NO_NUL, EMAIL_HINT]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), _NO_NUL]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), _NO_NUL, NOT_BLANK_HINT]
Reference = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    _NO_NUL,
    hint(pattern=r"^\s*" + CREDENTIALS_REF.pattern.strip("^$") + r"\s*$"),
]

_STRICT = ConfigDict(extra="forbid")


# --- contacts ---------------------------------------------------------------------------------


class ContactCreate(BaseModel):
    model_config = _STRICT

    email: Email
    first_name: Name | None = None
    last_name: Name | None = None
    properties: dict[str, PropertyValue] = Field(default_factory=dict, max_length=200)
    secondary_emails: list[Email] = Field(default_factory=list, max_length=50)
    business_unit_ids: list[DbId] = Field(default_factory=lambda: [1], max_length=50)


class ContactUpdate(BaseModel):
    """Only the fields sent change. ``properties`` is merged (null removes a property);
    ``secondary_emails`` and ``business_unit_ids`` replace the current lists."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=not_null("email", "properties", "secondary_emails", "business_unit_ids")
    )

    email: Email | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    properties: dict[str, PropertyValue] | None = Field(default=None, max_length=200)
    secondary_emails: list[Email] | None = Field(default=None, max_length=50)
    business_unit_ids: list[DbId] | None = Field(default=None, max_length=50)

    @model_validator(mode="after")
    def _not_null(self) -> ContactUpdate:
        for name in ("email", "properties", "secondary_emails", "business_unit_ids"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ContactRestore(BaseModel):
    model_config = _STRICT

    email: Email
    first_name: Name | None = None
    last_name: Name | None = None


class ContactOut(BaseModel):
    id: int
    email: str
    first_name: str | None
    last_name: str | None
    properties: dict[str, Any]
    secondary_emails: list[str]
    business_unit_ids: list[int]
    zoom_webinar_attendance_average_duration: float | None
    zoom_webinar_joinlink: str | None
    zoom_webinar_registration_count: int
    zoom_webinar_attendance_count: int
    created_at: datetime
    updated_at: datetime


class ContactSummary(BaseModel):
    id: int
    email: str
    first_name: str | None
    last_name: str | None
    zoom_webinar_attendance_average_duration: float | None
    zoom_webinar_joinlink: str | None
    zoom_webinar_registration_count: int
    zoom_webinar_attendance_count: int
    created_at: datetime


class ContactSearch(BaseModel):
    model_config = _STRICT

    filter: SegmentFilter | None = Field(default=None, description="a segment filter (see engine.crm.segments)")
    cursor: str | None = Field(default=None, max_length=500)
    limit: int = Field(default=100, ge=1, le=500)


class ContactPage(BaseModel):
    contacts: list[ContactSummary]
    next_cursor: str | None


class TimelineEventOut(BaseModel):
    id: int
    kind: str
    occurred_at: datetime
    marketing_event_id: int | None
    recording_id: int | None
    data: dict[str, Any]


class TimelinePageOut(BaseModel):
    events: list[TimelineEventOut]
    next_cursor: str | None


class ParticipationOut(BaseModel):
    marketing_event_id: int
    zoom_webinar_id: str
    webinar_name: str
    webinar_start_time: datetime | None
    state: ParticipationState
    registered_at: datetime | None
    cancelled_at: datetime | None
    attended: bool
    join_link: str | None
    attendance_seconds: int
    attendance_percent: float | None


# --- account users, business units, Zoom connections --------------------------------------------


class AccountUserCreate(BaseModel):
    model_config = _STRICT

    email: Email
    name: Name | None = None


class AccountUserOut(BaseModel):
    id: int
    email: str
    name: str | None
    created_at: datetime


class BusinessUnitCreate(BaseModel):
    model_config = _STRICT

    name: Label


class BusinessUnitOut(BaseModel):
    id: int
    name: str
    is_primary: bool


_SECRET_WORDS = ("secret", "password", "token", "api_key", "apikey", "private_key")


class ZoomConnectionCreate(BaseModel):
    """Credentials are given by reference only: ``env:ZOOM_MAIN`` or ``file:/etc/rollcall/zoom.json#main``."""

    model_config = _STRICT

    business_unit_id: DbId
    name: Label
    zoom_account_id: Label
    connected_by_email: Email
    credentials_ref: Reference

    @model_validator(mode="before")
    @classmethod
    def _no_raw_secret(cls, data: Any) -> Any:
        if isinstance(data, dict):
            raw = [key for key in data if isinstance(key, str) and any(word in key.lower() for word in _SECRET_WORDS)]
            if raw:
                raise ValueError(
                    f"raw secrets are never stored ({', '.join(sorted(raw))}); give credentials_ref as "
                    "env:VARIABLE or file:/path#entry instead"
                )
        return data


class ZoomConnectionOut(BaseModel):
    id: int
    business_unit_id: int
    name: str
    zoom_account_id: str
    connected_by_email: str
    credentials_ref: str
    created_at: datetime


class ZoomUserPut(BaseModel):
    """R-SET-7. A switch left out keeps its value (on for a new user)."""

    model_config = _STRICT

    email: Email
    sync_new_webinars_by_default: bool | None = None
    sync_recordings: bool | None = None


class ZoomUserOut(BaseModel):
    connection_id: int
    zoom_user_id: str
    email: str
    sync_new_webinars_by_default: bool
    sync_recordings: bool


class WebinarOverridePut(BaseModel):
    model_config = _STRICT

    sync_enabled: bool


class WebinarOverrideOut(BaseModel):
    zoom_webinar_id: str
    sync_enabled: bool


# --- audit ---------------------------------------------------------------------------------------


class AuditEntryOut(BaseModel):
    id: int
    run_key: str
    zoom_webinar_id: str
    business_unit_id: int | None
    trigger: SyncTrigger
    status: SyncStatus
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int]
    warnings: list[AuditWarning]


class AuditPageOut(BaseModel):
    entries: list[AuditEntryOut]
    next_cursor: str | None
