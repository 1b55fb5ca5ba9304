"""A sync run's progress in words: its current details in the Temporal Web UI and in the API
("registrants 3,000/10,000 · attendees 1,200 · waiting for the transcript, next check 09:30 UTC")."""

from __future__ import annotations

from collections.abc import Mapping

from engine.sync.contracts import SyncProgress


def _of(done: int, total: int | None) -> str:
    return f"{done:,}/{total:,}" if total else f"{done:,}"


def with_counts(progress: SyncProgress, counts: Mapping[str, int]) -> SyncProgress:
    """``progress`` with the rows read and the totals Zoom reported, from the run's audit counts."""
    return progress.model_copy(
        update={
            "registrants": counts.get("registrants_rows", 0),
            "registrants_total": counts.get("registrants_total") or None,
            "attendees": counts.get("attendees_rows", 0),
            "attendees_total": counts.get("attendees_total") or None,
            "recording_files": counts.get("recording_files", 0),
        }
    )


def describe(progress: SyncProgress) -> str:
    """One line: counts so far, then what the run does now (or waits for, and until when)."""
    parts = []
    if progress.registrants or progress.registrants_total:
        parts.append(f"registrants {_of(progress.registrants, progress.registrants_total)}")
    if progress.attendees or progress.attendees_total:
        parts.append(f"attendees {_of(progress.attendees, progress.attendees_total)}")
    if progress.recording_files:
        parts.append(f"recording files {progress.recording_files:,}")
    if progress.status != "running":
        return " · ".join([progress.status, *parts])
    if progress.waiting_for:
        waiting = f"waiting for {progress.waiting_for}"
        if progress.next_check_at is not None:
            waiting += f", next check {progress.next_check_at:%H:%M} UTC"
        parts.append(waiting)
        if progress.refresh_pending:
            parts.append("new registrations or attendees: refreshing them shortly")
    else:
        parts.append(progress.phase)
    return " · ".join(parts)
