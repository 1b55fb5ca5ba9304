"""Rollcall's own processes in tests — ``rollcall worker``, ``rollcall api`` and ``rollcall up`` as
real child processes on free ports — and waiting until they answer."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from support.ports import free_port

#: The command line of the ``rollcall`` CLI, run by the tests' interpreter.
ROLLCALL = (sys.executable, "-m", "engine.cli")

#: Every port ``rollcall up`` listens on: each stack of a test gets free ones (the metrics ports are
#: fixed by default, #17.1, and stacks of concurrent tests each need their own).
UP_PORT_VARIABLES = (
    "ROLLCALL_API_PORT",
    "ROLLCALL_TEMPORAL_DEV_PORT",
    "ROLLCALL_TEMPORAL_UI_PORT",
    "ROLLCALL_TEMPORAL_METRICS_PORT",
    "ROLLCALL_WORKER_METRICS_PORT",
)


def wait_for_http(url: str, timeout: float = 60) -> None:
    """Until ``GET url`` answers 200 (connection errors are retried); ``TimeoutError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    # One client for every try: ``httpx.get`` builds a client (and its TLS context) per call, ~50 ms of CPU.
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer 200 within {timeout} s")


class RollcallProcess:
    """``rollcall <command>`` as a real process in a session of its own, its environment the test
    process's plus ``env``, its output (stdout and stderr) appended to ``log``."""

    def __init__(self, command: str, env: Mapping[str, str], *, cwd: Path, log: Path, args: Sequence[str] = ()) -> None:
        self.log = log
        self._sink = log.open("ab")
        self.process = subprocess.Popen(
            [*ROLLCALL, command, *args],
            env={**os.environ, **env},
            cwd=cwd,
            stdout=self._sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_exit(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    async def exited(self, within: float) -> int:
        return await asyncio.to_thread(self.process.wait, within)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, and SIGKILL if it has not ended within ``timeout`` seconds."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._sink.close()


@contextmanager
def rollcall_processes(
    commands: Sequence[str], env: Mapping[str, str], directory: Path, *, ready: str = "/healthz"
) -> Iterator[dict[str, RollcallProcess]]:
    """``rollcall <command>`` for each of ``commands`` (started in order, in ``directory``, so no
    ``.env`` or ``definitions/`` of the checkout leaks in; output in ``directory/<command>.log``),
    then, if one is ``api``, until it answers ``GET <ready>`` on ``ROLLCALL_API_PORT``; all are
    stopped in reverse order at the end."""
    started: dict[str, RollcallProcess] = {}
    try:
        for command in commands:
            started[command] = RollcallProcess(command, env, cwd=directory, log=directory / f"{command}.log")
        if "api" in started:
            try:
                wait_for_http(f"http://127.0.0.1:{env['ROLLCALL_API_PORT']}{ready}")
            except TimeoutError as timeout:
                raise TimeoutError(f"{timeout}; rollcall api wrote:\n{started['api'].output()[-3000:]}") from None
        yield started
    finally:
        for process in reversed(started.values()):
            process.stop(timeout=15)


@dataclass
class RunningStack:
    """What the e2e ``stack`` fixture started: ``rollcall api`` (at ``api_url``, taking ``api_key``)
    and ``rollcall worker`` on ``database_url``."""

    api_url: str
    api_key: str
    database_url: str


def up_env() -> dict[str, str]:
    """The environment of a test's ``rollcall up``: the test process's without any ``ROLLCALL_``
    variable (none of the developer's settings leaks in), and a free port for every listener."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("ROLLCALL_")}
    env.update({variable: str(free_port()) for variable in UP_PORT_VARIABLES})
    return env


class RollcallUp:
    """``rollcall up`` as a child process whose merged output is read as it comes."""

    def __init__(self, cwd: Path, env: Mapping[str, str]) -> None:
        self.process = subprocess.Popen(
            [*ROLLCALL, "up"], cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.pid = self.process.pid
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self._lines.append(raw.decode(errors="replace"))

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 60) -> re.Match[str]:
        """Until ``pattern`` is in the output; fails with the output if ``up`` exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = pattern.search(self.output)
            if found:
                return found
            assert self.process.poll() is None, f"rollcall up exited:\n{self.output}"
            time.sleep(0.1)
        raise AssertionError(f"{pattern.pattern!r} not printed within {timeout} s:\n{self.output}")

    def json_banner(self) -> dict[str, Any]:
        """The ``Rollcall is up`` line of a stack run with ``ROLLCALL_LOG_FORMAT=json``, parsed."""
        [banner] = [json.loads(line) for line in self.output.splitlines() if '"Rollcall is up"' in line]
        assert isinstance(banner, dict), banner
        return banner

    def stop(self) -> tuple[int, str]:
        """Ctrl-C (SIGINT), then its exit status and whole output."""
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)
        self._reader.join(timeout=10)
        return self.process.returncode, self.output
