"""``rollcall contacts``, ``settings`` and ``audit``: real CLI processes on a migrated store, under the
one exit-code policy of every command (README, "Commands"): results on stdout and status 0; what
the store refuses is one line on stderr with its code, and status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)


def _rollcall(database_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("ROLLCALL_")}
    env |= {"ROLLCALL_DATABASE_URL": database_url, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def _one_line_exit_2(result: subprocess.CompletedProcess[str], starts: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == "", result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(starts), result.stderr


def test_store_commands_print_results_and_refusals_in_one_line(database_url: str, tmp_path: Path) -> None:
    created = _rollcall(database_url, tmp_path, "contacts", "create", "cli-store@example.com", "--first-name", "Cy")
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("created contact ")
    contact_id = created.stdout.split()[2]
    shown = _rollcall(database_url, tmp_path, "contacts", "show", contact_id)
    assert shown.returncode == 0 and "cli-store@example.com" in shown.stdout, shown.stderr

    _one_line_exit_2(_rollcall(database_url, tmp_path, "contacts", "show", "424242"), "rollcall: CONTACT_NOT_FOUND: ")
    _one_line_exit_2(
        _rollcall(database_url, tmp_path, "contacts", "create", "cli-store@example.com"), "rollcall: CONTACT_EXISTS: "
    )
    _one_line_exit_2(
        _rollcall(database_url, tmp_path, "contacts", "search", '{"type": "nope"}'), "rollcall: VALIDATION_ERROR: "
    )
    _one_line_exit_2(_rollcall(database_url, tmp_path, "settings", "set", "nope", "x"), "rollcall: UNKNOWN_SETTING: ")
    not_a_webinar = "rollcall: 'not-a-webinar' is not a Zoom webinar id"
    _one_line_exit_2(_rollcall(database_url, tmp_path, "audit", "not-a-webinar"), not_a_webinar)
