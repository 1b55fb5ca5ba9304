"""The emulator's mutable world: state, clock, faults, rate limits and the webhook emitter."""

from __future__ import annotations

from zoom_emulator.core.clock import EmulatorClock
from zoom_emulator.core.faults import FaultInjector
from zoom_emulator.core.limits import AccountRateLimits
from zoom_emulator.core.seeds import SeedDocument
from zoom_emulator.core.state import EmulatorState
from zoom_emulator.core.webhooks import WebhookEmitter


class Emulator:
    """``reset`` replaces the state and forgets faults and limits."""

    def __init__(self, seed: SeedDocument | None = None, *, clock: EmulatorClock | None = None) -> None:
        self.clock = clock or EmulatorClock()
        self.initial_seed = seed
        self.state = EmulatorState(self.clock)
        self.faults = FaultInjector()
        self.limits = AccountRateLimits(self.clock)
        self.webhooks = WebhookEmitter(self.clock)
        if seed is not None:
            self.state.apply_seed(seed)

    def reset(self, *, reseed: bool) -> None:
        self.state = EmulatorState(self.clock)
        self.faults.clear()
        self.limits = AccountRateLimits(self.clock, mode=self.limits.mode)
        self.webhooks.reset()
        if reseed and self.initial_seed is not None:
            self.state.apply_seed(self.initial_seed)
