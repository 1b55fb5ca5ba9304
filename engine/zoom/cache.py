"""What a worker remembers of Zoom for a short while: ``TtlCache``.

The registration action asks Zoom about the same webinar for every contact it registers (who owns
it, its host, its registration questions); a bulk enrollment of 1,000 contacts into one webinar
would make 3,000 identical calls. A ``TtlCache`` keeps each answer for ``ttl`` seconds: a few
seconds of staleness that Zoom's own answer to add-registrant covers (a webinar that ended, turned
registration off or now requires a field in the meantime is refused by Zoom, with the same outcome
codes). A ``ttl`` of zero keeps nothing. Process-local: each worker has its own, nothing to share
or invalidate across workers.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import timedelta
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """A mapping whose entries expire ``ttl`` after they were put; at most ``max_entries``, the
    oldest dropped first. Single-threaded use (the worker's event loop)."""

    def __init__(
        self, ttl: timedelta, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl.total_seconds()
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self._clock() >= expires:
            del self._entries[key]
            return None
        return value

    @property
    def ttl(self) -> float:
        return self._ttl

    def expires_in(self, key: K) -> float | None:
        """Seconds until ``key``'s entry expires; None when there is none (or it has expired)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        left = entry[0] - self._clock()
        return left if left > 0 else None

    def put(self, key: K, value: V) -> None:
        if self._ttl <= 0:
            return
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + self._ttl, value)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
