"""Durations as users write them in definitions: ``"2d 4h"``, ``"30m"``, ``"1w"``, ``"90s"``.

A duration is one or more ``<whole number><unit>`` parts, units ``w d h m s`` from largest to
smallest, each at most once, spaces optional. Decimals are refused ("1.5h" is "1h 30m") so a
duration has one spelling per value and the content hash of a definition is stable.
"""

from __future__ import annotations

import re
from datetime import timedelta

UNIT_SECONDS: dict[str, int] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
#: Guards timedelta against overflow and catches typos like "100000d"; Temporal timers this long
#: would outlive any webinar campaign anyway.
MAX_SECONDS = 3_650 * 86_400

_PART = re.compile(r"(\d+)\s*([a-zA-Z]+)", re.ASCII)
_WHOLE = re.compile(r"\s*([+-]?)\s*((?:\d+\s*[a-zA-Z]+\s*)+)", re.ASCII)


class DurationError(ValueError):
    """The text is not a duration; ``code`` tells garbage (INVALID_DURATION) from zero/negative (ZERO_DELAY)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_duration(text: str, *, allow_negative: bool = False) -> timedelta:
    """``"2d 4h"`` → ``timedelta(days=2, hours=4)``; raises DurationError for anything else.

    Zero is always refused: a zero timer still costs a server round trip (docs/temporal.md,
    "Zero timers"), so the language cannot express one. Negative values are accepted only where a
    signed offset makes sense (``allow_negative``, e.g. "1h before the webinar").
    """
    match = _WHOLE.fullmatch(text)
    if match is None:
        raise DurationError(
            "INVALID_DURATION",
            f"{text!r} is not a duration; write whole numbers with units w, d, h, m, s, like '2d 4h' or '90s'",
        )
    sign, body = match.groups()
    total = 0
    previous_rank = -1
    units = list(UNIT_SECONDS)
    for amount, unit in _PART.findall(body):
        if unit not in UNIT_SECONDS:
            raise DurationError(
                "INVALID_DURATION", f"{text!r}: unknown unit {unit!r}; use w, d, h, m or s (like '2d 4h')"
            )
        rank = units.index(unit)
        if rank <= previous_rank:
            raise DurationError(
                "INVALID_DURATION", f"{text!r}: give each unit once, from largest to smallest (like '1w 2d 4h')"
            )
        previous_rank = rank
        total += int(amount) * UNIT_SECONDS[unit]
        if total > MAX_SECONDS:
            raise DurationError("INVALID_DURATION", f"{text!r} is longer than the maximum of 3650d")
    if total == 0:
        raise DurationError("ZERO_DELAY", f"{text!r} is zero; a duration must be longer than zero")
    if sign == "-":
        if not allow_negative:
            raise DurationError("ZERO_DELAY", f"{text!r} is negative; a duration must be longer than zero")
        total = -total
    return timedelta(seconds=total)


def format_duration(value: timedelta) -> str:
    """The canonical spelling: ``timedelta(days=9, hours=4)`` → ``"1w 2d 4h"``; the inverse of parse_duration."""
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    parts: list[str] = []
    for unit, size in UNIT_SECONDS.items():
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return sign + (" ".join(parts) or "0s")
