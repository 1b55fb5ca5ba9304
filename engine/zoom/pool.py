"""One ZoomClient per configured connection, shared by every activity of a worker.

Clients of connections to the same Zoom account share one rate limiter (Zoom's limits are per
account), so the sync and the registration action together stay under them. Given ``budgets``
(the worker's and the API's: ``engine.crm.zoom_rate_budgets.StoreRateBudgets``), that limiter is
shared with every other process using the same CRM store (``engine.zoom.ratelimit``).
"""

from __future__ import annotations

import yaml

from engine.zoom.client import ZoomClient
from engine.zoom.ratelimit import RateBudgets, RateLimiterRegistry
from engine.zoom.settings import ZoomConfigError, ZoomConnectionConfig, ZoomSettings


class ZoomNotConfigured(ZoomConfigError):
    code = "ZOOM_NOT_CONFIGURED"


class ZoomConnectionUnknown(ZoomConfigError):
    code = "ZOOM_CONNECTION_UNKNOWN"


class ZoomClientPool:
    def __init__(
        self,
        settings: ZoomSettings | None = None,
        *,
        connections: dict[str, ZoomConnectionConfig] | None = None,
        budgets: RateBudgets | None = None,
    ) -> None:
        """``settings`` default to the environment's, read on first use (a broken configuration
        fails the Zoom activities clearly, never the worker's start); ``connections`` overrides
        what the settings would load (tests); ``budgets`` shares each account's pacing with other
        processes (unless ``ROLLCALL_ZOOM_RATE_LIMIT_SHARED=false``)."""
        self._settings = settings
        self._connections = connections
        self._clients: dict[str, ZoomClient] = {}
        self._limiters = RateLimiterRegistry(budgets)

    def settings(self) -> ZoomSettings:
        if self._settings is None:
            try:
                self._settings = ZoomSettings()
            except ValueError as exc:
                # The settings hold secrets (connections as JSON): name the kind of problem only.
                raise ZoomConfigError(
                    f"the Zoom settings cannot be read ({type(exc).__name__}); check the ROLLCALL_ZOOM_* variables"
                ) from None
        return self._settings

    def connections(self) -> dict[str, ZoomConnectionConfig]:
        """Every configured connection by name; ZoomNotConfigured when there is none."""
        if self._connections is None:
            try:
                self._connections = self.settings().load_connections()
            except (ValueError, yaml.YAMLError) as exc:
                if isinstance(exc, ZoomConfigError):
                    raise
                raise ZoomConfigError(
                    f"the Zoom configuration cannot be used ({type(exc).__name__}); check "
                    "ROLLCALL_ZOOM_CONNECTIONS and ROLLCALL_ZOOM_CONNECTIONS_FILE"
                ) from None
        if not self._connections:
            raise ZoomNotConfigured(
                "no Zoom connection is configured (ROLLCALL_ZOOM_CONNECTIONS or ROLLCALL_ZOOM_CONNECTIONS_FILE)"
            )
        return self._connections

    def client(self, name: str) -> ZoomClient:
        client = self._clients.get(name)
        if client is None:
            config = self.connections().get(name)
            if config is None:
                raise ZoomConnectionUnknown(f"Zoom connection {name!r} is not configured on this worker")
            settings = self.settings()
            limiter = (
                self._limiters.for_account(
                    config.account_id, config.plan, shared=settings.rate_limit_shared, overrides=config.rate_limits
                )
                if settings.rate_limit_enabled
                else None
            )
            client = ZoomClient(
                config,
                rate_limiter=limiter,
                rate_limit=settings.rate_limit_enabled,
                timeout_seconds=settings.timeout_seconds,
            )
            self._clients[name] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()
        self._limiters.close()
