"""When a delay step ends: the meaning of ``for``, ``until``, ``offset``, ``at_time``, ``on_days`` and ``timezone``.

Pure functions of the step and the clock, so the interpreter can call them with
``workflow.now()`` and stay deterministic.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from engine.dsl.models import DelayStep, Weekday, parse_datetime

_WEEKDAYS = list(Weekday)


def delay_deadline(step: DelayStep, started_at: datetime, until: str | None = None) -> datetime:
    """The moment (UTC) the delay ends, for a delay reached at ``started_at`` (aware).

    ``until`` is the rendered value of ``step.until`` when it is a template. A naive date-time is
    read in the step's time zone (UTC when none). Raises ValueError when ``until`` is not an ISO
    8601 date-time.
    """
    zone = ZoneInfo(step.timezone or "UTC")
    moment = started_at
    if step.for_ is not None:
        moment = started_at + step.for_
    elif step.until is not None:
        moment = parse_datetime(until if until is not None else step.until)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        moment += step.offset or timedelta(0)
    if step.at_time is not None or step.on_days is not None:
        moment = _next_allowed(moment, step, zone)
    return moment.astimezone(UTC)


def _next_allowed(moment: datetime, step: DelayStep, zone: ZoneInfo) -> datetime:
    """The first moment at or after ``moment`` that falls on one of ``on_days`` at ``at_time``."""
    local = moment.astimezone(zone)
    at = time.fromisoformat(step.at_time) if step.at_time is not None else None
    for days_ahead in range(8):
        day = local.date() + timedelta(days=days_ahead)
        if step.on_days is not None and _WEEKDAYS[day.weekday()] not in step.on_days:
            continue
        if at is None:
            return local if days_ahead == 0 else datetime.combine(day, time(0), tzinfo=zone)
        candidate = datetime.combine(day, at, tzinfo=zone)
        if candidate >= local:
            return candidate
    raise AssertionError("a week always holds an allowed day")  # on_days is non-empty (min_length=1)


def remaining(deadline: datetime, now: datetime) -> timedelta | None:
    """How long to sleep, or None when the deadline has passed: never start a zero timer
    (docs/temporal.md, "Zero timers")."""
    left = deadline - now
    return left if left > timedelta(0) else None
