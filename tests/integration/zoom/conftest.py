"""One loopback Zoom emulator per session, reset and re-seeded for every test."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from support.zoom import emulator_connection

from engine.zoom import ZoomClient
from zoom_emulator import EmulatorAdmin, EmulatorServer, RateLimitMode

# The suite runs with --import-mode=importlib, which puts no test directory on sys.path; the tests
# here share the seeded world of zoom_world.py, so its directory is added once.
sys.path.insert(0, str(Path(__file__).parent))

from zoom_world import MAIN, NOW, base_seed


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@pytest.fixture
async def admin(emulator_server: EmulatorServer) -> AsyncIterator[EmulatorAdmin]:
    async with EmulatorAdmin(emulator_server.base_url) as admin:
        await admin.reset()
        await admin.set_rate_limit_mode(RateLimitMode.ENFORCED)
        await admin.seed(base_seed())
        yield admin


@pytest.fixture
async def zoom(emulator_server: EmulatorServer, admin: EmulatorAdmin) -> AsyncIterator[ZoomClient]:
    """A client of the Business-plan account, with the emulator clock frozen at ``NOW``."""
    async with ZoomClient(emulator_connection(emulator_server, MAIN), utcnow=lambda: NOW) as client:
        yield client
