"""Zoom's shapes for what the emulator tells: ``payload.object`` of each webhook event, and the
recording JSON that the REST API and the recording webhooks share.

Types follow Zoom's webhook reference (``tests/data/zoom/webhooks/README.md`` names the pages):
``object.id`` is a **string** in ``webinar.started|ended`` and ``webinar.participant_*``, a
**number** in ``webinar.registration_*`` and ``recording.*``; times are UTC ``…Z`` strings.
"""

from __future__ import annotations

from typing import Any

from zoom_emulator.core.state import Instance, Recording, RecordingFile, Registrant, Session, Webinar, zoom_time

LEFT_REASON = "left the meeting. Reason : left the meeting"
ENDED_REASON = "left the meeting. Reason : Host ended the meeting"


def registration_object(webinar: Webinar, registrant: Registrant) -> dict[str, Any]:
    """``payload.object`` of ``webinar.registration_*`` events: the webinar id is a number there."""
    return {
        "id": webinar.id,
        "uuid": webinar.current_uuid(),
        "host_id": webinar.host.id,
        "topic": webinar.topic,
        "type": webinar.type,
        "start_time": zoom_time(webinar.start_time),
        "duration": webinar.duration,
        "timezone": webinar.timezone,
        "registrant": {
            "id": registrant.id,
            "email": registrant.email,
            "first_name": registrant.first_name,
            "last_name": registrant.last_name,
            "join_url": registrant.join_url,
            "status": registrant.status,
        },
    }


def webinar_object(webinar: Webinar, instance: Instance) -> dict[str, Any]:
    """``payload.object`` of ``webinar.started`` (and the base of the others): the id is a string."""
    return {
        "id": str(webinar.id),
        "uuid": instance.uuid,
        "host_id": webinar.host.id,
        "topic": webinar.topic,
        "type": webinar.type,
        "start_time": zoom_time(instance.start_time),
        "timezone": webinar.timezone,
        "duration": webinar.duration,
    }


def ended_object(webinar: Webinar, instance: Instance) -> dict[str, Any]:
    return {**webinar_object(webinar, instance), "end_time": zoom_time(instance.end_time)}


def participant_object(webinar: Webinar, instance: Instance, session: Session, *, left: bool) -> dict[str, Any]:
    """``webinar.participant_joined|left``: a guest's ``email`` and ids are empty strings."""
    participant: dict[str, Any] = {
        "user_id": session.user_id,
        "user_name": session.name,
        "id": session.participant_user_id,
        "participant_user_id": session.participant_user_id,
        "participant_uuid": session.participant_uuid(instance.uuid),
        "email": session.email,
    }
    if left:
        participant["leave_time"] = zoom_time(session.leave_time)
        ended = session.leave_time >= instance.end_time
        participant["leave_reason"] = ENDED_REASON if ended else LEFT_REASON
    else:
        participant["join_time"] = zoom_time(session.join_time)
    if session.registrant_id:
        participant["registrant_id"] = session.registrant_id
    return {**webinar_object(webinar, instance), "participant": participant}


def file_json(instance: Instance, file: RecordingFile, base_url: str) -> dict[str, Any]:
    """One ``recording_files[]`` entry; ``download_url`` points at the emulator itself."""
    return {
        "id": file.id,
        "meeting_id": instance.uuid,
        "recording_start": zoom_time(instance.start_time),
        "recording_end": zoom_time(instance.end_time),
        "file_type": file.file_type,
        "file_extension": file.file_extension,
        "file_size": file.file_size,
        "play_url": f"{base_url}/rec/play/{file.id}",
        "download_url": f"{base_url}/rec/download/{file.id}",
        "status": "completed",
        "recording_type": file.recording_type,
    }


def recording_object(
    webinar: Webinar, instance: Instance, recording: Recording, files: list[RecordingFile], base_url: str
) -> dict[str, Any]:
    """The recording of one instance with ``files`` (REST answer and ``recording.*`` object alike);
    its ``id`` is the webinar's number."""
    return {
        "uuid": instance.uuid,
        "id": webinar.id,
        "account_id": webinar.account_id,
        "host_id": webinar.host.id,
        "host_email": webinar.host.email,
        "topic": webinar.topic,
        "type": webinar.type,
        "start_time": zoom_time(instance.start_time),
        "timezone": webinar.timezone,
        "duration": instance.duration,
        "total_size": sum(f.file_size for f in files),
        "recording_count": len(files),
        "share_url": f"{base_url}/rec/share/{recording.share_token}",
        "password": "",
        "recording_files": [file_json(instance, f, base_url) for f in files],
    }
