"""Sync settings (R-SET-1…7): the account-level row, Zoom users' own switches and per-webinar overrides."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from engine.crm.accounts import get_zoom_connection
from engine.crm.bulk import connection_of, upsert
from engine.crm.emails import normalise_domain, normalise_email
from engine.crm.errors import AdminRequired, ZoomUserNotFound
from engine.crm.tables import (
    SYNC_SETTINGS_ID,
    RecordingSyncScope,
    SyncSettings,
    WebinarSyncScope,
    ZoomUser,
    ZoomWebinarOverride,
    table_of,
    utcnow,
)
from engine.schema_hints import DOMAIN_HINT, EMAIL_HINT

ZOOM_USERS = table_of(ZoomUser)
OVERRIDES = table_of(ZoomWebinarOverride)


def _domains(values: list[str]) -> list[str]:
    return sorted({normalise_domain(value) for value in values})


def _emails(values: list[str]) -> list[str]:
    return sorted({normalise_email(value) for value in values})


Domains = Annotated[list[Annotated[str, DOMAIN_HINT]], AfterValidator(_domains), Field(max_length=500)]
Emails = Annotated[list[Annotated[str, EMAIL_HINT]], AfterValidator(_emails), Field(max_length=5000)]


class SyncSettingsValues(BaseModel):
    """The account-level settings as a whole (what ``PUT /v1/sync-settings`` takes and GET returns)."""

    model_config = ConfigDict(extra="forbid")

    sync_enabled: bool = False
    webinar_sync: WebinarSyncScope = WebinarSyncScope.ALL
    webinar_sync_users: Emails = Field(default_factory=list, description="Zoom hosts synced when webinar_sync=selected")
    recording_sync: RecordingSyncScope = RecordingSyncScope.ALL
    recording_sync_users: Emails = Field(default_factory=list, description="Zoom hosts synced when recording_sync=some")
    host_exclusion_domains: Domains = Field(default_factory=list)
    recording_exclusion_domains: Domains = Field(default_factory=list)
    recording_exclusion_users: Emails = Field(default_factory=list)
    contact_exclusion_domains: Domains = Field(default_factory=list)


def get_sync_settings(session: Session) -> SyncSettings:
    settings = session.get(SyncSettings, SYNC_SETTINGS_ID)
    # The migration creates the row; a store without it was not migrated by us.
    assert settings is not None, "sync_settings row missing: run `rollcall db upgrade`"
    return settings


def settings_values(settings: SyncSettings) -> SyncSettingsValues:
    return SyncSettingsValues.model_validate(settings.model_dump(exclude={"id", "updated_at"}))


def put_sync_settings(session: Session, values: SyncSettingsValues, *, admin: bool) -> SyncSettings:
    """Replace the settings. R-SET-1: turning global sync on needs an admin; turning it off does not."""
    settings = get_sync_settings(session)
    if values.sync_enabled and not settings.sync_enabled and not admin:
        raise AdminRequired(
            "only an admin can turn global sync on (use an API key with the admin role)",
            details={"field": "sync_enabled"},
        )
    for name, value in values.model_dump(mode="json").items():
        setattr(settings, name, value)
    settings.updated_at = utcnow()
    session.add(settings)
    session.flush()
    return settings


def list_zoom_users(session: Session, connection_id: int) -> list[ZoomUser]:
    get_zoom_connection(session, connection_id)
    query = sa.select(ZoomUser).where(ZOOM_USERS.c.connection_id == connection_id).order_by(ZOOM_USERS.c.id)
    return list(session.scalars(query))


def get_zoom_user(session: Session, connection_id: int, zoom_user_id: str) -> ZoomUser:
    query = sa.select(ZoomUser).where(
        ZOOM_USERS.c.connection_id == connection_id, ZOOM_USERS.c.zoom_user_id == zoom_user_id
    )
    user = session.scalars(query).first()
    if user is None:
        raise ZoomUserNotFound(f"no Zoom user {zoom_user_id!r} in connection {connection_id}")
    return user


def put_zoom_user(
    session: Session,
    connection_id: int,
    zoom_user_id: str,
    *,
    email: str,
    sync_new_webinars_by_default: bool | None = None,
    sync_recordings: bool | None = None,
) -> ZoomUser:
    """Create or update a Zoom user (the sync calls it for hosts it meets; the API for R-SET-7).
    ``None`` keeps a switch as it is (on for a new user)."""
    get_zoom_connection(session, connection_id)
    connection = connection_of(session)
    row = {
        "connection_id": connection_id,
        "zoom_user_id": zoom_user_id,
        "email": normalise_email(email),
        "sync_new_webinars_by_default": True if sync_new_webinars_by_default is None else sync_new_webinars_by_default,
        "sync_recordings": True if sync_recordings is None else sync_recordings,
        "updated_at": utcnow(),
    }
    update = ["email", "updated_at"]
    if sync_new_webinars_by_default is not None:
        update.append("sync_new_webinars_by_default")
    if sync_recordings is not None:
        update.append("sync_recordings")
    upsert(connection, ZOOM_USERS, [row], key=["connection_id", "zoom_user_id"], update=update)
    user = get_zoom_user(session, connection_id, zoom_user_id)
    session.refresh(user)
    return user


def list_webinar_overrides(session: Session, connection_id: int, zoom_user_id: str) -> list[ZoomWebinarOverride]:
    user = get_zoom_user(session, connection_id, zoom_user_id)
    query = (
        sa.select(ZoomWebinarOverride).where(OVERRIDES.c.zoom_user_id == user.id).order_by(OVERRIDES.c.zoom_webinar_id)
    )
    return list(session.scalars(query))


def put_webinar_override(
    session: Session, connection_id: int, zoom_user_id: str, zoom_webinar_id: str, *, sync_enabled: bool
) -> ZoomWebinarOverride:
    """R-SET-7 "manage individual webinars": sync one webinar of this user on or off."""
    user = get_zoom_user(session, connection_id, zoom_user_id)
    upsert(
        connection_of(session),
        OVERRIDES,
        [
            {
                "zoom_user_id": user.id,
                "zoom_webinar_id": zoom_webinar_id,
                "sync_enabled": sync_enabled,
                "updated_at": utcnow(),
            }
        ],
        key=["zoom_user_id", "zoom_webinar_id"],
        update=["sync_enabled", "updated_at"],
    )
    query = sa.select(ZoomWebinarOverride).where(
        OVERRIDES.c.zoom_user_id == user.id, OVERRIDES.c.zoom_webinar_id == zoom_webinar_id
    )
    override = session.scalars(query).one()
    session.refresh(override)
    return override


def delete_webinar_override(session: Session, connection_id: int, zoom_user_id: str, zoom_webinar_id: str) -> bool:
    """Back to the user's default for that webinar; False when there was no override."""
    user = get_zoom_user(session, connection_id, zoom_user_id)
    removed = connection_of(session).execute(
        sa.delete(OVERRIDES).where(OVERRIDES.c.zoom_user_id == user.id, OVERRIDES.c.zoom_webinar_id == zoom_webinar_id)
    )
    return removed.rowcount > 0
