"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from zoom_emulator import EmulatorServer


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    """One loopback Zoom emulator for the session; each test that uses it resets and seeds it
    (``support.emulator.seeded_admin``)."""
    with EmulatorServer() as server:
        yield server
