"""Rollcall's loopback Zoom emulator, a package of its own (it imports nothing from Rollcall).

``create_app`` for ASGI, ``EmulatorServer`` for a live port in a thread, ``EmulatorAdmin`` for its
admin API; ``python -m zoom_emulator`` (or ``rollcall zoom-emulator``) serves it.
"""

from zoom_emulator.admin_client import EmulatorAdmin
from zoom_emulator.app import create_app
from zoom_emulator.core.clock import EmulatorClock
from zoom_emulator.core.emulator import Emulator
from zoom_emulator.core.facts import Plan
from zoom_emulator.core.faults import FaultKind, FaultRule
from zoom_emulator.core.limits import RateLimitMode
from zoom_emulator.core.scenarios import Panelist, Scenario, ScriptedAttendee
from zoom_emulator.core.seeds import DEMO_SEED_PATH, SeedDocument, load_seed
from zoom_emulator.server import EmulatorServer

__all__ = [
    "DEMO_SEED_PATH",
    "Emulator",
    "EmulatorAdmin",
    "EmulatorClock",
    "EmulatorServer",
    "FaultKind",
    "FaultRule",
    "Panelist",
    "Plan",
    "RateLimitMode",
    "Scenario",
    "ScriptedAttendee",
    "SeedDocument",
    "create_app",
    "load_seed",
]
