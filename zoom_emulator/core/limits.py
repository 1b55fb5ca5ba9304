"""Zoom's per-account rate limits as the emulator enforces them.

Per-second budgets count in fixed one-second windows of the emulator clock; daily budgets per
UTC day. Every 429 says which (``X-RateLimit-Type: QPS`` with ``Retry-After`` in seconds, or
``Daily-limit`` with ``Retry-After`` the next UTC midnight as ISO-8601).
``RateLimitMode.NO_HEADERS`` reproduces real answers that lack the rate-limit headers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from zoom_emulator.core.clock import EmulatorClock
from zoom_emulator.core.facts import DAILY_LIMITS, DAILY_MESSAGE, PER_SECOND_LIMITS, QPS_MESSAGE, Plan, RateLabel


class RateLimitMode(StrEnum):
    ENFORCED = "enforced"
    NO_HEADERS = "no_headers"
    OFF = "off"


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    headers: dict[str, str]
    message: str = ""


def next_utc_midnight(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


@dataclass
class AccountRateLimits:
    clock: EmulatorClock
    mode: RateLimitMode = RateLimitMode.ENFORCED
    _per_second: Counter[tuple[str, RateLabel, int]] = field(default_factory=Counter)
    _per_day: Counter[tuple[str, RateLabel, str]] = field(default_factory=Counter)
    #: 429s answered, by account, label and ``X-RateLimit-Type`` (``QPS``, ``Daily-limit``).
    refused: Counter[tuple[str, RateLabel, str]] = field(default_factory=Counter)
    #: The most calls one account made with one label within one second (the emulator clock's).
    peak_per_second: Counter[tuple[str, RateLabel]] = field(default_factory=Counter)

    def check(
        self, account_id: str, plan: Plan, label: RateLabel, custom: Mapping[RateLabel, int] | None = None
    ) -> RateDecision:
        """``custom``: the account's own per-second limits, where Zoom set them instead of the plan's."""
        if self.mode is RateLimitMode.OFF:
            return RateDecision(True, {})
        now = self.clock.now()
        second = int(now.timestamp())
        day = now.date().isoformat()
        per_second = (custom or {}).get(label, PER_SECOND_LIMITS[plan][label])
        daily = DAILY_LIMITS[plan].get(label)
        with_headers = self.mode is RateLimitMode.ENFORCED
        if daily is not None and self._per_day[(account_id, label, day)] >= daily:
            headers = {}
            if with_headers:
                headers = {
                    "X-RateLimit-Category": label.value,
                    "X-RateLimit-Type": "Daily-limit",
                    "X-RateLimit-Limit": str(daily),
                    "X-RateLimit-Remaining": "0",
                    "Retry-After": next_utc_midnight(now).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            self.refused[(account_id, label, "Daily-limit")] += 1
            return RateDecision(False, headers, DAILY_MESSAGE)
        if self._per_second[(account_id, label, second)] >= per_second:
            headers = {}
            if with_headers:
                headers = {
                    "X-RateLimit-Category": label.value,
                    "X-RateLimit-Type": "QPS",
                    "X-RateLimit-Limit": str(per_second),
                    "X-RateLimit-Remaining": "0",
                    # Seconds until the next one-second window opens.
                    "Retry-After": "1",
                }
            self.refused[(account_id, label, "QPS")] += 1
            return RateDecision(False, headers, QPS_MESSAGE)
        self._per_second[(account_id, label, second)] += 1
        peak = self.peak_per_second[(account_id, label)]
        self.peak_per_second[(account_id, label)] = max(peak, self._per_second[(account_id, label, second)])
        self._per_day[(account_id, label, day)] += 1
        if len(self._per_second) > 10_000:
            self._forget_old_seconds(second)
        if not with_headers:
            return RateDecision(True, {})
        limit = daily if daily is not None else per_second
        used = (
            self._per_day[(account_id, label, day)]
            if daily is not None
            else self._per_second[(account_id, label, second)]
        )
        return RateDecision(
            True,
            {
                "X-RateLimit-Category": label.value,
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(max(0, limit - used)),
            },
        )

    def report(self) -> dict[str, dict[str, dict[str, int]]]:
        """Per account and label: the 429s by type and the busiest second (``peak_per_second``)."""
        found: dict[str, dict[str, dict[str, int]]] = {}
        for (account_id, label, kind), count in self.refused.items():
            found.setdefault(account_id, {}).setdefault(label.value, {})[kind] = count
        for (account_id, label), peak in self.peak_per_second.items():
            found.setdefault(account_id, {}).setdefault(label.value, {})["peak_per_second"] = peak
        return found

    def _forget_old_seconds(self, current: int) -> None:
        for key in [key for key in self._per_second if key[2] < current]:
            del self._per_second[key]
