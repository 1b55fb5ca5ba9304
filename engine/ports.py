"""A free loopback port, for the processes Rollcall starts next to itself (``rollcall up``'s
emulator and servers, the worker's SDK metrics) and for the benchmarks."""

from __future__ import annotations

import socket


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the caller binds it soon after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
