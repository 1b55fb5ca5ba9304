"""Whether a webinar, and its recordings, are synced (R-SET-1…8, R-SCOPE-2): a pure function of
the settings rows and the webinar's facts, so the reason a webinar was skipped is exact.
``decision_for`` reads those rows for one webinar of a connection and applies it: the sync's plan
and the reconciliation decide the same way."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.crm.emails import domain_is_excluded
from engine.crm.sync_settings import get_sync_settings
from engine.crm.tables import (
    RecordingSyncScope,
    SyncSettings,
    WebinarSyncScope,
    ZoomUser,
    ZoomWebinarOverride,
    table_of,
)

USERS = table_of(ZoomUser)
OVERRIDES = table_of(ZoomWebinarOverride)


class SkipKind(StrEnum):
    """What kind of reason stops a webinar's sync: it decides its audit entry's warnings."""

    #: A sync setting is off: ``SYNC_SETTING_OFF`` naming it, then ``WEBINAR_DATA_NOT_SYNCED`` (R-AUD-1).
    SETTING_OFF = "setting_off"
    #: A rule of scope (a Zoom Event) or a webinar Zoom no longer has: ``WEBINAR_DATA_NOT_SYNCED`` only (R-AUD-4).
    NOT_SYNCED = "not_synced"
    #: The sync cannot go on (its connection is not in the store): ``SYNC_ERROR`` (R-AUD-6).
    ERROR = "error"


@dataclass(frozen=True)
class SkipReason:
    """Why a webinar is not synced: its kind, and the reason in words for the audit entry."""

    kind: SkipKind
    text: str


def _setting_off(text: str) -> SkipReason:
    return SkipReason(SkipKind.SETTING_OFF, text)


@dataclass(frozen=True)
class Decision:
    sync: bool
    recordings: bool
    #: Why the webinar is not synced: the setting (or the scope rule), for the audit entry.
    reason: SkipReason | None = None
    recording_reason: str | None = None


def decide(
    settings: SyncSettings,
    *,
    host_email: str | None,
    zoom_user: ZoomUser | None,
    override: ZoomWebinarOverride | None,
    is_zoom_event: bool,
) -> Decision:
    host = (host_email or "").lower()
    if not settings.sync_enabled:
        return Decision(
            False,
            False,
            _setting_off("global sync (sync_enabled) is off; an admin must turn it on"),
            "global sync is off",
        )
    if is_zoom_event:
        return Decision(
            False,
            False,
            SkipReason(SkipKind.NOT_SYNCED, "the webinar belongs to a Zoom Event, which Rollcall does not sync"),
        )
    if settings.webinar_sync == WebinarSyncScope.NONE:
        return Decision(
            False, False, _setting_off("the setting 'sync webinar data' is set to none"), "webinar data sync is off"
        )
    if settings.webinar_sync == WebinarSyncScope.SELECTED and host not in settings.webinar_sync_users:
        return Decision(
            False,
            False,
            _setting_off(
                f"the setting 'sync webinar data' covers selected users only, and the host {host or '(unknown)'} "
                "is not one"
            ),
        )
    if host and domain_is_excluded(host, frozenset(settings.host_exclusion_domains)):
        return Decision(
            False,
            False,
            _setting_off(f"the host's domain ({host.rpartition('@')[2]}) is in the host exclusion domains"),
        )
    if override is not None and not override.sync_enabled:
        return Decision(False, False, _setting_off("this webinar's override (per Zoom user) turns its sync off"))
    if override is None and zoom_user is not None and not zoom_user.sync_new_webinars_by_default:
        return Decision(
            False,
            False,
            _setting_off("the host's 'sync new webinars by default' is off and this webinar has no override"),
        )
    recordings, recording_reason = _recordings(settings, host, zoom_user)
    return Decision(True, recordings, recording_reason=recording_reason)


def decision_for(
    session: Session,
    connection_id: int,
    *,
    webinar_id: str,
    host_id: str | None,
    host_email: str | None,
    is_zoom_event: bool,
) -> Decision:
    """``decide`` for one webinar of a connection, with the store's settings, the host's Zoom user
    (by Zoom user id, in that connection) and that user's override for the webinar, if any."""
    user = session.scalars(
        sa.select(ZoomUser).where(USERS.c.connection_id == connection_id, USERS.c.zoom_user_id == (host_id or ""))
    ).first()
    override = None
    if user is not None:
        override = session.scalars(
            sa.select(ZoomWebinarOverride).where(
                OVERRIDES.c.zoom_user_id == user.id, OVERRIDES.c.zoom_webinar_id == webinar_id
            )
        ).first()
    return decide(
        get_sync_settings(session),
        host_email=host_email,
        zoom_user=user,
        override=override,
        is_zoom_event=is_zoom_event,
    )


def _recordings(settings: SyncSettings, host: str, zoom_user: ZoomUser | None) -> tuple[bool, str | None]:
    if settings.recording_sync == RecordingSyncScope.NONE:
        return False, "the setting 'sync recordings and transcripts' is set to none"
    if settings.recording_sync == RecordingSyncScope.SOME and host not in settings.recording_sync_users:
        return False, "the setting 'sync recordings and transcripts' covers some users only, and the host is not one"
    if zoom_user is not None and not zoom_user.sync_recordings:
        return False, "the host's 'sync this user's recordings and transcripts' is off"
    if host and (
        host in settings.recording_exclusion_users
        or domain_is_excluded(host, frozenset(settings.recording_exclusion_domains))
    ):
        return False, "the host is in the recording exclusions (users or domains)"
    return True, None
