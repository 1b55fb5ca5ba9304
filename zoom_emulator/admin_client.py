"""A small async client of the emulator's admin API, for tests, the benchmark and the demo."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Any, Self

import httpx

from zoom_emulator.core.faults import FaultRule
from zoom_emulator.core.limits import RateLimitMode
from zoom_emulator.core.scenarios import Scenario
from zoom_emulator.core.seeds import (
    GenerateRegistrants,
    GenerateSessions,
    InstanceSeed,
    RegistrantSeed,
    SeedDocument,
    SessionSeed,
    WebinarSeed,
)
from zoom_emulator.core.webhooks import TimestampClock


class EmulatorAdmin:
    def __init__(self, base_url: str, *, http: httpx.AsyncClient | None = None) -> None:
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=30.0)
        self._base = base_url.rstrip("/") + "/_admin"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self._http.request(method, self._base + path, json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    async def reset(self, *, reseed: bool = False) -> None:
        await self._call("POST", "/reset", {"reseed": reseed})

    async def seed(self, document: SeedDocument) -> None:
        await self._call("POST", "/seed", document.model_dump(mode="json"))

    async def add_webinar(self, account_id: str, webinar: WebinarSeed) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", f"/accounts/{account_id}/webinars", webinar.model_dump(mode="json")
        )
        return result

    async def add_registrants(
        self,
        webinar_id: int,
        registrants: list[RegistrantSeed] | None = None,
        *,
        generate: GenerateRegistrants | None = None,
    ) -> None:
        body = {
            "registrants": [r.model_dump(mode="json") for r in registrants or []],
            "generate": generate.model_dump(mode="json") if generate else None,
        }
        await self._call("POST", f"/webinars/{webinar_id}/registrants", body)

    async def add_instance(self, webinar_id: int, instance: InstanceSeed) -> None:
        await self._call("POST", f"/webinars/{webinar_id}/instances", instance.model_dump(mode="json"))

    async def add_sessions(
        self, instance_uuid: str, sessions: list[SessionSeed] | None = None, *, generate: GenerateSessions | None = None
    ) -> None:
        body = {
            "instance_uuid": instance_uuid,
            "sessions": [s.model_dump(mode="json") for s in sessions or []],
            "generate": generate.model_dump(mode="json") if generate else None,
        }
        await self._call("POST", "/sessions", body)

    async def registrants(self, webinar_id: int) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", f"/webinars/{webinar_id}/registrants")
        return result

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/stats")
        return result

    async def clock(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/clock")
        return result

    async def set_clock(
        self, now: datetime, *, frozen: bool | None = None, speed: float | None = None
    ) -> dict[str, Any]:
        """Set the clock; every job then due runs, in order, before this returns."""
        result: dict[str, Any] = await self._call(
            "PUT", "/clock", {"now": now.isoformat(), "frozen": frozen, "speed": speed}
        )
        return result

    async def advance_clock(self, seconds: float) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("PUT", "/clock", {"advance_seconds": seconds})
        return result

    async def set_clock_speed(self, speed: float, *, frozen: bool | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("PUT", "/clock", {"speed": speed, "frozen": frozen})
        return result

    async def schedule(self, limit: int = 50) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", f"/schedule?limit={limit}")
        return result

    async def set_scenario(self, webinar_id: int, scenario: Scenario) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "PUT", f"/webinars/{webinar_id}/scenario", scenario.model_dump(mode="json")
        )
        return result

    async def instances(self, webinar_id: int) -> dict[str, Any]:
        """The webinar's instances with their sessions and recording files, and scheduled starts."""
        result: dict[str, Any] = await self._call("GET", f"/webinars/{webinar_id}/instances")
        return result

    async def add_fault(self, rule: FaultRule) -> int:
        result: dict[str, int] = await self._call("POST", "/faults", rule.model_dump(mode="json", exclude_none=True))
        return result["id"]

    async def clear_faults(self, *, seed: int | None = None) -> None:
        await self._call("POST", "/faults/clear", {"seed": seed})

    async def set_rate_limit_mode(self, mode: RateLimitMode) -> None:
        await self._call("PUT", "/rate_limits", {"mode": mode.value})

    async def subscribe_webhooks(self, account_id: str, url: str, secret_token: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", "/webhooks/subscriptions", {"account_id": account_id, "url": url, "secret_token": secret_token}
        )
        return result

    async def emit_webhook(
        self, account_id: str, event: str, obj: dict[str, Any], *, extra: dict[str, Any] | None = None
    ) -> int:
        result: dict[str, int] = await self._call(
            "POST", "/webhooks/events", {"account_id": account_id, "event": event, "object": obj, "extra": extra or {}}
        )
        return result["queued"]

    async def emitted_webhooks(self, event: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call(
            "GET", "/webhooks/events" + (f"?event={event}" if event else "")
        )
        return result

    async def set_webhook_timestamp_clock(self, clock: TimestampClock) -> None:
        await self._call("PUT", "/webhooks/signing", {"timestamp_clock": clock})

    async def webhook_deliveries(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", "/webhooks/deliveries")
        return result

    async def set_webhook_retry_schedule(self, seconds: list[float]) -> None:
        await self._call("PUT", "/webhooks/retry_schedule", {"seconds": seconds})
