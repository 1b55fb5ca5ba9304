"""Transcripts (#15.4): full-text search over every stored transcript, and the shapes the
webinar's own transcript route (``GET /v1/webinars/{id}/transcript``) answers with."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from engine.api.deps import SessionDep
from engine.api.schemas.crm import Cursor
from engine.crm.tables import Transcript, TranscriptCue
from engine.crm.transcripts import MAX_QUERY_CHARS, MAX_SEARCH_LIMIT, SearchHit, search_cues

router = APIRouter(prefix="/transcripts", tags=["transcripts"])

SpeakerFilter = Annotated[str | None, Query(max_length=200, description="only cues of this speaker (exact name)")]


def offset_text(milliseconds: int) -> str:
    """``HH:MM:SS.mmm`` from the start of the recording, as WebVTT writes it."""
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


class CueOut(BaseModel):
    transcript_id: int
    occurrence: str = Field(description="the Zoom instance UUID of the occurrence")
    sequence: int = Field(description="the cue's position in its transcript, from 1")
    speaker: str | None
    start_seconds: float = Field(description="from the start of the recording")
    end_seconds: float
    offset: str = Field(description="start as HH:MM:SS.mmm")
    text: str

    @classmethod
    def of(cls, cue: TranscriptCue, occurrence: str) -> CueOut:
        return cls(
            transcript_id=cue.transcript_id,
            occurrence=occurrence,
            sequence=cue.sequence,
            speaker=cue.speaker,
            start_seconds=cue.start_ms / 1000,
            end_seconds=cue.end_ms / 1000,
            offset=offset_text(cue.start_ms),
            text=cue.text,
        )


class TranscriptOut(BaseModel):
    id: int
    occurrence: str
    occurrence_start: datetime | None
    recording_id: int
    status: str = Field(description="stored, too_large (not downloaded) or invalid (not WebVTT)")
    detail: str | None
    byte_size: int
    cue_count: int
    downloaded_at: datetime

    @classmethod
    def of(cls, row: Transcript) -> TranscriptOut:
        return cls.model_validate(row, from_attributes=True)


class WebinarTranscriptOut(BaseModel):
    webinar_id: str
    transcripts: list[TranscriptOut]
    cues: list[CueOut]
    next_cursor: str | None


class SearchHitOut(BaseModel):
    webinar_id: str
    topic: str
    occurrence: str
    occurrence_start: datetime | None
    transcript_id: int
    sequence: int
    speaker: str | None
    start_seconds: float
    end_seconds: float
    offset: str = Field(description="where in the recording: HH:MM:SS.mmm")
    text: str
    snippet: str = Field(description="the matched words marked « »")

    @classmethod
    def of(cls, hit: SearchHit) -> SearchHitOut:
        return cls(
            webinar_id=hit.zoom_webinar_id,
            topic=hit.topic,
            occurrence=hit.occurrence,
            occurrence_start=hit.occurrence_start,
            transcript_id=hit.transcript_id,
            sequence=hit.sequence,
            speaker=hit.speaker,
            start_seconds=hit.start_ms / 1000,
            end_seconds=hit.end_ms / 1000,
            offset=offset_text(hit.start_ms),
            text=hit.text,
            snippet=hit.snippet,
        )


class SearchOut(BaseModel):
    hits: list[SearchHitOut]
    next_cursor: str | None


@router.get("/search")
def search_transcripts(
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="words, all of which must occur")],
    webinar_id: Annotated[str | None, Query(max_length=32, pattern=r"^[0-9]+$")] = None,
    speaker: SpeakerFilter = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_SEARCH_LIMIT)] = 20,
) -> SearchOut:
    """Cues of every stored transcript that hold all the words of ``q`` (stemmed; punctuation,
    quotes and operators are plain separators), best match first: webinar, occurrence, speaker,
    time offset and the matched snippet."""
    page = search_cues(session, q, zoom_webinar_id=webinar_id, speaker=speaker, cursor=cursor, limit=limit)
    return SearchOut(hits=[SearchHitOut.of(hit) for hit in page.hits], next_cursor=page.next_cursor)
