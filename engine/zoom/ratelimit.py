"""Rollcall's own pacing so it stays under Zoom's per-second limits, in one process or in many.

Zoom counts per **account** (shared by every app of the account) and per rate category (Light,
Medium, Heavy, Resource-intensive); the sizes depend on the plan (docs/zoom.md, "Rate limits").

- ``AccountRateLimiter``: token buckets in this process. Enough for one process; the fallback of
  the shared limiter when its store cannot be reached.
- ``SharedRateLimiter``: every process that calls one account takes its turn from the same
  ``RateBudgets`` (the CRM store: ``engine.crm.zoom_rate_budgets``). Each call reserves a send
  time — one slot every ``1 / (limit × SAFETY_FACTOR)`` seconds per account and category — so N
  workers together send what one would. The calls of a process that wait at the same time reserve
  their slots in one store write.

A per-second 429 (``X-RateLimit-Type: QPS``, or a 429 that does not say) starts a backoff of its
category (``X-RateLimit-Category``) for ``Retry-After`` seconds (1 s without it): no process
sends calls of that category until it ends. Daily limits are not shared: Zoom answers an
account's daily limit and a registrant's (3 adds per e-mail and day) with the same headers, so a
shared daily stop could halt an account for one e-mail; each call's 429 and its ``Retry-After``
drive Temporal's durable retry instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import structlog

from engine.metrics import ZOOM_RATE_LIMIT_WAIT_SECONDS, ZOOM_RATE_LIMIT_WAITS
from engine.zoom.settings import RateLimitOverrides, ZoomPlan

log = structlog.get_logger(__name__)


class RateLabel(StrEnum):
    """Zoom's rate-limit category of an endpoint (its "Rate Limit Label")."""

    LIGHT = "Light"
    MEDIUM = "Medium"
    HEAVY = "Heavy"
    #: The dashboard metrics endpoints; Rollcall calls none, but a 429 may name the category.
    RESOURCE_INTENSIVE = "Resource-intensive"

    @classmethod
    def from_header(cls, value: str | None) -> RateLabel | None:
        """The category a ``X-RateLimit-Category`` header names, if it is one of Zoom's."""
        wanted = (value or "").strip().lower()
        return next((label for label in cls if label.value.lower() == wanted), None)


LIGHT, MEDIUM, HEAVY, RESOURCE_INTENSIVE = RateLabel
#: Requests per second by plan and category (docs/zoom.md, "Rate limits"); Resource-intensive
#: calls are counted per minute (10 or 20 a minute).
PER_SECOND_LIMITS: dict[ZoomPlan, dict[RateLabel, float]] = {
    ZoomPlan.FREE: {LIGHT: 4, MEDIUM: 2, HEAVY: 1, RESOURCE_INTENSIVE: 10 / 60},
    ZoomPlan.PRO: {LIGHT: 30, MEDIUM: 20, HEAVY: 10, RESOURCE_INTENSIVE: 10 / 60},
    ZoomPlan.BUSINESS: {LIGHT: 80, MEDIUM: 60, HEAVY: 40, RESOURCE_INTENSIVE: 20 / 60},
}


def per_second_limits(plan: ZoomPlan, overrides: RateLimitOverrides | None = None) -> dict[RateLabel, float]:
    """The plan's limits, with the connection's own (``rate_limits``) where it sets them."""
    limits = dict(PER_SECOND_LIMITS[plan])
    if overrides is not None:
        for label in limits:
            custom = getattr(overrides, label.name.lower())
            if custom is not None:
                limits[label] = custom
    return limits


#: Zoom counts in fixed one-second windows; a bucket refilling at the full limit could still put
#: limit + 1 calls in one window, so Rollcall keeps a 20 % margin and a burst of one. Evenly
#: spaced at 80 % of the limit, a window of 15 holds room for three calls more than its share, so
#: calls that arrive late or bunched (a busy event loop, the store's answer coming late, the
#: network, a stalled receiver) stay under the limit. Three workers pacing an account of 15 Light
#: calls a second together got two per-second 429s on a busy machine at 90 %, and again at 85 % in
#: a CI run of 2026-12-05 (tests/integration/zoom/test_shared_rate_limits_workers.py).
SAFETY_FACTOR = 0.8
#: A wait for a token shorter than this is the lock's hand-over, not the limiter holding a call back.
MIN_COUNTED_WAIT = 0.005
#: The longest shared backoff one per-second 429 starts (a bogus ``Retry-After`` stops no account).
MAX_BACKOFF_SECONDS = 60.0
#: The backoff of a per-second 429 without ``Retry-After``: Zoom's windows are one second long.
DEFAULT_BACKOFF_SECONDS = 1.0
#: A call whose turn passed longer ago than this (its process was busy) takes a new turn instead,
#: at most ``MAX_LATE_RETRIES`` times: late calls bunched with on-time ones could over-fill a second.
LATE_SECONDS = 0.05
MAX_LATE_RETRIES = 3


def _count_wait(label: RateLabel, waited: float) -> None:
    if waited >= MIN_COUNTED_WAIT:
        ZOOM_RATE_LIMIT_WAITS.labels(label.value).inc()
        ZOOM_RATE_LIMIT_WAIT_SECONDS.labels(label.value).inc(waited)


class RateLimiter(Protocol):
    """What ``ZoomClient`` asks before each call, and tells after a per-second 429."""

    async def acquire(self, label: RateLabel) -> None: ...

    async def back_off(self, label: RateLabel, seconds: float) -> None: ...


class TokenBucket:
    def __init__(self, rate_per_second: float, capacity: float = 1.0, *, clock: Callable[[], float]) -> None:
        self._rate = rate_per_second
        self._capacity = capacity
        self._tokens = capacity
        self._clock = clock
        self._updated = clock()
        self._blocked_until = 0.0
        self._lock = asyncio.Lock()

    def block(self, seconds: float) -> None:
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    async def acquire(self) -> None:
        # The lock makes waiters queue in arrival order instead of all waking together.
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._blocked_until:
                    await asyncio.sleep(self._blocked_until - now)
                    continue
                self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
                self._updated = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self._tokens) / self._rate)


class AccountRateLimiter:
    """One bucket per category for one Zoom account, in this process; share it between clients of
    that account."""

    def __init__(
        self,
        plan: ZoomPlan,
        *,
        limits: dict[RateLabel, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``limits``: per second by category (``per_second_limits``); the plan's by default."""
        self.plan = plan
        self._buckets = {
            label: TokenBucket(limit * SAFETY_FACTOR, clock=clock)
            for label, limit in (limits or PER_SECOND_LIMITS[plan]).items()
        }

    async def acquire(self, label: RateLabel) -> None:
        started = time.monotonic()
        await self._buckets[label].acquire()
        _count_wait(label, time.monotonic() - started)

    async def back_off(self, label: RateLabel, seconds: float) -> None:
        self._buckets[label].block(min(seconds, MAX_BACKOFF_SECONDS))


# --- shared by every process ------------------------------------------------------------------


class RateBudgetsUnavailable(Exception):
    """The shared budgets cannot be read or written now (the store is down, locked, …)."""


@dataclass(frozen=True)
class Reservation:
    """Seconds from now until the first reserved send time (≤ 0: at once), and until the
    category's shared backoff ends (≤ 0: none)."""

    wait: float
    backoff: float


class RateBudgets(Protocol):
    """Each account's and category's next free send time and backoff, kept where every process
    sees them (``engine.crm.zoom_rate_budgets.StoreRateBudgets``). Blocking calls: the shared
    limiter makes them in a thread of its own. Failures are ``RateBudgetsUnavailable``."""

    def reserve(self, account_id: str, category: str, interval: float, count: int) -> Reservation:
        """Reserve ``count`` consecutive send times ``interval`` seconds apart, the first one no
        earlier than now, the last reserved one or the backoff's end."""
        ...

    def back_off(self, account_id: str, category: str, seconds: float) -> None:
        """No send time of the category before ``seconds`` from now."""
        ...


class SharedRateLimiter:
    """Paces one Zoom account's calls across every process that shares ``budgets``."""

    #: How often, at most, the fallback to this process's own buckets is logged.
    FALLBACK_LOG_EVERY = 60.0
    #: After the store failed to answer, how long calls pace alone before it is asked again.
    FALLBACK_SECONDS = 5.0

    def __init__(
        self,
        account_id: str,
        plan: ZoomPlan,
        budgets: RateBudgets,
        executor: Executor,
        *,
        limits: dict[RateLabel, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.plan = plan
        self._account = account_id
        self._budgets = budgets
        self._executor = executor
        self._clock = clock
        limits = limits or PER_SECOND_LIMITS[plan]
        self._intervals = {label: 1.0 / (limit * SAFETY_FACTOR) for label, limit in limits.items()}
        #: Used while the store cannot be reached: this process alone stays under the limits.
        self._local = AccountRateLimiter(plan, limits=limits, clock=clock)
        self._waiting: dict[RateLabel, list[asyncio.Future[tuple[float, bool]]]] = {
            label: [] for label in self._intervals
        }
        self._reserving: dict[RateLabel, asyncio.Task[None]] = {}
        #: Per category, when (this process's clock) the last known shared backoff ends.
        self._blocked_until: dict[RateLabel, float] = {}
        self._fallback_logged = -self.FALLBACK_LOG_EVERY
        self._alone_until = 0.0

    async def acquire(self, label: RateLabel) -> None:
        slept = 0.0  # the time spent waiting for a turn (not for the store's answers)
        late_retries = 0
        while True:
            if self._clock() < self._alone_until:
                await self._local.acquire(label)
                return
            blocked = self._blocked_until.get(label, 0.0) - self._clock()
            if blocked > 0:
                await asyncio.sleep(blocked)
                slept += blocked
            try:
                send_at, queued = await self._reserve(label)
            except RateBudgetsUnavailable as exc:
                self._pace_alone(exc)
                continue
            delay = send_at - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
                slept += delay
            # A backoff that began while this call waited (a 429 here, or one the store reported
            # since) sends it back for a slot after the backoff; so does waking up late (a busy
            # event loop) in a queue: sent now, it would share a second with the next slots' calls.
            if self._blocked_until.get(label, 0.0) > self._clock():
                continue
            if queued and self._clock() - send_at > LATE_SECONDS and late_retries < MAX_LATE_RETRIES:
                late_retries += 1
                continue
            break
        _count_wait(label, slept)

    async def back_off(self, label: RateLabel, seconds: float) -> None:
        seconds = min(seconds, MAX_BACKOFF_SECONDS)
        self._blocked_until[label] = max(self._blocked_until.get(label, 0.0), self._clock() + seconds)
        await self._local.back_off(label, seconds)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._budgets.back_off, self._account, label.value, seconds)
        except RateBudgetsUnavailable as exc:
            self._pace_alone(exc)

    async def _reserve(self, label: RateLabel) -> tuple[float, bool]:
        """When (this process's clock) this call may be sent — its slot of one reservation made for
        every call of the category that asked while the previous one was being made — and whether
        it queued (its slot was still to come when reserved)."""
        waiter: asyncio.Future[tuple[float, bool]] = asyncio.get_running_loop().create_future()
        self._waiting[label].append(waiter)
        running = self._reserving.get(label)
        if running is None or running.done() or running.get_loop() is not asyncio.get_running_loop():
            self._reserving[label] = asyncio.create_task(self._reserve_batches(label))
        return await waiter

    async def _reserve_batches(self, label: RateLabel) -> None:
        loop = asyncio.get_running_loop()
        interval = self._intervals[label]
        try:
            while self._waiting[label]:
                batch = [waiter for waiter in self._waiting[label] if not waiter.done()]
                self._waiting[label] = []
                if not batch:
                    continue
                try:
                    reservation = await loop.run_in_executor(
                        self._executor, self._budgets.reserve, self._account, label.value, interval, len(batch)
                    )
                except RateBudgetsUnavailable as exc:
                    for waiter in batch:
                        if not waiter.done():
                            waiter.set_exception(exc)
                    continue
                now = self._clock()
                if reservation.backoff > 0:
                    self._blocked_until[label] = max(self._blocked_until.get(label, 0.0), now + reservation.backoff)
                for index, waiter in enumerate(batch):
                    if not waiter.done():
                        wait = reservation.wait + index * interval
                        waiter.set_result((now + wait, wait > 0))
        finally:
            if self._reserving.get(label) is asyncio.current_task():
                del self._reserving[label]

    def _pace_alone(self, exc: RateBudgetsUnavailable) -> None:
        """The store did not answer: pace with this process's buckets for a few seconds."""
        now = self._clock()
        self._alone_until = now + self.FALLBACK_SECONDS
        if now - self._fallback_logged >= self.FALLBACK_LOG_EVERY:
            self._fallback_logged = now
            log.warning("zoom_rate_budgets_unavailable", plan=self.plan.value, error=str(exc), fallback="this process")


class RateLimiterRegistry:
    """Limiters keyed by Zoom account id, so two connections to one account share budgets; with
    ``budgets``, shared with every other process that uses the same ones."""

    def __init__(self, budgets: RateBudgets | None = None) -> None:
        self._budgets = budgets
        self._limiters: dict[str, RateLimiter] = {}
        self._executor: ThreadPoolExecutor | None = None

    def for_account(
        self, account_id: str, plan: ZoomPlan, *, shared: bool = True, overrides: RateLimitOverrides | None = None
    ) -> RateLimiter:
        """The account's limiter, made on first use with the limits of ``plan`` and ``overrides``."""
        limiter = self._limiters.get(account_id)
        if limiter is None:
            limits = per_second_limits(plan, overrides)
            if self._budgets is not None and shared:
                if self._executor is None:
                    # Its own threads: a reservation never queues behind the activities' store work.
                    self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="zoom-rate")
                limiter = SharedRateLimiter(account_id, plan, self._budgets, self._executor, limits=limits)
            else:
                limiter = AccountRateLimiter(plan, limits=limits)
            self._limiters[account_id] = limiter
        return limiter

    def close(self) -> None:
        self._limiters.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
