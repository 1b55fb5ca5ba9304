"""The emulator's clock: real time shifted, accelerated or frozen, set through the admin API.

Everything Zoom decides by time uses it — token expiry, page-token expiry, "webinar is over",
recording availability, daily limits and per-second windows, the webinars the emulator runs, the
``event_ts`` of webhooks and their ``x-zm-request-timestamp`` header. ``speed`` is how many
emulator seconds pass per real second (``60``: an hour-long webinar runs in a minute).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any


class EmulatorClock:
    def __init__(self, start: datetime | None = None, *, frozen: bool = False, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("the clock speed must be positive")
        self._base = (start or datetime.now(UTC)).timestamp()
        self._real_base = time.monotonic()
        self.frozen = frozen
        self.speed = speed

    def timestamp(self) -> float:
        if self.frozen:
            return self._base
        return self._base + (time.monotonic() - self._real_base) * self.speed

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), UTC)

    def set(self, moment: datetime, *, frozen: bool | None = None, speed: float | None = None) -> None:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if speed is not None:
            if speed <= 0:
                raise ValueError("the clock speed must be positive")
            self.speed = speed
        self._base = moment.timestamp()
        self._real_base = time.monotonic()
        if frozen is not None:
            self.frozen = frozen

    def advance(self, seconds: float) -> None:
        self.set(datetime.fromtimestamp(self.timestamp() + seconds, UTC))

    def set_speed(self, speed: float) -> None:
        """Change the pace from now on, without a jump."""
        self.set(self.now(), speed=speed)

    def real_seconds_until(self, moment: float) -> float:
        """Real seconds until the clock reads ``moment`` (infinite while frozen, 0 if passed)."""
        ahead = moment - self.timestamp()
        if ahead <= 0:
            return 0.0
        return math.inf if self.frozen else ahead / self.speed

    def real_seconds_for(self, seconds: float) -> float:
        """How long ``seconds`` of emulator time take in real time (as many while frozen)."""
        return seconds if self.frozen else seconds / self.speed

    def to_json(self) -> dict[str, Any]:
        return {"now": self.now().isoformat(), "frozen": self.frozen, "speed": self.speed}
