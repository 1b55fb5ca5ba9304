"""The emulator's own rate-limit accounting (per account, label and plan), without HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

from zoom_emulator.core.clock import EmulatorClock
from zoom_emulator.core.facts import Plan, RateLabel
from zoom_emulator.core.limits import AccountRateLimits, RateLimitMode


def _limits(mode: RateLimitMode = RateLimitMode.ENFORCED) -> tuple[EmulatorClock, AccountRateLimits]:
    clock = EmulatorClock(datetime(2025, 6, 2, 12, 0, tzinfo=UTC), frozen=True)
    return clock, AccountRateLimits(clock, mode=mode)


def test_daily_budget_exhausted_answers_daily_429_with_iso_retry_after() -> None:
    """Free plan, Heavy: 1,000 per day; the 1,001st is refused until the next UTC midnight."""
    clock, limits = _limits()
    for _ in range(1000):
        assert limits.check("a", Plan.FREE, RateLabel.HEAVY).allowed
        clock.advance(1)
    refused = limits.check("a", Plan.FREE, RateLabel.HEAVY)
    assert not refused.allowed
    assert refused.headers["X-RateLimit-Type"] == "Daily-limit"
    assert refused.headers["Retry-After"] == "2025-06-03T00:00:00Z"
    clock.set(datetime(2025, 6, 3, 0, 0, tzinfo=UTC))
    assert limits.check("a", Plan.FREE, RateLabel.HEAVY).allowed


def test_per_second_budget_is_per_account_and_label() -> None:
    clock, limits = _limits()
    assert [limits.check("a", Plan.FREE, RateLabel.MEDIUM).allowed for _ in range(3)] == [True, True, False]
    assert limits.check("b", Plan.FREE, RateLabel.MEDIUM).allowed
    assert limits.check("a", Plan.FREE, RateLabel.LIGHT).allowed
    clock.advance(1)
    assert limits.check("a", Plan.FREE, RateLabel.MEDIUM).allowed


def test_success_headers_report_category_limit_and_remaining() -> None:
    _, limits = _limits()
    assert limits.check("a", Plan.PRO, RateLabel.HEAVY).headers == {
        "X-RateLimit-Category": "Heavy",
        "X-RateLimit-Limit": "30000",
        "X-RateLimit-Remaining": "29999",
    }


def test_no_headers_mode_still_refuses_but_without_headers() -> None:
    _, limits = _limits(RateLimitMode.NO_HEADERS)
    limits.check("a", Plan.FREE, RateLabel.HEAVY)
    refused = limits.check("a", Plan.FREE, RateLabel.HEAVY)
    assert (refused.allowed, refused.headers) == (False, {})


def test_off_mode_never_refuses() -> None:
    _, limits = _limits(RateLimitMode.OFF)
    assert all(limits.check("a", Plan.FREE, RateLabel.HEAVY).allowed for _ in range(50))
