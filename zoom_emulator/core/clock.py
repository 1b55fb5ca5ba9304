"""The emulator's clock: real time shifted and optionally frozen, set through the admin API.

Everything Zoom decides by time uses it — token expiry, page-token expiry, "webinar is over",
transcript availability, daily limits and per-second windows.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class EmulatorClock:
    def __init__(self, start: datetime | None = None, *, frozen: bool = False) -> None:
        self._base = (start or datetime.now(UTC)).timestamp()
        self._real_base = time.monotonic()
        self.frozen = frozen

    def timestamp(self) -> float:
        if self.frozen:
            return self._base
        return self._base + (time.monotonic() - self._real_base)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), UTC)

    def set(self, moment: datetime, *, frozen: bool | None = None) -> None:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        self._base = moment.timestamp()
        self._real_base = time.monotonic()
        if frozen is not None:
            self.frozen = frozen

    def advance(self, seconds: float) -> None:
        self.set(datetime.fromtimestamp(self.timestamp() + seconds, UTC))
