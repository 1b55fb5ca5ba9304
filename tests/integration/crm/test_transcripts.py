"""Transcripts stored and searchable (issue #15 point 4, acceptance "a transcript search test on
SQLite and PostgreSQL"; R-SYNC-5): cues stored once per recording file, read a page at a time,
found by full text (SQLite FTS5, PostgreSQL tsvector + GIN) with webinar, occurrence, speaker,
time offset and a marked snippet — and whatever a user types, a 4xx at worst, never a 500."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from engine.api.app import create_app
from engine.config import Settings
from engine.crm.errors import InvalidCursor
from engine.crm.participations import MarketingEventUpsert, RecordingUpsert, upsert_marketing_events, upsert_recordings
from engine.crm.tables import TranscriptStatus
from engine.crm.transcripts import (
    MAX_QUERY_CHARS,
    InvalidSearch,
    TranscriptWrite,
    search_cues,
    store_transcript,
    transcripts_to_fetch,
)
from engine.sync.transcripts import TranscriptUnreadable, parse_transcript, read_transcript, split_speaker

VIEWER_KEY = "transcripts-viewer-key"
LAUNCH, SUMMIT = "81000000001", "81000000002"
STARTS = {
    "launch-1": datetime(2026, 5, 4, 15, 0, tzinfo=UTC),
    "launch-2": datetime(2026, 5, 11, 15, 0, tzinfo=UTC),
    "summit-1": datetime(2026, 6, 1, 9, 0, tzinfo=UTC),
}

LAUNCH_1 = """WEBVTT

1
00:00:02.000 --> 00:00:07.480
Alice Host: Welcome everyone to the product launch.

2
00:00:08.000 --> 00:00:12.000
Alice Host: Today we look at pricing and the new dashboard.

3
00:01:05.250 --> 00:01:09.000
Jane Doe: Can you say more about pricing for partners?

4
00:01:10.000 --> 00:01:15.000
Bob Host: Partners get the dashboard "AND" the reports NEAR the end of May.

5
00:01:16.000 --> 00:01:18.000
we could not tell who said this
"""

LAUNCH_2 = """WEBVTT

1
00:00:01.000 --> 00:00:04.000
Alice Host: Welcome back: migrations this week.

2
00:02:00.000 --> 00:02:03.500
Jane Doe: Is pricing changing after the migration?
"""

SUMMIT_1 = """WEBVTT

1
00:10:00.000 --> 00:10:05.000
Dieter Host: Our partners asked about pricing in EMEA.
"""


def _store(session: Session, webinar_id: str, topic: str, occurrence: str, vtt: str) -> int:
    event_id = upsert_marketing_events(
        session, [MarketingEventUpsert(zoom_webinar_id=webinar_id, business_unit_id=1, topic=topic)]
    )[webinar_id]
    file_id = f"file-{occurrence}"
    recording_id = upsert_recordings(
        session,
        [
            RecordingUpsert(
                zoom_file_id=file_id, marketing_event_id=event_id, file_type="TRANSCRIPT", status="available"
            )
        ],
    )[file_id]
    data = vtt.encode()
    cues = parse_transcript(data)
    write = TranscriptWrite(
        recording_id=recording_id,
        marketing_event_id=event_id,
        zoom_webinar_id=webinar_id,
        occurrence=occurrence,
        occurrence_start=STARTS[occurrence],
        status=TranscriptStatus.STORED,
        byte_size=len(data),
    )
    stored = store_transcript(session, write, cues)
    assert stored is not None
    return stored


@pytest.fixture
def stored(db_engine: Engine) -> dict[str, int]:
    with Session(db_engine) as session:
        ids = {
            "launch-1": _store(session, LAUNCH, "Product launch", "launch-1", LAUNCH_1),
            "launch-2": _store(session, LAUNCH, "Product launch", "launch-2", LAUNCH_2),
            "summit-1": _store(session, SUMMIT, "Partner summit", "summit-1", SUMMIT_1),
        }
        session.commit()
    return ids


@pytest.fixture
async def viewer(database_url: str, db_engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(api_keys=[f"reader:viewer:{VIEWER_KEY}"], database_url=database_url), db_engine=db_engine)
    transport = httpx.ASGITransport(app)
    headers = {"Authorization": f"Bearer {VIEWER_KEY}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://rollcall.test", headers=headers) as client:
        yield client


def test_zoom_cues_are_parsed_with_speaker_and_offsets() -> None:
    """#15.4: Zoom's ``Name: text`` cues → speaker, start/end in ms, text; no name → no speaker."""
    cues = parse_transcript(("\ufeff" + LAUNCH_1).encode())
    assert [(c.sequence, c.speaker, c.start_ms, c.end_ms) for c in cues] == [
        (1, "Alice Host", 2000, 7480),
        (2, "Alice Host", 8000, 12000),
        (3, "Jane Doe", 65250, 69000),
        (4, "Bob Host", 70000, 75000),
        (5, None, 76000, 78000),
    ]
    assert cues[2].text == "Can you say more about pricing for partners?"
    assert split_speaker("see https://example.com: later") == (None, "see https://example.com: later")
    assert split_speaker("Time: 10:30 sharp") == ("Time", "10:30 sharp")
    assert split_speaker("no colon here") == (None, "no colon here")
    voiced = parse_transcript(b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Ann Lee>Hello there\n")
    assert [(c.speaker, c.text) for c in voiced] == [("Ann Lee", "Hello there")]
    for unreadable in (b"not a transcript", b"\xff\xfe\x00garbage"):
        with pytest.raises(TranscriptUnreadable):
            parse_transcript(unreadable)
    # What the sync stores: cues, or the status and reason of a file it cannot read or did not fetch.
    assert read_transcript(LAUNCH_2.encode(), None)[:2] == (TranscriptStatus.STORED, None)
    status, reason, cues = read_transcript(b"<html>not found</html>", None)
    assert (status, cues) == (TranscriptStatus.INVALID, []) and reason and "not WebVTT" in reason
    assert read_transcript(b"", "Zoom announces 30000000 bytes") == (
        TranscriptStatus.TOO_LARGE,
        "Zoom announces 30000000 bytes",
        [],
    )


def test_a_transcript_is_stored_once_per_recording_file(db_engine: Engine, stored: dict[str, int]) -> None:
    """#15.4, R-SYNC-6: a re-sync finds the file's transcript stored and writes nothing (and
    ``transcripts_to_fetch`` no longer lists it)."""
    with Session(db_engine) as session:
        again = _store_again(session)
        count = session.execute(text("SELECT count(*) FROM transcript_cues")).scalar_one()
        pending = transcripts_to_fetch(session, ["file-launch-1", "file-unknown"])
    assert again is None
    assert count == 5 + 2 + 1
    assert pending == {}


def _store_again(session: Session) -> int | None:
    event_id = upsert_marketing_events(
        session, [MarketingEventUpsert(zoom_webinar_id=LAUNCH, business_unit_id=1, topic="Product launch")]
    )[LAUNCH]
    recording_id = upsert_recordings(
        session,
        [
            RecordingUpsert(
                zoom_file_id="file-launch-1", marketing_event_id=event_id, file_type="TRANSCRIPT", status="available"
            )
        ],
    )["file-launch-1"]
    write = TranscriptWrite(
        recording_id=recording_id,
        marketing_event_id=event_id,
        zoom_webinar_id=LAUNCH,
        occurrence="launch-1",
        occurrence_start=None,
        status=TranscriptStatus.STORED,
        byte_size=1,
    )
    return store_transcript(session, write, parse_transcript(LAUNCH_1.encode()))


def test_search_answers_webinar_occurrence_speaker_offset_and_snippet(
    db_engine: Engine, stored: dict[str, int]
) -> None:
    """#15.4: every word must occur (stemmed: "price" finds "pricing", "asks" finds "asked");
    each hit names its webinar, occurrence, speaker and offset, with the words marked."""
    with Session(db_engine) as session:
        pricing = search_cues(session, "price")
        partners = search_cues(session, "partners pricing")
        asks = search_cues(session, "asks")
        only_launch = search_cues(session, "pricing", zoom_webinar_id=LAUNCH)
        only_jane = search_cues(session, "pricing", speaker="Jane Doe")
        by_speaker_name = search_cues(session, "dieter")
    found = {(h.zoom_webinar_id, h.occurrence, h.sequence) for h in pricing.hits}
    assert found == {
        (LAUNCH, "launch-1", 2),
        (LAUNCH, "launch-1", 3),
        (LAUNCH, "launch-2", 2),
        (SUMMIT, "summit-1", 1),
    }
    assert {(h.zoom_webinar_id, h.sequence) for h in partners.hits} == {(LAUNCH, 3), (SUMMIT, 1)}
    jane = next(h for h in partners.hits if h.zoom_webinar_id == LAUNCH)
    assert (jane.topic, jane.speaker, jane.start_ms, jane.end_ms) == ("Product launch", "Jane Doe", 65250, 69000)
    assert jane.occurrence_start == STARTS["launch-1"]
    assert "«pricing»" in jane.snippet and "«partners»" in jane.snippet
    assert [(h.zoom_webinar_id, h.speaker) for h in asks.hits] == [(SUMMIT, "Dieter Host")]
    assert {h.zoom_webinar_id for h in only_launch.hits} == {LAUNCH} and len(only_launch.hits) == 3
    assert {(h.occurrence, h.speaker) for h in only_jane.hits} == {("launch-1", "Jane Doe"), ("launch-2", "Jane Doe")}
    assert [(h.sequence, h.speaker) for h in by_speaker_name.hits] == [(1, "Dieter Host")]


def test_search_pages_with_a_cursor(db_engine: Engine, stored: dict[str, int]) -> None:
    with Session(db_engine) as session:
        first = search_cues(session, "pricing", limit=3)
        assert first.next_cursor is not None
        second = search_cues(session, "pricing", limit=3, cursor=first.next_cursor)
        with pytest.raises(InvalidCursor):
            search_cues(session, "pricing", cursor="not-a-cursor")
    keys = [(h.transcript_id, h.sequence) for h in first.hits + second.hits]
    assert len(first.hits) == 3 and len(second.hits) == 1 and second.next_cursor is None
    assert len(set(keys)) == 4


HOSTILE = [
    '"',
    '"pricing',
    "pricing AND",
    "AND OR NOT",
    "NEAR(pricing dashboard)",
    "pric*",
    "speaker:Jane",
    "{speaker text}: pricing",
    "pricing) OR (1=1",
    "'; DROP TABLE transcript_cues; --",
    "^pricing",
    "pricing -dashboard",
    "dashboard & | ! :*",
    '\\"AND\\"',
]


#: Hits of the hostile searches without stop words (which PostgreSQL drops and SQLite keeps): all
#: their words must occur, operators included.
PLAIN_COUNTS = {'"pricing': 4, "^pricing": 4, "pricing -dashboard": 1, "pric*": 0, "speaker:Jane": 0}


@pytest.mark.parametrize("query", HOSTILE)
def test_query_syntax_is_only_text(db_engine: Engine, stored: dict[str, int], query: str) -> None:
    """#15.4: FTS5 quotes, operators, column filters and prefixes, tsquery's ``& | ! :*``, SQL: the
    words are quoted, so each search matches or not (or, without any word, is refused as such)."""
    with Session(db_engine) as session:
        if not re.search(r"\w", query):
            with pytest.raises(InvalidSearch):
                search_cues(session, query)
            return
        page = search_cues(session, query)
        remaining = session.execute(text("SELECT count(*) FROM transcript_cues")).scalar_one()
    assert remaining == 8
    assert all(hit.snippet for hit in page.hits)
    if query in PLAIN_COUNTS:
        assert len(page.hits) == PLAIN_COUNTS[query]


def test_operators_are_words(db_engine: Engine, stored: dict[str, int]) -> None:
    """``"AND"`` and ``NEAR`` in the text are found as the words they are (SQLite: quoted FTS5
    strings; PostgreSQL: plain words — "and" is an English stop word there, so it matches nothing)."""
    with Session(db_engine) as session:
        near = search_cues(session, "NEAR reports")
    assert [(h.zoom_webinar_id, h.speaker) for h in near.hits] == [(LAUNCH, "Bob Host")]


def test_a_search_without_words_or_too_long_is_refused(db_engine: Engine) -> None:
    with Session(db_engine) as session:
        for query in ("", "  ", '"" ()', "* * *"):
            with pytest.raises(InvalidSearch):
                search_cues(session, query)
        with pytest.raises(InvalidSearch):
            search_cues(session, "a" * (MAX_QUERY_CHARS + 1))


async def test_the_api_searches_and_pages_a_webinar_transcript(
    viewer: httpx.AsyncClient, stored: dict[str, int]
) -> None:
    """#15.4: ``GET /v1/transcripts/search`` and ``GET /v1/webinars/{id}/transcript`` for a viewer;
    bad input is a 4xx JSON error with a stable code."""
    found = await viewer.get("/v1/transcripts/search", params={"q": '"pricing" partners', "webinar_id": LAUNCH})
    assert found.status_code == 200, found.text
    [hit] = found.json()["hits"]
    assert {k: hit[k] for k in ("webinar_id", "occurrence", "speaker", "offset", "start_seconds", "sequence")} == {
        "webinar_id": LAUNCH,
        "occurrence": "launch-1",
        "speaker": "Jane Doe",
        "offset": "00:01:05.250",
        "start_seconds": 65.25,
        "sequence": 3,
    }

    page = await viewer.get(f"/v1/webinars/{LAUNCH}/transcript", params={"limit": 4})
    assert page.status_code == 200, page.text
    body = page.json()
    assert [(t["occurrence"], t["cue_count"], t["status"]) for t in body["transcripts"]] == [
        ("launch-1", 5, "stored"),
        ("launch-2", 2, "stored"),
    ]
    rest = (await viewer.get(f"/v1/webinars/{LAUNCH}/transcript", params={"cursor": body["next_cursor"]})).json()
    cues = body["cues"] + rest["cues"]
    assert [(c["occurrence"], c["sequence"]) for c in cues] == [
        ("launch-1", 1),
        ("launch-1", 2),
        ("launch-1", 3),
        ("launch-1", 4),
        ("launch-1", 5),
        ("launch-2", 1),
        ("launch-2", 2),
    ]
    assert rest["next_cursor"] is None
    assert cues[2] | {"transcript_id": 0} == {
        "transcript_id": 0,
        "occurrence": "launch-1",
        "sequence": 3,
        "speaker": "Jane Doe",
        "start_seconds": 65.25,
        "end_seconds": 69.0,
        "offset": "00:01:05.250",
        "text": "Can you say more about pricing for partners?",
    }
    one = (await viewer.get(f"/v1/webinars/{LAUNCH}/transcript", params={"occurrence": "launch-2"})).json()
    assert [c["text"] for c in one["cues"]] == [
        "Welcome back: migrations this week.",
        "Is pricing changing after the migration?",
    ]

    refusals = {
        "long": await viewer.get("/v1/transcripts/search", params={"q": "x" * (MAX_QUERY_CHARS + 1)}),
        "no words": await viewer.get("/v1/transcripts/search", params={"q": '""'}),
        "no q": await viewer.get("/v1/transcripts/search"),
        "bad cursor": await viewer.get("/v1/transcripts/search", params={"q": "pricing", "cursor": "zz"}),
        "no transcript": await viewer.get("/v1/webinars/82000000001/transcript"),
        "no occurrence": await viewer.get(f"/v1/webinars/{LAUNCH}/transcript", params={"occurrence": "nope"}),
    }
    codes = {name: (r.status_code, r.json()["error"]["code"]) for name, r in refusals.items()}
    assert codes == {
        "long": (422, "VALIDATION_ERROR"),
        "no words": (422, "INVALID_SEARCH"),
        "no q": (422, "VALIDATION_ERROR"),
        "bad cursor": (422, "INVALID_CURSOR"),
        "no transcript": (404, "TRANSCRIPT_NOT_FOUND"),
        "no occurrence": (404, "TRANSCRIPT_NOT_FOUND"),
    }
    for query in HOSTILE:
        answer = await viewer.get("/v1/transcripts/search", params={"q": query})
        assert answer.status_code in (200, 422), (query, answer.text)
