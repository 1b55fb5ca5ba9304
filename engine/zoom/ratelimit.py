"""Client-side token buckets so Rollcall itself stays under Zoom's per-second limits.

Zoom counts per **account** (shared by every app of the account) and per rate label; the sizes
depend on the plan (docs/zoom.md, "Rate limits"). Daily budgets are not tracked here: Zoom's
daily 429 carries ``Retry-After`` and the durable retry honours it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from enum import StrEnum

from engine.metrics import ZOOM_RATE_LIMIT_WAIT_SECONDS, ZOOM_RATE_LIMIT_WAITS
from engine.zoom.settings import ZoomPlan


class RateLabel(StrEnum):
    LIGHT = "Light"
    MEDIUM = "Medium"
    HEAVY = "Heavy"


#: Requests per second by plan and label (docs/zoom.md, "Rate limits").
PER_SECOND_LIMITS: dict[ZoomPlan, dict[RateLabel, int]] = {
    ZoomPlan.FREE: {RateLabel.LIGHT: 4, RateLabel.MEDIUM: 2, RateLabel.HEAVY: 1},
    ZoomPlan.PRO: {RateLabel.LIGHT: 30, RateLabel.MEDIUM: 20, RateLabel.HEAVY: 10},
    ZoomPlan.BUSINESS: {RateLabel.LIGHT: 80, RateLabel.MEDIUM: 60, RateLabel.HEAVY: 40},
}

#: Requests per UTC day by plan and label; a missing entry means no documented daily limit.
DAILY_LIMITS: dict[ZoomPlan, dict[RateLabel, int]] = {
    ZoomPlan.FREE: {RateLabel.LIGHT: 6_000, RateLabel.MEDIUM: 2_000, RateLabel.HEAVY: 1_000},
    ZoomPlan.PRO: {RateLabel.HEAVY: 30_000},
    ZoomPlan.BUSINESS: {RateLabel.HEAVY: 60_000},
}

#: Zoom counts in fixed one-second windows; a bucket refilling at the full limit could still put
#: limit + 1 calls in one window, so Rollcall keeps a 10 % margin and a burst of one.
SAFETY_FACTOR = 0.9
#: A wait for a token shorter than this is the lock's hand-over, not the limiter holding a call back.
MIN_COUNTED_WAIT = 0.005


class TokenBucket:
    def __init__(self, rate_per_second: float, capacity: float = 1.0, *, clock: Callable[[], float]) -> None:
        self._rate = rate_per_second
        self._capacity = capacity
        self._tokens = capacity
        self._clock = clock
        self._updated = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        # The lock makes waiters queue in arrival order instead of all waking together.
        async with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
                self._updated = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self._tokens) / self._rate)


class AccountRateLimiter:
    """One bucket per rate label for one Zoom account; share it between clients of that account."""

    def __init__(self, plan: ZoomPlan, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.plan = plan
        self._buckets = {
            label: TokenBucket(limit * SAFETY_FACTOR, clock=clock) for label, limit in PER_SECOND_LIMITS[plan].items()
        }

    async def acquire(self, label: RateLabel) -> None:
        started = time.monotonic()
        await self._buckets[label].acquire()
        waited = time.monotonic() - started
        if waited >= MIN_COUNTED_WAIT:
            ZOOM_RATE_LIMIT_WAITS.labels(label.value).inc()
            ZOOM_RATE_LIMIT_WAIT_SECONDS.labels(label.value).inc(waited)


class RateLimiterRegistry:
    """Limiters keyed by Zoom account id, so two connections to one account share budgets."""

    def __init__(self) -> None:
        self._limiters: dict[str, AccountRateLimiter] = {}

    def for_account(self, account_id: str, plan: ZoomPlan) -> AccountRateLimiter:
        limiter = self._limiters.get(account_id)
        if limiter is None:
            limiter = self._limiters[account_id] = AccountRateLimiter(plan)
        return limiter
