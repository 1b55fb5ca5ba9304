"""`rollcall up`: the whole stack from one command, stopped by Ctrl-C with nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from engine.temporal import SearchAttribute

from .conftest import pick_port, wait_for_http  # type: ignore[import-not-found]


def _up(cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "up"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _stop(up: subprocess.Popen[bytes]) -> tuple[int, str]:
    up.send_signal(signal.SIGINT)  # what Ctrl-C sends
    output, _ = up.communicate(timeout=60)
    return up.returncode, output.decode()


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROLLCALL_")}
    env.update(
        {
            "ROLLCALL_API_PORT": str(pick_port()),
            "ROLLCALL_TEMPORAL_DEV_PORT": str(pick_port()),
            "ROLLCALL_TEMPORAL_UI_PORT": str(pick_port()),
        }
    )
    return env


def test_up_starts_everything_stops_cleanly_and_keeps_history(tmp_path: Path) -> None:
    env = _clean_env(tmp_path)
    api = f"http://127.0.0.1:{env['ROLLCALL_API_PORT']}"
    temporal_address = f"127.0.0.1:{env['ROLLCALL_TEMPORAL_DEV_PORT']}"
    temporal = str(Path(sys.executable).parent / "temporal")

    up = _up(tmp_path, env)
    try:
        wait_for_http(f"{api}/healthz", timeout=60)
        wait_for_http(f"http://127.0.0.1:{env['ROLLCALL_TEMPORAL_UI_PORT']}/", timeout=30)
        children = psutil.Process(up.pid).children(recursive=True)
        assert len(children) >= 3, [c.cmdline() for c in children]

        attributes = subprocess.run(
            [temporal, "operator", "search-attribute", "list", "--address", temporal_address],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout  # fmt: skip
        for key in SearchAttribute.ALL:
            assert key.name in attributes

        key = (tmp_path / ".rollcall" / "api-key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.post(f"{api}/v1/system/checks").status_code == 401
        started = httpx.post(f"{api}/v1/system/checks", headers=headers)
        assert started.status_code == 202
        workflow_id = started.json()["workflow_id"]
        deadline = time.monotonic() + 30
        while httpx.get(f"{api}/v1/system/checks/{workflow_id}", headers=headers).json()["status"] != "completed":
            assert time.monotonic() < deadline, "system check did not complete"
            time.sleep(0.3)
    finally:
        returncode, output = _stop(up)
    assert returncode == 0, output
    assert "Rollcall is up" in output
    psutil.wait_procs(children, timeout=5)
    assert [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE] == []

    # A second `up` in the same folder reuses the persisted Temporal history.
    up = _up(tmp_path, env)
    try:
        wait_for_http(f"{api}/healthz", timeout=60)
        described = subprocess.run(
            [temporal, "workflow", "describe", "--workflow-id", workflow_id, "--address", temporal_address],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert described.returncode == 0, described.stderr
        assert "COMPLETED" in described.stdout.upper()
        assert workflow_id in described.stdout
    finally:
        returncode, output = _stop(up)
    assert returncode == 0, output


def test_up_with_unreachable_database_exits_with_one_line(tmp_path: Path) -> None:
    env = _clean_env(tmp_path)
    env["ROLLCALL_DATABASE_URL"] = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "up"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "rollcall: cannot reach the database at postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    )
    assert "Traceback" not in result.stderr


def test_up_with_unsupported_database_url_exits_with_one_line(tmp_path: Path) -> None:
    env = _clean_env(tmp_path)
    env["ROLLCALL_DATABASE_URL"] = "not a url"
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "up"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "rollcall: ROLLCALL_DATABASE_URL is not a database URL: Could not parse SQLAlchemy URL from given URL string"
    ]
