"""Recording downloads as Zoom serves them: who may download, and the bytes of each file.

``download_url`` (``{base}/rec/download/{file_id}``) takes the account's OAuth access token (header
``Authorization: Bearer …`` or query ``access_token=…``) or a recording webhook's
``download_token`` (same two places), answers 401 without one and 404 for an unknown or not yet
ready file, and redirects (302) to a short-lived signed storage URL (``{base}/rec/files/…``), like
Zoom's redirect to its file storage. The transcript (and captions) are real WebVTT and the chat a
text file, made from the instance's join sessions; MP4/M4A are only described (``file_size``),
never served.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from zoom_emulator.core.scenarios import Scenario, scenario_rng
from zoom_emulator.core.state import EmulatorState, Instance, RecordingFile, Session, Webinar
from zoom_emulator.core.transcript import Speaker, clean_name, render_chat, render_transcript

#: How long the signed storage URL of a redirect stays valid (emulator seconds).
SIGNED_URL_LIFETIME_SECONDS = 300
#: Attendees present this long (seconds) may be picked to speak.
MIN_SPEAKER_PRESENCE_SECONDS = 300
_CACHE_SIZE = 8


class DownloadRefused(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Grant:
    """An authorised download: the instance and file, and where to send the client."""

    instance: Instance
    file: RecordingFile


def authorize(state: EmulatorState, file_id: str, token: str, now: datetime) -> Grant:
    """Zoom's access rules for ``download_url`` (401 before 404, so ids cannot be probed)."""
    found = state.files.get(file_id)
    instance = found[0] if found else None
    account_id = _token_account(state, token, instance, now.timestamp())
    if found is None or instance is None:
        raise DownloadRefused(404, 3301, "This recording does not exist.")
    webinar = state.webinars[instance.webinar_id]
    recording = instance.recording
    if account_id != webinar.account_id:
        raise DownloadRefused(401, 124, "Invalid access token.")
    if recording is None or found[1] not in recording.ready_files(now):
        raise DownloadRefused(404, 3301, "This recording does not exist.")
    return Grant(instance, found[1])


def _token_account(state: EmulatorState, token: str, instance: Instance | None, now: float) -> str:
    """The account the token speaks for: an OAuth access token's, or a download token's (only for
    the instance it was issued with)."""
    if not token:
        raise DownloadRefused(401, 124, "Invalid access token.")
    issued = state.tokens.get(token)
    if issued is not None:
        account_id, expires_at = issued
        if now >= expires_at:
            raise DownloadRefused(401, 124, "Access token is expired.")
        return account_id
    download = state.download_tokens.get(token)
    if download is None:
        raise DownloadRefused(401, 124, "Invalid access token.")
    uuid, expires_at = download
    if now >= expires_at:
        raise DownloadRefused(401, 124, "Access token is expired.")
    if instance is None or instance.uuid != uuid:
        raise DownloadRefused(401, 124, "Invalid access token.")
    return state.webinars[instance.webinar_id].account_id


class FileStore:
    """Signs storage URLs and renders (and keeps a few) file contents."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)
        self._cache: OrderedDict[tuple[str, int], bytes] = OrderedDict()

    def signature(self, file_id: str, expires: int) -> str:
        return hmac.new(self._secret, f"{file_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    def signed_query(self, file_id: str, now: float) -> str:
        expires = int(now) + SIGNED_URL_LIFETIME_SECONDS
        return f"expires={expires}&signature={self.signature(file_id, expires)}"

    def check(self, file_id: str, expires: int, signature: str, now: float) -> bool:
        return now < expires and hmac.compare_digest(self.signature(file_id, expires), signature)

    def content(self, state: EmulatorState, instance: Instance, file: RecordingFile) -> bytes | None:
        """The file's bytes, exactly ``file_size`` long; ``None`` for video and audio."""
        if file.file_type not in ("TRANSCRIPT", "CC", "CHAT"):
            return None
        key = (file.id, file.file_size)
        cached = self._cache.get(key)
        if cached is None:
            cached = render_file(state.webinars[instance.webinar_id], instance, file)
            self._cache[key] = cached
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        return cached


def render_file(webinar: Webinar, instance: Instance, file: RecordingFile) -> bytes:
    speakers = speakers_of(webinar, instance)
    seconds = instance.duration * 60.0
    if file.file_type == "CHAT":
        return render_chat(duration_seconds=seconds, speakers=speakers, size=file.file_size, seed=file.id)
    return render_transcript(
        topic=webinar.topic, duration_seconds=seconds, speakers=speakers, size=file.file_size, seed=file.id
    )


def speakers_of(webinar: Webinar, instance: Instance) -> list[Speaker]:
    """Who speaks: the host (a participant or not) and panelists throughout; scripted speakers and
    ``scenario.speakers`` attendees drawn among those present at least five minutes."""
    scenario = webinar.scenario or Scenario()
    windows = _windows(instance)
    host_name = clean_name(f"{webinar.host.first_name} {webinar.host.last_name}") or "Host"
    leads = [Speaker(name, role, tuple(w)) for (name, role), w in windows.items() if role in ("host", "panelist")]
    if not any(s.role == "host" for s in leads):
        leads.insert(0, Speaker(host_name, "host", ()))
    scripted = {clean_name(a.name) for a in scenario.attendees if a.speaks and a.name} | {
        a.email.lower() for a in scenario.attendees if a.speaks and a.email
    }
    attendees = [(key, w) for key, w in windows.items() if key[1] == "attendee"]
    # A scripted speaker is named, or joined with a scripted email (each session read once: a
    # 100,000-attendee webinar has few distinct names but many sessions).
    scripted |= {clean_name(s.name) for s in instance.sessions if s.email and s.email.lower() in scripted}
    chosen = [Speaker(name, role, tuple(w)) for (name, role), w in attendees if name in scripted]
    eligible = [(key, w) for key, w in attendees if sum(b - a for a, b in w) >= MIN_SPEAKER_PRESENCE_SECONDS]
    rng = scenario_rng(scenario, f"speakers:{instance.uuid}")
    drawn = rng.sample(eligible, min(scenario.speakers, len(eligible)))
    chosen += [Speaker(name, role, tuple(w)) for (name, role), w in drawn if all(s.name != name for s in chosen)]
    return leads + chosen


def _windows(instance: Instance) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """Each participant's presence (seconds from the start), keyed by display name and role."""
    windows: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for session in instance.sessions:
        key = (clean_name(session.name), session.role)
        windows.setdefault(key, []).append(_window(instance, session))
    return windows


def _window(instance: Instance, session: Session) -> tuple[float, float]:
    return (
        (session.join_time - instance.start_time).total_seconds(),
        (session.leave_time - instance.start_time).total_seconds(),
    )
