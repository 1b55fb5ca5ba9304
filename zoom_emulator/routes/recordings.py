"""Cloud recordings of a webinar instance: ``GET /meetings/{id|uuid}/recordings``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from zoom_emulator.core.facts import RateLabel
from zoom_emulator.core.state import zoom_time
from zoom_emulator.routes.common import ZoomReply, begin, path_ref

router = APIRouter()


@router.get("/v2/meetings/{ref:path}/recordings")
async def get_recordings(request: Request) -> Response:
    call = await begin(request, "get_recordings", RateLabel.LIGHT)
    ref = path_ref(request, 3)
    instance = call.state.instance_for(call.account.id, ref) if ref else None
    recording = instance.recording if instance else None
    now = call.emulator.clock.now()
    ready = [f for f in recording.files if f.available_at <= now] if recording and not recording.deleted else []
    if instance is None or not ready:
        raise ZoomReply(404, 3301, "There is no recording for this meeting.")
    webinar = call.state.webinars[instance.webinar_id]
    files = [
        {
            "id": f.id,
            "meeting_id": instance.uuid,
            "recording_start": zoom_time(instance.start_time),
            "recording_end": zoom_time(instance.end_time),
            "file_type": f.file_type,
            "file_extension": f.file_extension,
            "file_size": f.file_size,
            "play_url": f"https://emulator.zoom.invalid/rec/play/{f.id}",
            "download_url": f"https://emulator.zoom.invalid/rec/download/{f.id}",
            "status": "completed",
            "recording_type": f.recording_type,
        }
        for f in ready
    ]
    # "type" is omitted: the 2023 OpenAPI declares it a string whose enum lists numbers.
    return call.reply(
        {
            "uuid": instance.uuid,
            "id": webinar.id,
            "account_id": webinar.account_id,
            "host_id": webinar.host.id,
            "topic": webinar.topic,
            "start_time": zoom_time(instance.start_time),
            "duration": instance.duration,
            "total_size": sum(f.file_size for f in ready),
            "recording_count": len(ready),
            "share_url": f"https://emulator.zoom.invalid/rec/share/{instance.webinar_id}",
            "recording_files": files,
        }
    )
