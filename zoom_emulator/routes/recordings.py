"""Cloud recordings of a webinar instance (``GET /meetings/{id|uuid}/recordings``) and the files
themselves at their ``download_url`` (``/rec/download/{file_id}``, see ``core/downloads.py``)."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from zoom_emulator.core.downloads import DownloadRefused, authorize
from zoom_emulator.core.events import recording_object
from zoom_emulator.core.facts import RateLabel
from zoom_emulator.routes.common import ZoomReply, begin, emulator_of, json_response, path_ref

router = APIRouter()

MEDIA_TYPES = {
    "TRANSCRIPT": "text/vtt; charset=utf-8",
    "CC": "text/vtt; charset=utf-8",
    "CHAT": "text/plain; charset=utf-8",
}


@router.get("/v2/meetings/{ref:path}/recordings")
async def get_recordings(request: Request) -> Response:
    call = await begin(request, "get_recordings", RateLabel.LIGHT)
    ref = path_ref(request, 3)
    instance = call.state.instance_for(call.account.id, ref) if ref else None
    recording = instance.recording if instance else None
    ready = recording.ready_files(call.emulator.clock.now()) if recording else []
    if instance is None or recording is None or not ready:
        raise ZoomReply(404, 3301, "There is no recording for this meeting.")
    webinar = call.state.webinars[instance.webinar_id]
    body = recording_object(webinar, instance, recording, ready, call.emulator.base_url)
    # "type" is left out: the 2023 OpenAPI declares it a string whose enum lists numbers.
    del body["type"]
    return call.reply(body)


def _token_of(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.query_params.get("access_token", "").strip()


@router.get("/rec/download/{file_id}")
async def download(request: Request, file_id: str) -> Response:
    """Zoom's download URL: an OAuth token or the webhook's ``download_token`` (Bearer header or
    ``access_token`` query), then a redirect to the signed storage URL."""
    emulator = emulator_of(request)
    now = emulator.clock.timestamp()
    try:
        grant = authorize(emulator.state, file_id, _token_of(request), emulator.clock.now())
    except DownloadRefused as refused:
        return json_response({"code": refused.code, "message": refused.message}, refused.status)
    query = emulator.files.signed_query(grant.file.id, now)
    return RedirectResponse(f"{emulator.base_url}/rec/files/{grant.file.id}?{query}", status_code=302)


@router.get("/rec/files/{file_id}")
async def stored_file(request: Request, file_id: str, expires: int = 0, signature: str = "") -> Response:
    """The file storage behind the redirect: a signed, short-lived URL; media are not served."""
    emulator = emulator_of(request)
    found = emulator.state.files.get(file_id)
    if found is None or not emulator.files.check(file_id, expires, signature, emulator.clock.timestamp()):
        return json_response({"code": 403, "message": "Request has expired or its signature does not match."}, 403)
    instance, file = found
    content = emulator.files.content(emulator.state, instance, file)
    if content is None:
        return json_response(
            {
                "code": 501,
                "message": f"The emulator does not serve {file.file_type} files; this one is described only "
                f"(file_size {file.file_size}).",
            },
            501,
        )
    return Response(content, 200, media_type=MEDIA_TYPES[file.file_type], headers={
        "Content-Disposition": f'attachment; filename="{file.id}.{file.file_extension.lower()}"'
    })  # fmt: skip


@router.get("/rec/play/{file_id}")
async def play_page(request: Request, file_id: str) -> Response:
    """A minimal stand-in for Zoom's web player page (``play_url``)."""
    found = emulator_of(request).state.files.get(file_id)
    if found is None:
        return Response("Not found", 404, media_type="text/plain")
    instance, file = found
    return Response(
        f"<!doctype html><title>Recording {html.escape(instance.uuid)}</title>"
        f"<p>Zoom emulator: {html.escape(file.file_type)} of instance {html.escape(instance.uuid)}.</p>",
        200,
        media_type="text/html",
    )
