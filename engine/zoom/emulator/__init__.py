"""The loopback Zoom emulator (FastAPI): ``create_app`` for ASGI, ``EmulatorServer`` for a live port."""

from engine.zoom.emulator.admin_client import EmulatorAdmin
from engine.zoom.emulator.app import Emulator, create_app
from engine.zoom.emulator.clock import EmulatorClock
from engine.zoom.emulator.faults import FaultKind, FaultRule
from engine.zoom.emulator.limits import RateLimitMode
from engine.zoom.emulator.seeds import DEMO_SEED_PATH, SeedDocument, load_seed
from engine.zoom.emulator.server import EmulatorServer

__all__ = [
    "DEMO_SEED_PATH",
    "Emulator",
    "EmulatorAdmin",
    "EmulatorClock",
    "EmulatorServer",
    "FaultKind",
    "FaultRule",
    "RateLimitMode",
    "SeedDocument",
    "create_app",
    "load_seed",
]
