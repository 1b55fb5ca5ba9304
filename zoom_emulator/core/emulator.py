"""The emulator's mutable world: state, clock, faults, rate limits and the webhook emitter, and the
operations that change it while keeping the schedule of what happens next in step."""

from __future__ import annotations

from zoom_emulator.core import live
from zoom_emulator.core.clock import EmulatorClock
from zoom_emulator.core.downloads import FileStore
from zoom_emulator.core.faults import FaultInjector
from zoom_emulator.core.limits import AccountRateLimits
from zoom_emulator.core.scenarios import Scenario
from zoom_emulator.core.seeds import InstanceSeed, SeedDocument, WebinarSeed
from zoom_emulator.core.state import EmulatorState, Instance, Webinar
from zoom_emulator.core.webhooks import WebhookEmitter

#: Where links point until the emulator knows the address it is served on.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8765"


class Emulator:
    """``reset`` replaces the state and forgets faults and limits."""

    def __init__(
        self, seed: SeedDocument | None = None, *, clock: EmulatorClock | None = None, public_url: str = ""
    ) -> None:
        self.clock = clock or EmulatorClock()
        self.initial_seed = seed
        self.state = EmulatorState(self.clock)
        self.faults = FaultInjector()
        self.limits = AccountRateLimits(self.clock)
        self.webhooks = WebhookEmitter(self.clock)
        self.files = FileStore()
        #: The base URL of recording links (``download_url``…); set by whoever serves the emulator.
        self.public_url = public_url
        if seed is not None:
            self.apply_seed(seed)

    @property
    def base_url(self) -> str:
        return (self.public_url or DEFAULT_PUBLIC_URL).rstrip("/")

    def reset(self, *, reseed: bool) -> None:
        self.state = EmulatorState(self.clock)
        self.faults.clear()
        self.limits = AccountRateLimits(self.clock, mode=self.limits.mode)
        self.webhooks.reset()
        self.files = FileStore()
        if reseed and self.initial_seed is not None:
            self.apply_seed(self.initial_seed)

    # --- changes that schedule what happens next ----------------------------------------------

    def apply_seed(self, seed: SeedDocument) -> None:
        self.state.apply_seed(seed)
        for account in seed.accounts:
            for webinar_seed in account.webinars:
                self._schedule(self.state.webinars[webinar_seed.id])
        self.tick()

    def add_webinar(self, account_id: str, seed: WebinarSeed) -> Webinar:
        webinar = self.state.add_webinar(account_id, seed)
        self._schedule(webinar)
        self.tick()
        return webinar

    def add_instance(self, webinar: Webinar, seed: InstanceSeed) -> Instance:
        instance = self.state.add_instance(webinar, seed)
        live.schedule_recording_events(self.state, instance, self.clock.now())
        self.tick()
        return instance

    def set_scenario(self, webinar: Webinar, scenario: Scenario) -> int:
        """The scenario of the occurrences not started yet; a past one without an instance runs now."""
        webinar.scenario = scenario
        scheduled = live.schedule_webinar(self.state, webinar, self.clock.now())
        self.tick()
        return scheduled

    def tick(self) -> int:
        """Bring the world up to the clock: run every due job, in order."""
        return live.run_due(self)

    def _schedule(self, webinar: Webinar) -> None:
        now = self.clock.now()
        live.schedule_webinar(self.state, webinar, now)
        for instance in webinar.instances:
            live.schedule_recording_events(self.state, instance, now)
