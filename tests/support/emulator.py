"""The loopback Zoom emulator in tests: one server per session (``tests/integration/conftest.py``),
reset and re-seeded by every test that uses it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from zoom_emulator import EmulatorAdmin, EmulatorServer, RateLimitMode, SeedDocument


@asynccontextmanager
async def seeded_admin(server: EmulatorServer, seed: SeedDocument) -> AsyncIterator[EmulatorAdmin]:
    """The admin API of ``server``, after a reset that forgets what earlier tests left (state,
    faults, webhooks, files), with Zoom's rate limits enforced and ``seed`` loaded (every seed of the
    tests sets the emulator clock too)."""
    async with EmulatorAdmin(server.base_url) as admin:
        await admin.reset()
        await admin.set_rate_limit_mode(RateLimitMode.ENFORCED)
        await admin.seed(seed)
        yield admin
