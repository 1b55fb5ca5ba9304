"""The session's loopback Zoom emulator (``tests/integration/conftest.py``), reset and seeded with
``zoom_world`` for every test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from integration.zoom.zoom_world import MAIN, NOW, base_seed
from support.emulator import seeded_admin
from support.zoom import emulator_connection

from engine.zoom import ZoomClient
from zoom_emulator import EmulatorAdmin, EmulatorServer


@pytest.fixture
async def admin(emulator_server: EmulatorServer) -> AsyncIterator[EmulatorAdmin]:
    async with seeded_admin(emulator_server, base_seed()) as admin:
        yield admin


@pytest.fixture
async def zoom(emulator_server: EmulatorServer, admin: EmulatorAdmin) -> AsyncIterator[ZoomClient]:
    """A client of the Business-plan account, with the emulator clock frozen at ``NOW``."""
    async with ZoomClient(emulator_connection(emulator_server, MAIN), utcnow=lambda: NOW) as client:
        yield client
