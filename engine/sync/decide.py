"""Whether a webinar, and its recordings, are synced (R-SET-1…8, R-SCOPE-2): a pure function of
the settings rows and the webinar's facts, so the reason a webinar was skipped is exact."""

from __future__ import annotations

from dataclasses import dataclass

from engine.crm.emails import domain_is_excluded
from engine.crm.tables import RecordingSyncScope, SyncSettings, WebinarSyncScope, ZoomUser, ZoomWebinarOverride


class SettingOff(str):
    """A skip reason that is a sync setting turned off (R-AUD-1's SYNC_SETTING_OFF), in words."""

    __slots__ = ()


def is_setting_reason(reason: str) -> bool:
    """Whether a skip reason is a sync setting that is off (made by ``decide``), rather than a rule
    of scope or a missing webinar (only WEBINAR_DATA_NOT_SYNCED, R-AUD-4)."""
    return isinstance(reason, SettingOff)


@dataclass(frozen=True)
class Decision:
    sync: bool
    recordings: bool
    #: Why the webinar is not synced: the setting (or the scope rule), in words, for the audit entry.
    reason: str | None = None
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
            SettingOff("global sync (sync_enabled) is off; an admin must turn it on"),
            "global sync is off",
        )
    if is_zoom_event:
        return Decision(False, False, "the webinar belongs to a Zoom Event, which Rollcall does not sync")
    if settings.webinar_sync == WebinarSyncScope.NONE:
        return Decision(
            False, False, SettingOff("the setting 'sync webinar data' is set to none"), "webinar data sync is off"
        )
    if settings.webinar_sync == WebinarSyncScope.SELECTED and host not in settings.webinar_sync_users:
        return Decision(
            False,
            False,
            SettingOff(
                f"the setting 'sync webinar data' covers selected users only, and the host {host or '(unknown)'} "
                "is not one"
            ),
        )
    if host and domain_is_excluded(host, frozenset(settings.host_exclusion_domains)):
        return Decision(
            False, False, SettingOff(f"the host's domain ({host.rpartition('@')[2]}) is in the host exclusion domains")
        )
    if override is not None and not override.sync_enabled:
        return Decision(False, False, SettingOff("this webinar's override (per Zoom user) turns its sync off"))
    if override is None and zoom_user is not None and not zoom_user.sync_new_webinars_by_default:
        return Decision(
            False,
            False,
            SettingOff("the host's 'sync new webinars by default' is off and this webinar has no override"),
        )
    return Decision(True, *_recordings(settings, host, zoom_user))


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
