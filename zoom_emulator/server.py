"""Run the emulator on a free loopback port in a background thread (tests, benchmark, demo)."""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn

from zoom_emulator.app import create_app
from zoom_emulator.core.emulator import Emulator
from zoom_emulator.core.seeds import SeedDocument

STARTUP_TIMEOUT_SECONDS = 10.0


class _HideInjectedDrops(logging.Filter):
    """A ``drop`` fault ends the answer short on purpose; uvicorn would log it as a crash."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (exc is not None and "Too little data for declared Content-Length" in str(exc))


class EmulatorServer:
    """``with EmulatorServer(seed) as server:`` serves on ``server.base_url`` (port chosen by the OS)."""

    def __init__(self, seed: SeedDocument | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = Emulator(seed)
        self._config = uvicorn.Config(
            create_app(emulator=self.emulator),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            log_config=None,  # the host process's logging, not uvicorn's
        )
        self._server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://{self._config.host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        return f"{self.base_url}/v2"

    def start(self) -> None:
        logging.getLogger("uvicorn.error").addFilter(_HideInjectedDrops())
        self._thread = threading.Thread(target=self._server.run, name="zoom-emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Zoom emulator did not start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        self.emulator.public_url = self.base_url

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STARTUP_TIMEOUT_SECONDS)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def connection_fields(self, account_id: str) -> dict[str, str]:
        """What a Zoom client needs to reach a seeded account on this server (plain data: the
        emulator knows nothing of its clients' configuration types)."""
        account = self.emulator.state.accounts[account_id]
        return {
            "account_id": account.id,
            "client_id": account.client_id,
            "client_secret": account.client_secret,
            "api_base_url": self.api_base_url,
            "oauth_base_url": self.base_url,
            "plan": account.plan.value,
        }
