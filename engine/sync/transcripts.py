"""Reading a Zoom transcript (#15.4, R-SYNC-5): WebVTT, parsed by ``webvtt-py``.

Zoom's audio transcript is WebVTT with a numbered cue per utterance, the speaker's display name
before a colon::

    WEBVTT

    1
    00:00:02.000 --> 00:00:07.480
    Alice Host: Welcome everyone to the product launch.

A cue without a ``Name:`` prefix (Zoom could not tell who spoke) has no speaker; a WebVTT voice
span (``<v Alice Host>…``) names one too. Malformed cue blocks are skipped, as the library does
when not strict; a document that is not WebVTT at all is refused (``TranscriptUnreadable``).
"""

from __future__ import annotations

import io
import re

import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from engine.crm.tables import TranscriptStatus
from engine.crm.transcripts import Cue

#: Transcripts larger than this are not downloaded (stored as ``too_large``): 20 MiB is some 200
#: hours of speech.
MAX_TRANSCRIPT_BYTES = 20 * 1024 * 1024
#: The longest speaker name kept (``transcript_cues.speaker``); a longer "name" is not one.
MAX_SPEAKER_CHARS = 200
_SPEAKER = re.compile(rf"^([^:\n]{{1,{MAX_SPEAKER_CHARS}}}?):[ \t]+(?=\S)")


class TranscriptUnreadable(ValueError):
    """The file is not UTF-8 WebVTT."""


def split_speaker(text: str) -> tuple[str | None, str]:
    """Zoom's ``Speaker Name: what they said`` → (speaker, text); (None, text) without a name."""
    found = _SPEAKER.match(text)
    if found is None:
        return None, text
    return found.group(1).strip() or None, text[found.end() :]


def parse_transcript(data: bytes) -> list[Cue]:
    """The cues of a WebVTT transcript, in order, numbered from 1."""
    try:
        document = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TranscriptUnreadable("the transcript is not UTF-8 text") from None
    try:
        captions = webvtt.from_buffer(io.StringIO(document)).captions
    except (MalformedFileError, MalformedCaptionError) as error:
        raise TranscriptUnreadable(f"the transcript is not WebVTT: {error}") from None
    cues: list[Cue] = []
    for caption in captions:
        text = " ".join(caption.text.split())
        if not text:
            continue
        speaker, said = split_speaker(text)
        voice = caption.voice
        if speaker is None and voice:
            speaker = " ".join(voice.split())[:MAX_SPEAKER_CHARS] or None
        cues.append(
            Cue(
                sequence=len(cues) + 1,
                speaker=speaker,
                start_ms=caption.start_time.in_milliseconds(),
                end_ms=caption.end_time.in_milliseconds(),
                text=said,
            )
        )
    return cues


def read_transcript(data: bytes, refused: str | None) -> tuple[TranscriptStatus, str | None, list[Cue]]:
    """What to store of a transcript: its cues (``stored``); or, with the reason, ``too_large`` when
    it was ``refused`` (not downloaded) and ``invalid`` when it is not WebVTT."""
    if refused is not None:
        return TranscriptStatus.TOO_LARGE, refused, []
    try:
        return TranscriptStatus.STORED, None, parse_transcript(data)
    except TranscriptUnreadable as error:
        return TranscriptStatus.INVALID, str(error), []
