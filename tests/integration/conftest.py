"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.rollcall import RollcallProcess

from zoom_emulator import EmulatorServer


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    """One loopback Zoom emulator for the session; each test that uses it resets and seeds it
    (``support.emulator.seeded_admin``)."""
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def worker_processes() -> Iterator[list[RollcallProcess]]:
    """The ``rollcall worker`` processes a test starts (it appends them); any still running at its
    end is stopped."""
    started: list[RollcallProcess] = []
    yield started
    for process in started:
        process.stop()
