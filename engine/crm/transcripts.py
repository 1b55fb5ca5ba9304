"""Transcripts in the CRM store (#15.4, R-SYNC-5): stored once per recording file, read cue by
cue, searched by full text.

Full text: on SQLite an FTS5 table over the cues' speaker and text (``transcript_cues_fts``,
external content, kept by triggers; Porter stemming); on PostgreSQL a GIN index on their
``tsvector`` (``english``). The migration ``0006`` creates both by hand: they are not part of the
models (``is_search_object`` names them for the schema comparison).

The user's words are never handed to a query language: they are split into words and each one is
quoted (FTS5) or given to ``plainto_tsquery`` (PostgreSQL), so quotes, ``AND``/``NEAR``, ``*`` or
parentheses are just text and a search can only match or not.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.crm.bulk import MAX_ROWS_PER_STATEMENT, chunked, connection_of, insert_missing
from engine.crm.errors import InvalidCursor
from engine.crm.tables import (
    MarketingEvent,
    Recording,
    Transcript,
    TranscriptCue,
    TranscriptStatus,
    UTCDateTime,
    table_of,
    utcnow,
)
from engine.errors import InvalidInput

TRANSCRIPTS = table_of(Transcript)
CUES = table_of(TranscriptCue)
EVENTS = table_of(MarketingEvent)
RECORDINGS = table_of(Recording)

SQLITE_FTS_TABLE = "transcript_cues_fts"
POSTGRES_SEARCH_INDEX = "ix_transcript_cues_search"
_PG_VECTOR = "to_tsvector('english'::regconfig, coalesce(c.speaker, '') || ' ' || c.text)"

#: A search's words: at most this many characters are read (the API refuses longer ones).
MAX_QUERY_CHARS = 200
#: How far a search pages (cursor offsets), and how many hits one page holds.
MAX_SEARCH_OFFSET = 10_000
MAX_SEARCH_LIMIT = 100
MAX_CUE_LIMIT = 500
#: Snippet markers around the matched words.
MARK_START, MARK_END = "«", "»"

_WORDS = re.compile(r"\w+")


class InvalidSearch(InvalidInput):
    code = "INVALID_SEARCH"


def is_search_object(name: str | None) -> bool:
    """The full-text objects the migration made by hand (FTS5 table and its shadow tables, the
    PostgreSQL GIN index): not in the models."""
    return bool(name) and (str(name).startswith(SQLITE_FTS_TABLE) or name == POSTGRES_SEARCH_INDEX)


# --- writing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cue:
    """One cue as stored: its position (from 1), who spoke, when (ms from the recording's start)."""

    sequence: int
    speaker: str | None
    start_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True)
class TranscriptWrite:
    recording_id: int
    marketing_event_id: int
    zoom_webinar_id: str
    occurrence: str
    occurrence_start: datetime | None
    status: TranscriptStatus
    byte_size: int
    sha256: str | None = None
    detail: str | None = None


def transcripts_to_fetch(session: Session, zoom_file_ids: Sequence[str]) -> dict[str, int]:
    """Of these stored recording files, those without a transcript yet (file id → recording id).
    One stored in any status is not fetched again by a re-sync."""
    if not zoom_file_ids:
        return {}
    query = (
        sa.select(RECORDINGS.c.zoom_file_id, RECORDINGS.c.id)
        .outerjoin(TRANSCRIPTS, TRANSCRIPTS.c.recording_id == RECORDINGS.c.id)
        .where(RECORDINGS.c.zoom_file_id.in_(list(zoom_file_ids)), TRANSCRIPTS.c.id.is_(None))
    )
    return {row.zoom_file_id: int(row.id) for row in connection_of(session).execute(query)}


def store_transcript(session: Session, write: TranscriptWrite, cues: Sequence[Cue]) -> int | None:
    """Store a transcript and its cues in the caller's transaction; ``None`` (nothing written)
    when the recording file's transcript is already stored."""
    connection = connection_of(session)
    row = {
        "recording_id": write.recording_id,
        "marketing_event_id": write.marketing_event_id,
        "zoom_webinar_id": write.zoom_webinar_id,
        "occurrence": write.occurrence,
        "occurrence_start": write.occurrence_start,
        "status": write.status.value,
        "detail": write.detail[:500] if write.detail else None,
        "byte_size": write.byte_size,
        "sha256": write.sha256,
        "cue_count": len(cues),
        "downloaded_at": utcnow(),
    }
    if insert_missing(connection, TRANSCRIPTS, [row], key=["recording_id"]) == 0:
        return None
    transcript_id = int(
        connection.execute(
            sa.select(TRANSCRIPTS.c.id).where(TRANSCRIPTS.c.recording_id == write.recording_id)
        ).scalar_one()
    )
    rows = [
        {
            "transcript_id": transcript_id,
            "sequence": cue.sequence,
            "speaker": cue.speaker,
            "start_ms": cue.start_ms,
            "end_ms": cue.end_ms,
            "text": cue.text,
        }
        for cue in cues
    ]
    statement = sa.insert(CUES)
    for chunk in chunked(rows, MAX_ROWS_PER_STATEMENT):
        connection.execute(statement, list(chunk))
    return transcript_id


# --- reading ------------------------------------------------------------------------------------


def webinar_transcripts(session: Session, zoom_webinar_id: str) -> list[Transcript]:
    """A webinar's transcripts, one per occurrence that has one, oldest occurrence first."""
    query = (
        sa.select(Transcript)
        .where(TRANSCRIPTS.c.zoom_webinar_id == zoom_webinar_id)
        .order_by(TRANSCRIPTS.c.occurrence_start.is_(None), TRANSCRIPTS.c.occurrence_start, TRANSCRIPTS.c.id)
    )
    return list(session.scalars(query))


def _encode(payload: dict[str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: str, names: tuple[str, ...]) -> dict[str, int]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        values = {name: payload[name] for name in names}
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidCursor("cursor is not one this API returned", details={"field": "cursor"}) from None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values.values()):
        raise InvalidCursor("cursor is not one this API returned", details={"field": "cursor"})
    return values


@dataclass(frozen=True)
class CuePage:
    cues: list[TranscriptCue]
    next_cursor: str | None


def list_cues(
    session: Session,
    transcript_ids: Sequence[int],
    *,
    speaker: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> CuePage:
    """The cues of these transcripts in order (transcript, then cue), keyset-paginated."""
    limit = max(1, min(limit, MAX_CUE_LIMIT))
    order = sa.case({tid: position for position, tid in enumerate(transcript_ids)}, value=CUES.c.transcript_id)
    query = (
        sa.select(TranscriptCue)
        .where(CUES.c.transcript_id.in_(list(transcript_ids)))
        .order_by(order, CUES.c.sequence)
        .limit(limit + 1)
    )
    if speaker:
        query = query.where(CUES.c.speaker == speaker)
    if cursor:
        after = _decode(cursor, ("p", "s"))
        query = query.where(sa.or_(order > after["p"], sa.and_(order == after["p"], CUES.c.sequence > after["s"])))
    cues = list(session.scalars(query)) if transcript_ids else []
    next_cursor = None
    if len(cues) > limit:
        cues = cues[:limit]
        last = cues[-1]
        next_cursor = _encode({"p": list(transcript_ids).index(last.transcript_id), "s": last.sequence})
    return CuePage(cues, next_cursor)


# --- searching ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    zoom_webinar_id: str
    topic: str
    occurrence: str
    occurrence_start: datetime | None
    transcript_id: int
    sequence: int
    speaker: str | None
    start_ms: int
    end_ms: int
    text: str
    snippet: str


@dataclass(frozen=True)
class SearchPage:
    hits: list[SearchHit]
    next_cursor: str | None


def search_words(q: str) -> list[str]:
    """The words of a search (letters, digits, ``_`` in any script): everything else is a separator."""
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidSearch(
            f"the search is longer than {MAX_QUERY_CHARS} characters", details={"field": "q", "max": MAX_QUERY_CHARS}
        )
    words = _WORDS.findall(q)
    if not words:
        raise InvalidSearch("the search has no words to look for", details={"field": "q"})
    return words


def _fts5_match(words: Sequence[str]) -> str:
    """Every word as an FTS5 string (quotes doubled): all must occur, none is an operator."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


def _search_sql(dialect: str, words: Sequence[str], filters: str, params: dict[str, Any]) -> str:
    """The search's SQL for ``dialect`` (FTS5 on SQLite, text search on PostgreSQL); its words go
    to ``params``."""
    select = (
        "SELECT t.zoom_webinar_id, e.topic, t.occurrence, t.occurrence_start, c.transcript_id, c.sequence, "
        "c.speaker, c.start_ms, c.end_ms, c.text, {snippet} AS snippet "
    )
    joins = "JOIN transcripts t ON t.id = c.transcript_id JOIN marketing_events e ON e.id = t.marketing_event_id "
    if dialect == "sqlite":
        params["match"] = _fts5_match(words)
        snippet = f"snippet({SQLITE_FTS_TABLE}, 1, '{MARK_START}', '{MARK_END}', '…', 16)"
        return (
            select.format(snippet=snippet)
            + f"FROM {SQLITE_FTS_TABLE} JOIN transcript_cues c ON c.id = {SQLITE_FTS_TABLE}.rowid "
            + joins
            + f"WHERE {SQLITE_FTS_TABLE} MATCH :match{filters} "
            + f"ORDER BY bm25({SQLITE_FTS_TABLE}), c.id LIMIT :limit OFFSET :offset"
        )
    params["words"] = " ".join(words)
    query = "plainto_tsquery('english'::regconfig, :words)"
    any_word = f"replace({query}::text, ' & ', ' | ')::tsquery"
    options = f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=16, MinWords=6, ShortWord=2"
    return (
        # The snippet marks any of the words (they may be in the speaker's name, not the text).
        select.format(snippet=f"ts_headline('english'::regconfig, c.text, {any_word}, '{options}')")
        + "FROM transcript_cues c "
        + joins
        + f"WHERE {_PG_VECTOR} @@ {query}{filters} "
        + f"ORDER BY ts_rank({_PG_VECTOR}, {query}) DESC, c.id LIMIT :limit OFFSET :offset"
    )


def _hit(row: Any) -> SearchHit:
    return SearchHit(
        zoom_webinar_id=row.zoom_webinar_id,
        topic=row.topic,
        occurrence=row.occurrence,
        occurrence_start=row.occurrence_start,
        transcript_id=int(row.transcript_id),
        sequence=int(row.sequence),
        speaker=row.speaker,
        start_ms=int(row.start_ms),
        end_ms=int(row.end_ms),
        text=row.text,
        snippet=row.snippet,
    )


def search_cues(
    session: Session,
    q: str,
    *,
    zoom_webinar_id: str | None = None,
    speaker: str | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> SearchPage:
    """Cues holding every word of ``q`` (stemmed), best match first, with the webinar, occurrence,
    speaker, time offset and a snippet where the words are marked « »."""
    words = search_words(q)
    limit = max(1, min(limit, MAX_SEARCH_LIMIT))
    offset = _decode(cursor, ("o",))["o"] if cursor else 0
    if offset > MAX_SEARCH_OFFSET:
        raise InvalidCursor("cursor is not one this API returned", details={"field": "cursor"})
    filters = ""
    params: dict[str, Any] = {"limit": limit + 1, "offset": offset}
    if zoom_webinar_id:
        filters += " AND t.zoom_webinar_id = :webinar"
        params["webinar"] = zoom_webinar_id
    if speaker:
        filters += " AND c.speaker = :speaker"
        params["speaker"] = speaker
    connection = connection_of(session)
    sql = _search_sql(connection.dialect.name, words, filters, params)
    rows = connection.execute(sa.text(sql).columns(occurrence_start=UTCDateTime()), params).all()
    hits = [_hit(row) for row in rows[:limit]]
    next_cursor = _encode({"o": offset + limit}) if len(rows) > limit and offset + limit <= MAX_SEARCH_OFFSET else None
    return SearchPage(hits, next_cursor)
