"""One ``Retry-After`` parser for every HTTP answer Rollcall reads (Zoom's, webhook receivers')."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: A longer wait than this is read as this: an answer cannot park a run for months.
MAX_RETRY_AFTER_SECONDS = 7 * 24 * 3600.0


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as a delay in seconds from ``now``: delta-seconds, an ISO-8601 date-time (what
    Zoom's daily limits send, docs/zoom.md "Rate limits") or an HTTP-date. None when absent or
    unreadable (``nan``, ``inf`` and ``1e400`` included); never negative, at most a week."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    seconds: float | None
    try:
        seconds = float(text)
    except ValueError:
        seconds = _until(text, now)
    if seconds is None or not math.isfinite(seconds):
        return None
    return min(MAX_RETRY_AFTER_SECONDS, max(0.0, seconds))


def _until(text: str, now: datetime) -> float | None:
    moment: datetime | None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - now).total_seconds()
