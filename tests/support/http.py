"""Serving an ASGI app over real HTTP on loopback, for tests that need a real server (webhooks)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def allow_entry(url: str) -> str:
    """The ``host:port`` of a loopback server's URL, as ``ROLLCALL_WEBHOOK_ALLOW`` lists it: webhook
    steps reach loopback only where allowed (#12.3)."""
    return url.split("://", 1)[1].split("/", 1)[0]


@contextmanager
def serve(app: Any, name: str = "test-api") -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
