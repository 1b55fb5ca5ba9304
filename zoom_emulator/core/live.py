"""Webinars that happen: the emulator runs each occurrence on its clock and tells Zoom's webhooks.

At an occurrence's start it creates the instance (its own UUID), plans who attends from the
webinar's scenario (``scenarios.py``) and emits ``webinar.started``; each planned join session then
emits ``webinar.participant_joined`` and ``…_left`` at its times; at the end ``webinar.ended``;
after the processing delays ``recording.completed`` (video and audio, with a ``download_token``)
and ``recording.transcript_completed``. The participants report, past instances and recordings
are served from the same instance once it has ended. Jobs run in order from ``EmulatorState.
scheduler`` whatever the clock's speed or jumps; each event's ``event_ts`` is the job's moment.
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from zoom_emulator.core.clock import EmulatorClock
from zoom_emulator.core.events import ended_object, participant_object, recording_object, webinar_object
from zoom_emulator.core.scenarios import Person, Scenario, plan_attendance
from zoom_emulator.core.scheduler import Job
from zoom_emulator.core.seeds import RecordingFileSeed, RecordingSeed, SessionSeed
from zoom_emulator.core.state import EmulatorState, Instance, RecordingFile, Webinar
from zoom_emulator.core.webhooks import WebhookEmitter

#: Zoom's ``download_token`` is valid for 24 hours.
DOWNLOAD_TOKEN_LIFETIME_SECONDS = 24 * 3600
TRANSCRIPT_TYPES = ("TRANSCRIPT", "CC")
#: Audio-only M4A at about 64 kbit/s.
AUDIO_BYTES_PER_MINUTE = 480_000


class World(Protocol):
    """What the jobs act on (``Emulator`` is one)."""

    clock: EmulatorClock
    state: EmulatorState
    webhooks: WebhookEmitter

    @property
    def base_url(self) -> str: ...


# --- planning ----------------------------------------------------------------------------------


def schedule_webinar(state: EmulatorState, webinar: Webinar, now: datetime) -> int:
    """Schedule the start of every occurrence to run: those still to come, and — when the webinar
    has an explicit scenario — past ones without an instance (run at once). Returns how many."""
    planned = {j.args.get("start") for j in state.scheduler.pending() if j.args.get("webinar_id") == webinar.id}
    added = 0
    for start in webinar.occurrence_starts():
        key = start.isoformat()
        if key in planned or webinar.instance_at(start) is not None:
            continue
        if start > now or webinar.scenario is not None:
            state.scheduler.add(start.timestamp(), "start", webinar_id=webinar.id, start=key)
            added += 1
    return added


def schedule_recording_events(state: EmulatorState, instance: Instance, since: datetime) -> None:
    """``recording.completed`` when the last video/audio file is ready, ``…transcript_completed``
    when each transcript is — for the files that become ready from ``since`` on."""
    recording = instance.recording
    if recording is None or recording.deleted:
        return
    media = [f.available_at for f in recording.files if f.file_type not in TRANSCRIPT_TYPES]
    if media and max(media) >= since:
        state.scheduler.add(max(media).timestamp(), "recording", uuid=instance.uuid)
    for moment in sorted({f.available_at for f in recording.files if f.file_type in TRANSCRIPT_TYPES}):
        if moment >= since:
            state.scheduler.add(moment.timestamp(), "transcript", uuid=instance.uuid)


def instance_uuid(webinar: Webinar, start: datetime) -> str:
    """A one-time webinar's first instance has the UUID its webinar showed; each occurrence of a
    recurring one its own (base64 of 16 bytes, so it may hold ``/`` and ``+`` like Zoom's)."""
    if webinar.type == 5 and not webinar.instances:
        return webinar.current_uuid()
    digest = hashlib.sha256(f"instance|{webinar.id}|{start.isoformat()}".encode()).digest()[:16]
    return base64.b64encode(digest).decode()


# --- running -----------------------------------------------------------------------------------


def run_due(world: World) -> int:
    """Run every job whose moment has come, in order; returns how many ran."""
    ran = 0
    while (job := world.state.scheduler.pop_due(world.clock.timestamp())) is not None:
        HANDLERS[job.kind](world, job)
        ran += 1
    return ran


def _event_ts(job: Job) -> int:
    return int(job.at * 1000)


def _moment(job: Job) -> datetime:
    return datetime.fromtimestamp(job.at, UTC)


def _start(world: World, job: Job) -> None:
    state = world.state
    webinar = state.webinars.get(int(job.args["webinar_id"]))
    start = datetime.fromisoformat(str(job.args["start"]))
    if webinar is None or webinar.instance_at(start) is not None:
        return
    scenario = webinar.scenario or Scenario()
    minutes = max(1, math.ceil(scenario.actual_duration_minutes or webinar.duration))
    instance = Instance(instance_uuid(webinar, start), webinar.id, start, minutes)
    webinar.instances.append(instance)
    state.instances[instance.uuid] = instance
    hosts = webinar.host_emails()
    registrants = [
        Person(r.email, r.first_name, r.last_name)
        for r in webinar.registrants.values()
        if r.status == "approved" and r.email.lower() not in hosts
    ]
    host = Person(webinar.host.email, webinar.host.first_name, webinar.host.last_name)
    plan = plan_attendance(
        scenario, instance_key=instance.uuid, start=start, end=instance.end_time, host=host, registrants=registrants
    )
    for planned in plan:
        state.add_session(
            webinar,
            instance,
            SessionSeed(name=planned.name, email=planned.email, guest=planned.guest, role=planned.role,
                        join_time=planned.join, leave_time=planned.leave),
        )  # fmt: skip
    world.webhooks.emit(
        webinar.account_id, "webinar.started", webinar_object(webinar, instance), event_ts=_event_ts(job)
    )
    for index, session in enumerate(instance.sessions):
        state.scheduler.add(session.join_time.timestamp(), "join", uuid=instance.uuid, session=index)
        state.scheduler.add(session.leave_time.timestamp(), "leave", uuid=instance.uuid, session=index)
    state.scheduler.add(instance.end_time.timestamp(), "end", uuid=instance.uuid)


def _participant(left: bool) -> Callable[[World, Job], None]:
    event = "webinar.participant_left" if left else "webinar.participant_joined"

    def handle(world: World, job: Job) -> None:
        instance = world.state.instances.get(str(job.args["uuid"]))
        if instance is None:
            return
        webinar = world.state.webinars[instance.webinar_id]
        session = instance.sessions[int(job.args["session"])]
        obj = participant_object(webinar, instance, session, left=left)
        world.webhooks.emit(webinar.account_id, event, obj, event_ts=_event_ts(job))

    return handle


def _end(world: World, job: Job) -> None:
    instance = world.state.instances.get(str(job.args["uuid"]))
    if instance is None:
        return
    webinar = world.state.webinars[instance.webinar_id]
    world.webhooks.emit(webinar.account_id, "webinar.ended", ended_object(webinar, instance), event_ts=_event_ts(job))
    scenario = webinar.scenario or Scenario()
    if scenario.recording and instance.recording is None:
        world.state.attach_recording(instance, _recording_of(scenario, instance.duration))
        schedule_recording_events(world.state, instance, _moment(job))


def _recording_of(scenario: Scenario, minutes: int) -> RecordingSeed:
    video_after, transcript_after = scenario.recording_delay_minutes, scenario.transcript_delay_minutes
    transcript_bytes = scenario.transcript_bytes if scenario.transcript_bytes is not None else 1000 * minutes
    return RecordingSeed(
        files=[
            RecordingFileSeed(file_type="MP4", file_extension="MP4", recording_type="shared_screen_with_speaker_view",
                              file_size=scenario.video_bytes_per_minute * minutes, available_after_minutes=video_after),
            RecordingFileSeed(file_type="M4A", file_extension="M4A", recording_type="audio_only",
                              file_size=AUDIO_BYTES_PER_MINUTE * minutes, available_after_minutes=video_after),
            RecordingFileSeed(file_type="TRANSCRIPT", file_extension="VTT", recording_type="audio_transcript",
                              file_size=transcript_bytes, available_after_minutes=transcript_after),
        ]
    )  # fmt: skip


def _recording_ready(transcripts: bool) -> Callable[[World, Job], None]:
    event = "recording.transcript_completed" if transcripts else "recording.completed"

    def handle(world: World, job: Job) -> None:
        instance = world.state.instances.get(str(job.args["uuid"]))
        recording = instance.recording if instance else None
        if instance is None or recording is None or recording.deleted:
            return
        moment = _moment(job)
        files = [f for f in recording.ready_files(moment) if _wanted(f, transcripts, job)]
        if not files:
            return
        webinar = world.state.webinars[instance.webinar_id]
        token = issue_download_token(world.state, instance, job.at)
        world.webhooks.emit(
            webinar.account_id,
            event,
            recording_object(webinar, instance, recording, files, world.base_url),
            extra={"download_token": token},
            event_ts=_event_ts(job),
        )

    return handle


def _wanted(file: RecordingFile, transcripts: bool, job: Job) -> bool:
    if not transcripts:
        return file.file_type not in TRANSCRIPT_TYPES
    # A transcript event names the transcript files that became ready at its moment.
    return file.file_type in TRANSCRIPT_TYPES and abs(file.available_at.timestamp() - job.at) < 1.0


def issue_download_token(state: EmulatorState, instance: Instance, at: float) -> str:
    """A ``download_token`` for this instance's files, valid 24 hours (Zoom's lifetime)."""
    expired = [t for t, (_, expiry) in state.download_tokens.items() if expiry <= at]
    for stale in expired:
        del state.download_tokens[stale]
    token = secrets.token_urlsafe(32)
    state.download_tokens[token] = (instance.uuid, at + DOWNLOAD_TOKEN_LIFETIME_SECONDS)
    return token


HANDLERS: dict[str, Callable[[World, Job], None]] = {
    "start": _start,
    "join": _participant(left=False),
    "leave": _participant(left=True),
    "end": _end,
    "recording": _recording_ready(transcripts=False),
    "transcript": _recording_ready(transcripts=True),
}


def next_jobs(state: EmulatorState, limit: int = 50) -> list[dict[str, object]]:
    """The schedule as the admin API shows it."""
    return [
        {"at": datetime.fromtimestamp(job.at, UTC).isoformat(), "kind": job.kind, **job.args}
        for job in state.scheduler.pending()[:limit]
    ]
