"""Recording downloads through Rollcall's Zoom client (issue #15 point 4): the account's OAuth token
or the webhook's ``download_token``, Zoom's redirect to its file storage, a size cap enforced on
what is announced and on what streams in, and the token sent to Zoom's hosts only.

Against the emulator on loopback (zoom_world's clock frozen at NOW; a live webinar run to the end of
its transcript's processing), and one small loopback server standing in for a file store that
announces no size."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import RedirectResponse, StreamingResponse
from integration.zoom.zoom_world import MAIN, NOW
from support.http import serve
from support.zoom import emulator_connection

from engine.zoom import ZoomClient
from engine.zoom.errors import ZoomDownloadNotAllowed, ZoomDownloadTooLarge, ZoomNoRecording
from engine.zoom.settings import ZoomConnectionConfig
from zoom_emulator import EmulatorAdmin, EmulatorServer, Scenario, ScriptedAttendee
from zoom_emulator.core.seeds import RegistrantSeed, WebinarSeed

W_TALK = 91000000301
TRANSCRIPT_BYTES = 30_000


async def _transcript(admin: EmulatorAdmin, zoom: ZoomClient) -> tuple[dict[str, Any], str]:
    """Run a 20-minute webinar with a transcript to its end; its transcript file and the download
    token of the ``recording.transcript_completed`` webhook."""
    scenario = Scenario(
        attendance=1.0,
        attendees=[ScriptedAttendee(email="jane@customers.example", sessions=[(0, 20)], speaks=True)],
        recording_delay_minutes=1,
        transcript_delay_minutes=2,
        transcript_bytes=TRANSCRIPT_BYTES,
    )
    await admin.add_webinar(
        MAIN,
        WebinarSeed(id=W_TALK, host_id="u-host", topic="Talk", start_time=NOW + timedelta(minutes=1), duration=20,
                    registrants=[RegistrantSeed(email="jane@customers.example", first_name="Jane", last_name="Doe")],
                    scenario=scenario),
    )  # fmt: skip
    await admin.advance_clock(30 * 60)
    [event] = await admin.emitted_webhooks("recording.transcript_completed")
    recording = await zoom.get_recordings(event["payload"]["object"]["uuid"])
    [vtt] = [f for f in recording.recording_files if f.file_type == "TRANSCRIPT"]
    return vtt.model_dump(), str(event["download_token"])


def _locked_out(server: EmulatorServer) -> ZoomConnectionConfig:
    """The main account with a wrong client secret: no OAuth token can be had."""
    fields = {**emulator_connection(server, MAIN).model_dump(), "client_secret": "wrong-secret"}
    return ZoomConnectionConfig.model_validate(fields)


async def test_oauth_or_the_webhook_download_token_fetches_the_transcript(
    admin: EmulatorAdmin, zoom: ZoomClient, emulator_server: EmulatorServer
) -> None:
    """#15.4: with the account's token (redirect followed to the signed storage URL) the bytes are
    the WebVTT Zoom announced; a client that cannot get an OAuth token fetches the same file with
    the webhook's ``download_token``; a stale download token falls back to the account's."""
    vtt, download_token = await _transcript(admin, zoom)
    assert vtt["download_url"].startswith(f"{emulator_server.base_url}/rec/download/")

    by_oauth = await zoom.download(vtt["download_url"], max_bytes=1 << 20)
    async with ZoomClient(_locked_out(emulator_server), utcnow=lambda: NOW) as locked:
        by_token = await locked.download(vtt["download_url"], max_bytes=1 << 20, download_token=download_token)
    by_fallback = await zoom.download(vtt["download_url"], max_bytes=1 << 20, download_token="forged-token")

    assert len(by_oauth) == vtt["file_size"] == TRANSCRIPT_BYTES
    assert by_oauth.startswith(b"WEBVTT\n\n1\n00:00:00.000 --> ")
    assert by_token == by_oauth == by_fallback


async def test_a_file_over_the_cap_or_not_ready_is_refused(admin: EmulatorAdmin, zoom: ZoomClient) -> None:
    """#15.4: the announced size over the cap is refused before the body is read; an unknown file is
    Zoom's 404 3301."""
    vtt, _ = await _transcript(admin, zoom)
    with pytest.raises(ZoomDownloadTooLarge):
        await zoom.download(vtt["download_url"], max_bytes=TRANSCRIPT_BYTES - 1)
    unknown = vtt["download_url"].rsplit("/", 1)[0] + "/no-such-file"
    with pytest.raises(ZoomNoRecording):
        await zoom.download(unknown, max_bytes=1 << 20)


async def test_the_token_never_goes_to_another_host(zoom: ZoomClient) -> None:
    """A ``download_url`` off Zoom (and off the configured API's host) gets no request at all."""
    for url in ("http://127.0.0.2:9/rec/download/x", "https://zoom.us.evil.example/rec/download/x", "ftp://zoom.us/x"):
        with pytest.raises(ZoomDownloadNotAllowed):
            await zoom.download(url, max_bytes=1 << 20)


def _unsized_store(chunks: int) -> FastAPI:
    """OAuth, and a download URL that redirects to storage streaming ``chunks`` × 64 KiB without a
    Content-Length (chunked transfer encoding)."""
    app = FastAPI()

    @app.post("/oauth/token")
    async def token() -> dict[str, Any]:
        return {"access_token": "store-token", "token_type": "bearer", "expires_in": 3600}

    @app.get("/rec/download/{file_id}")
    async def download(file_id: str) -> RedirectResponse:
        return RedirectResponse(f"/rec/files/{file_id}?signature=s", status_code=302)

    @app.get("/rec/files/{file_id}")
    async def stored(file_id: str) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for _ in range(chunks):
                yield b"x" * 65536

        return StreamingResponse(body(), media_type="text/vtt")

    return app


async def test_a_body_without_a_size_is_counted_as_it_streams() -> None:
    """#15.4: no Content-Length to go by: the download stops once more than the cap came in."""
    with serve(_unsized_store(chunks=40)) as url:
        config = ZoomConnectionConfig.model_validate(
            {"name": "store", "account_id": "a", "client_id": "c", "client_secret": "s",
             "api_base_url": f"{url}/v2", "oauth_base_url": url}
        )  # fmt: skip
        async with ZoomClient(config) as client:
            small = await client.download(f"{url}/rec/download/f", max_bytes=40 * 65536)
            with pytest.raises(ZoomDownloadTooLarge):
                await client.download(f"{url}/rec/download/f", max_bytes=40 * 65536 - 1)
    assert len(small) == 40 * 65536
