"""Free loopback ports for servers a test starts in another process (``rollcall api``, ``rollcall
up``, the Temporal dev server, the Zoom emulator).

A port found by binding to port 0 is only free until the child binds it, seconds later; under
pytest-xdist another worker's bind-to-0 (or an outgoing connection) may take it in between. So each
port comes from a range of the calling process's own, below the kernel's ephemeral range (where
bind-to-0 and outgoing connections draw theirs): worker ``gwN`` draws from its own block, a session
without xdist from block 0. Within its block a process goes round from a random start, and hands out
a port only when

- nothing on the machine listens on it or holds it (a test bind succeeds), and
- no other process using this module has handed it out recently: a non-blocking ``flock`` on a
  file per port in the temporary directory, held for the last ``HELD_LOCKS`` ports handed out, so
  two pytest sessions on one machine (two checkouts, or CI beside a developer) never hand out the
  same port while its server is starting.
"""

from __future__ import annotations

import collections
import fcntl
import os
import random
import socket
import tempfile
import threading
from pathlib import Path
from typing import IO

#: Ports ``FIRST_PORT`` … ``FIRST_PORT + BLOCKS * BLOCK_SIZE - 1`` (20000–31999) sit below Linux's
#: default ephemeral range (32768–60999, ``/proc/sys/net/ipv4/ip_local_port_range``).
FIRST_PORT = 20000
BLOCK_SIZE = 1000
BLOCKS = 12
#: A port handed out this many ports ago has long been bound by its server (or given up on).
HELD_LOCKS = 256
LOCK_DIR = Path(tempfile.gettempdir()) / "rollcall-test-ports"


def _block() -> int:
    """0 without xdist (and in xdist's controller), ``N + 1`` in worker ``gwN``."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit():
        return (int(worker[2:]) + 1) % BLOCKS
    return 0


class _Ports:
    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._next: int | None = None
        self._held: collections.deque[IO[bytes]] = collections.deque()
        self._pid = os.getpid()

    def take(self) -> int:
        with self._mutex:
            if self._pid != os.getpid():  # a forked child: its own locks, its own round
                self._held.clear()
                self._next, self._pid = None, os.getpid()
            first = FIRST_PORT + _block() * BLOCK_SIZE
            if self._next is None:
                self._next = random.randrange(BLOCK_SIZE)
            for _ in range(BLOCK_SIZE):
                port = first + self._next
                self._next = (self._next + 1) % BLOCK_SIZE
                if self._claim(port):
                    return port
        raise RuntimeError(f"no free loopback port in {first}–{first + BLOCK_SIZE - 1}")

    def _claim(self, port: int) -> bool:
        LOCK_DIR.mkdir(mode=0o777, exist_ok=True)
        lock = open(LOCK_DIR / f"{port}.lock", "ab")  # noqa: SIM115 (held open while the port is ours)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            return False
        if not _bindable(port):
            lock.close()
            return False
        self._held.append(lock)
        if len(self._held) > HELD_LOCKS:
            self._held.popleft().close()
        return True


def _bindable(port: int) -> bool:
    """Nothing listens on the port, on loopback or on every address, and no connection holds it."""
    for host in ("127.0.0.1", "0.0.0.0"):
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                return False
    return True


_PORTS = _Ports()


def free_port() -> int:
    """A loopback port nothing listens on, that no other test process is handing out."""
    return _PORTS.take()
