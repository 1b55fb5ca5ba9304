"""The emulator's heartbeat while it is served: run what comes due on the clock, and keep the
state file up to date."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from pathlib import Path

from zoom_emulator.core.emulator import Emulator
from zoom_emulator.core.persistence import fingerprint, snapshot, write_atomically

#: The longest real sleep between two looks at the clock (a clock set through the admin API runs
#: its jobs at once; this bounds the delay for a clock that runs on its own).
MAX_SLEEP_SECONDS = 0.25
SAVE_EVERY_SECONDS = 2.0

log = logging.getLogger("zoom_emulator")


class Heartbeat:
    def __init__(self, emulator: Emulator, state_file: Path | None) -> None:
        self.emulator = emulator
        self.state_file = state_file
        self._saved = ""
        self._last_save = 0.0

    async def run(self) -> None:
        while True:
            try:
                self.emulator.tick()
                if self.state_file is not None and time.monotonic() - self._last_save >= SAVE_EVERY_SECONDS:
                    self.save()
            except Exception:  # keep beating: one bad job must not stop the clock
                log.exception("zoom emulator heartbeat")
            await asyncio.sleep(self._sleep())

    def _sleep(self) -> float:
        next_at = self.emulator.state.scheduler.next_at()
        wait = math.inf if next_at is None else self.emulator.clock.real_seconds_until(next_at)
        return min(max(wait, 0.005), MAX_SLEEP_SECONDS)

    def save(self, *, force: bool = False) -> None:
        if self.state_file is None:
            return
        self._last_save = time.monotonic()
        document = snapshot(self.emulator)
        mark = fingerprint(document)
        if force or mark != self._saved:
            write_atomically(self.state_file, json.dumps(document, separators=(",", ":")).encode())
            self._saved = mark
