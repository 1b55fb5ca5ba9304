"""Whether a webinar's recordings are stored, still coming, or never will be (R-SYNC-5, R-AUD-2).

Zoom answers 404 code 3301 ("There is no recording for this meeting.") both while a recording is
being processed and when there is none at all (never recorded, or deleted). Zoom processes a
cloud recording within minutes to a few hours of the end — roughly twice the recording's length —
so Rollcall reads 3301 as "still processing" until a grace period after the occurrence ended
(``no_recording_grace``: two hours, or twice the webinar's duration if that is longer) and as "no
recording" after it. A recording Zoom lists with files not completed yet is always waited for.
A recording that appears later anyway comes with Zoom's ``recording.completed`` webhook, which
starts a new sync that adds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.sync.contracts import RecordingState


@dataclass(frozen=True)
class OccurrenceFiles:
    """What Zoom had for one occurrence (instance) of the webinar: no files at all when it
    answered 404 3301."""

    occurrence: str
    ended_at: datetime | None
    videos: int = 0
    transcripts: int = 0
    #: Zoom lists files that are not completed yet.
    processing: bool = False


def no_recording_grace(duration_minutes: int | None, minimum_seconds: int) -> timedelta:
    """How long after an occurrence's end a "no recording" answer may still mean "processing"."""
    return timedelta(seconds=max(minimum_seconds, 2 * 60 * (duration_minutes or 0)))


def _absent(item: OccurrenceFiles, as_of: datetime, grace: timedelta) -> bool:
    """No video (3301, or no video file) and nothing processing, past the grace period."""
    if item.processing or item.videos > 0 or item.ended_at is None:
        return False
    return as_of - item.ended_at >= grace


def recording_outcome(
    occurrences: Sequence[OccurrenceFiles], *, as_of: datetime, grace: timedelta
) -> tuple[RecordingState, list[dict[str, str]]]:
    """The state the sync waits on, and the occurrences that have no recording (audit items)."""
    absent = [item for item in occurrences if _absent(item, as_of, grace)]
    waiting = [item for item in occurrences if item not in absent]
    items = [
        {"occurrence": item.occurrence, "ended_at": item.ended_at.isoformat() if item.ended_at else ""}
        for item in absent
    ]
    if any(item.processing or item.videos == 0 for item in waiting):
        return RecordingState.PROCESSING, items
    if any(item.transcripts == 0 for item in waiting):
        return RecordingState.TRANSCRIPT_PENDING, items
    if waiting:
        return RecordingState.SYNCED, items
    return RecordingState.NONE, items
