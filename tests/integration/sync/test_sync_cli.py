"""``rollcall sync``: progress you can watch, ``--no-wait`` and ``--timeout`` (issue #14 point 4).

Real API on loopback, the test world's worker, the Zoom emulator; the ``--timeout`` case runs the
real command as a process and checks its exit status (3: stopped waiting, the sync goes on).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from integration.sync import sync_world as world
from integration.sync.sync_kit import SyncWorld
from integration.sync.sync_live import API_KEY, api_app, ended_webinar
from rich.console import Console
from sqlalchemy import Engine
from support.http import serve
from temporalio.client import Client

from engine.cli.client import ApiClient
from engine.cli.errors import EXIT_STILL_RUNNING
from engine.cli.sync import follow_sync
from engine.sync.contracts import AUDIT_COUNTS
from zoom_emulator import EmulatorServer

pytestmark = pytest.mark.timeout(120)

REPO_ROOT = Path(__file__).resolve().parents[3]
W_WAITING = "93100000601"


async def test_the_command_shows_progress_bars_then_the_run_s_entry(
    sync_world: SyncWorld, sync_emulator: EmulatorServer, database_url: str, db_engine: Engine, temporal_client: Client
) -> None:
    """#14.4: bars of registrants and attendees against Zoom's totals, the final state in words,
    then the run's audit entry with every count."""
    app = api_app(sync_world, sync_emulator, database_url, db_engine, temporal_client)
    console = Console(record=True, width=160)
    with serve(app) as url, ApiClient(url, API_KEY) as client:
        code = await asyncio.to_thread(follow_sync, client, world.W_ENDED, console, poll=0.1)

    printed = console.export_text()
    assert code == 0, printed
    lines = printed.splitlines()
    assert any(line.lstrip(" ⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏").startswith("registrants") and "8/8" in line for line in lines), printed
    assert any(line.lstrip(" ⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏").startswith("attendees") and "7/7" in line for line in lines), printed
    assert "partial · registrants 8/8 · attendees 7/7 · recording files 2" in printed
    assert f"audit: webinar {world.W_ENDED} — partial (manual)" in printed
    assert all(name in printed for name in AUDIT_COUNTS)


async def test_no_wait_starts_and_says_how_to_follow(
    sync_world: SyncWorld, sync_emulator: EmulatorServer, database_url: str, db_engine: Engine, temporal_client: Client
) -> None:
    """#14.4: ``--no-wait`` prints the workflow id and how to follow the run, and returns at once."""
    app = api_app(sync_world, sync_emulator, database_url, db_engine, temporal_client)
    console = Console(record=True, width=300)
    with serve(app) as url, ApiClient(url, API_KEY) as client:
        code = await asyncio.to_thread(follow_sync, client, world.W_ENDED, console, wait=False)
        workflow_id = f"webinar-sync:{sync_world.main_account}:{world.W_ENDED}"
        await asyncio.wait_for(temporal_client.get_workflow_handle(workflow_id).result(), timeout=60)
        follow = Console(record=True, width=300)
        followed = await asyncio.to_thread(follow_sync, client, world.W_ENDED, follow, start=False)

    printed = console.export_text()
    assert code == 0
    assert workflow_id in printed
    assert f"rollcall sync {world.W_ENDED} --follow" in printed and "runs in the background" in printed
    assert followed == 0 and f"audit: webinar {world.W_ENDED} — partial (manual)" in follow.export_text()


async def test_at_its_timeout_the_command_says_it_stopped_waiting_and_the_sync_goes_on(
    sync_world: SyncWorld, sync_emulator: EmulatorServer, database_url: str, db_engine: Engine, temporal_client: Client
) -> None:
    """#14.4: ``rollcall sync W --timeout 3`` on a sync that waits for its recording: exit 3, says it
    stopped waiting and that the sync goes on (with what it waits for), and prints no audit entry."""
    zoom_now = datetime.now(UTC).replace(microsecond=0)
    await sync_world.admin.set_clock(zoom_now, frozen=True)
    await sync_world.admin.add_webinar(
        sync_world.main_account,
        ended_webinar(W_WAITING, start=zoom_now - timedelta(minutes=90), recording_after_minutes=90),
    )
    app = api_app(sync_world, sync_emulator, database_url, db_engine, temporal_client)
    with serve(app) as url:
        command = [sys.executable, "-m", "engine.cli", "sync", W_WAITING, "--timeout", "3"]
        env = {**os.environ, "ROLLCALL_API_URL": url, "ROLLCALL_API_KEY": API_KEY, "COLUMNS": "200"}
        done = await asyncio.to_thread(
            subprocess.run, command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        workflow = temporal_client.get_workflow_handle(f"webinar-sync:{sync_world.main_account}:{W_WAITING}")
        running = (await workflow.describe()).status
        await workflow.terminate("test over")

    output = done.stdout + done.stderr
    assert done.returncode == EXIT_STILL_RUNNING, output
    assert "stopped waiting after 3 s: the sync goes on" in output
    assert "waiting for the recording, next check" in output
    assert "audit: webinar" not in output
    assert running is not None and running.name == "RUNNING"
