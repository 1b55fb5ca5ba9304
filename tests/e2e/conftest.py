"""Fixtures that run Rollcall's own processes (``rollcall api``, ``rollcall worker``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.ports import free_port
from support.rollcall import RunningStack, rollcall_processes
from temporalio.client import Client


@pytest.fixture
def stack(temporal_client: Client, database_url: str, tmp_path: Path) -> Iterator[RunningStack]:
    """``rollcall worker`` and ``rollcall api`` as real processes on the session's Temporal server."""
    port = free_port()
    api_key = "e2e-test-key"
    env = {
        "ROLLCALL_TEMPORAL_ADDRESS": temporal_client.service_client.config.target_host,
        "ROLLCALL_DATABASE_URL": database_url,
        # The CLI tests push definitions: an editor key (#12.1).
        "ROLLCALL_API_KEYS": f"e2e-editor:editor:{api_key}",
        "ROLLCALL_API_PORT": str(port),
        "ROLLCALL_LOG_FORMAT": "json",
    }
    with rollcall_processes(["worker", "api"], env, tmp_path):
        yield RunningStack(api_url=f"http://127.0.0.1:{port}", api_key=api_key, database_url=database_url)
