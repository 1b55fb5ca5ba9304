"""The sync downloads each transcript, stores it cue by cue and makes it searchable (issue #15 point
4, R-SYNC-5): through the emulator's ``download_url`` with Zoom's access rules, once per file, the
video described (URL and size) but never downloaded; a transcript over the size cap is recorded as
such, with a warning, and not downloaded."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from integration.sync import store_view as view
from integration.sync import sync_world as world
from integration.sync.sync_kit import SyncWorld
from sqlalchemy import Engine
from sqlmodel import Session, col
from support.zoom import served_transcript, zoom_cues

from engine.crm.tables import Recording, Transcript, TranscriptCue
from engine.crm.transcripts import search_cues
from engine.sync.transcripts import MAX_TRANSCRIPT_BYTES
from zoom_emulator import EmulatorServer
from zoom_emulator.core.seeds import InstanceSeed, RecordingFileSeed, RecordingSeed, RegistrantSeed, WebinarSeed

pytestmark = pytest.mark.timeout(120)

W_HUGE = "93100000401"
MP4_BYTES = 123_456_789


async def test_the_transcript_is_downloaded_once_stored_cue_by_cue_and_found(
    sync_world: SyncWorld, sync_emulator: EmulatorServer, db_engine: Engine
) -> None:
    """#15.4: the cues stored are the served file's (speaker and text, in order), linked to the
    recording file and the occurrence; the audit entry counts them; a re-sync downloads nothing
    and changes nothing; a word of the transcript finds its cue."""
    first = await sync_world.sync(world.W_ENDED)
    again = await sync_world.sync(world.W_ENDED)

    with Session(db_engine, expire_on_commit=False) as session:
        [transcript] = session.scalars(sa.select(Transcript).where(col(Transcript.zoom_webinar_id) == world.W_ENDED))
        file = session.get(Recording, transcript.recording_id)
        cues = list(
            session.scalars(
                sa.select(TranscriptCue)
                .where(col(TranscriptCue.transcript_id) == transcript.id)
                .order_by(col(TranscriptCue.sequence))
            )
        )
    assert file is not None and file.file_type == "TRANSCRIPT" and file.download_url
    served = await served_transcript(sync_emulator, sync_world.main_account, file.download_url)
    expected = zoom_cues(served)

    assert [(cue.speaker, cue.text) for cue in cues] == expected
    assert [cue.sequence for cue in cues] == list(range(1, len(expected) + 1))
    assert (transcript.status, transcript.occurrence, transcript.cue_count) == ("stored", world.INSTANCE, len(cues))
    assert transcript.byte_size == len(served.encode()) == file.file_size
    assert (first.counts["transcripts"], first.counts["transcript_cues"]) == (1, len(expected))
    assert (again.counts["transcripts"], again.counts["transcript_cues"]) == (0, 0)
    assert first.status == again.status == "partial"  # W_ENDED has a guest without email (R-AUD-3)

    speaker, said = expected[len(expected) // 2]
    word = max(said.rstrip(".?").split(), key=len)
    with Session(db_engine) as session:
        hits = search_cues(session, f"{word} {speaker}", zoom_webinar_id=world.W_ENDED, limit=100).hits
    assert hits and all(hit.occurrence == world.INSTANCE and hit.speaker == speaker for hit in hits)
    assert all(word.lower()[:4] in hit.snippet.lower() for hit in hits)


async def test_a_transcript_over_the_cap_is_recorded_not_downloaded(sync_world: SyncWorld, db_engine: Engine) -> None:
    """#15.4: Zoom announces a transcript over 20 MiB: no download, the transcript is recorded as
    ``too_large`` with no cue, the audit entry says so (RECORDING_NOT_SYNCED, the occurrence); the
    video is stored with its URL and size."""
    start = world.NOW - timedelta(hours=3)
    uuid = "HugeTranscript00000000=="
    await sync_world.admin.add_webinar(
        sync_world.main_account,
        WebinarSeed(id=int(W_HUGE), host_id="host-1", topic="Long talk", start_time=start, duration=60,
                    registrants=[RegistrantSeed(email="lou@customers.example", first_name="Lou", last_name="Long")],
                    instances=[InstanceSeed(uuid=uuid, start_time=start, recording=RecordingSeed(files=[
                        RecordingFileSeed(file_type="MP4", file_extension="MP4", file_size=MP4_BYTES),
                        RecordingFileSeed(file_type="TRANSCRIPT", file_extension="VTT",
                                          recording_type="audio_transcript", file_size=MAX_TRANSCRIPT_BYTES + 1),
                    ]))]),
    )  # fmt: skip

    result = await sync_world.sync(W_HUGE)

    with Session(db_engine, expire_on_commit=False) as session:
        [transcript] = session.scalars(sa.select(Transcript).where(col(Transcript.zoom_webinar_id) == W_HUGE))
        videos = list(session.scalars(sa.select(Recording).where(col(Recording.file_type) == "MP4")))
        cue_rows = session.scalar(sa.select(sa.func.count()).select_from(TranscriptCue))
    assert (transcript.status, transcript.cue_count, transcript.byte_size) == ("too_large", 0, MAX_TRANSCRIPT_BYTES + 1)
    assert transcript.occurrence == uuid and cue_rows == 0
    assert [(v.file_size, bool(v.download_url)) for v in videos] == [(MP4_BYTES, True)]
    assert (result.status, result.counts["transcripts"], result.counts["recording_files"]) == ("partial", 0, 2)
    [entry] = view.audit(db_engine, W_HUGE)
    warning = entry["warnings"]["RECORDING_NOT_SYNCED"]
    assert warning["message"].startswith("a transcript was not stored") and warning["items"] == [{"occurrence": uuid}]
    assert str(MAX_TRANSCRIPT_BYTES + 1) in warning["message"]
