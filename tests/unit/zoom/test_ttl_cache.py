"""The worker's cache of Zoom's answers (``engine.zoom.cache``): expiry, and how long an entry has
left (what the registration action's refresh-ahead reads, #16.1)."""

from __future__ import annotations

from datetime import timedelta

from engine.zoom.cache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_says_how_long_it_has_left_until_it_expires() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(timedelta(seconds=30), clock=clock)
    assert cache.ttl == 30 and cache.expires_in("w") is None
    cache.put("w", 1)
    clock.now += 20
    assert cache.expires_in("w") == 10 and cache.get("w") == 1
    cache.put("w", 2)  # put again: a full ttl from now
    assert cache.expires_in("w") == 30
    clock.now += 30
    assert cache.expires_in("w") is None and cache.get("w") is None


def test_a_cache_with_no_ttl_keeps_nothing() -> None:
    cache: TtlCache[str, int] = TtlCache(timedelta(0))
    cache.put("w", 1)
    assert cache.get("w") is None and cache.expires_in("w") is None
