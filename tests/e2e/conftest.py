"""Fixtures that run Rollcall's own processes (``rollcall api``, ``rollcall worker``, ``rollcall up``)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support.ports import free_port
from temporalio.client import Client

from engine.supervisor import Child, Supervisor


def pick_port() -> int:
    return free_port()


def wait_for_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer 200 within {timeout} s")


@dataclass
class RunningStack:
    api_url: str
    api_key: str
    database_url: str


@pytest.fixture
def stack(temporal_client: Client, database_url: str, tmp_path: Path) -> Iterator[RunningStack]:
    """``rollcall worker`` and ``rollcall api`` as real processes on the session's Temporal server."""
    port = pick_port()
    api_key = "e2e-test-key"
    env = {
        "ROLLCALL_TEMPORAL_ADDRESS": temporal_client.service_client.config.target_host,
        "ROLLCALL_DATABASE_URL": database_url,
        # The CLI tests push definitions: an editor key (#12.1).
        "ROLLCALL_API_KEYS": f"e2e-editor:editor:{api_key}",
        "ROLLCALL_API_PORT": str(port),
        "ROLLCALL_LOG_FORMAT": "json",
    }
    supervisor = Supervisor()
    rollcall = [sys.executable, "-m", "engine.cli"]
    cwd = os.getcwd()
    os.chdir(tmp_path)  # no .env or .rollcall/ of the developer's checkout leaks in
    try:
        supervisor.start(Child(name="worker", argv=[*rollcall, "worker"], env=env))
        supervisor.start(Child(name="api", argv=[*rollcall, "api"], env=env))
    finally:
        os.chdir(cwd)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz")
        yield RunningStack(api_url=f"http://127.0.0.1:{port}", api_key=api_key, database_url=database_url)
    finally:
        supervisor.stop_all()
