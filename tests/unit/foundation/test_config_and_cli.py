"""Settings from the environment, secrets kept out of output, and honest CLI stubs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
from support.ports import free_port

from engine.config import LogFormat, Settings
from engine.logging import configure_logging


def test_api_keys_come_from_a_comma_separated_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLCALL_API_KEYS", "alpha, beta,")
    monkeypatch.setenv("ROLLCALL_ADMIN_API_KEYS", "root")
    settings = Settings(_env_file=None)
    assert [key.get_secret_value() for key in settings.api_keys] == ["alpha", "beta"]
    assert [key.get_secret_value() for key in settings.admin_api_keys] == ["root"]
    assert "alpha" not in repr(settings) and "root" not in repr(settings)


def test_defaults_are_the_embedded_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ROLLCALL_TEMPORAL_ADDRESS", "ROLLCALL_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.embedded_temporal
    assert settings.temporal_target == "127.0.0.1:7233"
    assert settings.database_url == "sqlite:///.rollcall/rollcall.db"


def test_json_logs_redact_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LogFormat.JSON)
    structlog.get_logger("t").info("connected", client_secret="s3cr3t", api_key="k3y", account="acme")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["client_secret"] == "***"
    assert line["api_key"] == "***"
    assert line["account"] == "acme"
    structlog.reset_defaults()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sync", "not-a-webinar"], "is not a Zoom webinar id"),
        (["sync", "81234567890", "--api-url", "http://127.0.0.1:9", "--api-key", "k"], "cannot reach the Rollcall API"),
        (
            ["enroll", "webinar-invite", "--email", "a@b.example", "--api-url", "http://127.0.0.1:9", "--api-key", "k"],
            "cannot reach",
        ),
    ],
)
def test_api_commands_report_problems_in_one_line(argv: list[str], message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "engine.cli", *argv], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert message in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_validate_prints_errors_like_a_compiler_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("key: x\nname: X\nenrollment: {triggers: [{type: api}]}\nsteps:\n  - id: a\n    type: nope\n")
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "validate", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert f"{bad}:6:5: error[UNKNOWN_STEP_TYPE] $.steps[0].type" in result.stdout


def test_validate_accepts_the_shipped_definitions() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "validate", "definitions"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zoom_emulator_command_serves_zoom_oauth(unused_port: int) -> None:
    import time

    import httpx

    emulator = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "zoom-emulator", "--port", str(unused_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{unused_port}/oauth/token",
                    data={"grant_type": "account_credentials", "account_id": "nope"},
                    auth=("bad", "creds"),
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "emulator did not start"
                time.sleep(0.2)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


CANARY = "s3cret-canary-value"

#: #12.7: each setting that cannot work, and what the one line must say about it.
BAD_CONFIGURATIONS: dict[str, tuple[dict[str, str], str]] = {
    "unwritable-sqlite": (
        {"ROLLCALL_DATABASE_URL": "sqlite:///{tmp}/a-file/rollcall.db"},
        "rollcall: ROLLCALL_DATABASE_URL: cannot create or open the SQLite file",
    ),
    "concurrency-not-a-number": (
        {"ROLLCALL_ENROLLMENT_CONCURRENCY": "abc"},
        "rollcall: invalid configuration: ROLLCALL_ENROLLMENT_CONCURRENCY: Input should be a valid integer",
    ),
    "unknown-log-level": (
        {"ROLLCALL_LOG_LEVEL": "bogus"},
        "rollcall: invalid configuration: ROLLCALL_LOG_LEVEL: not a log level",
    ),
    "missing-tls-certificate": (
        {"ROLLCALL_TEMPORAL_TLS_CERT_PATH": "{tmp}/missing.pem", "ROLLCALL_TEMPORAL_TLS_KEY_PATH": "{tmp}/key.pem"},
        "rollcall: invalid configuration: ROLLCALL_TEMPORAL_TLS_CERT_PATH: Path does not point to a file",
    ),
    "api-key-unknown-role": (
        {"ROLLCALL_API_KEYS": f"ci:superuser:{CANARY}"},
        "rollcall: ROLLCALL_API_KEYS entry 1: unknown role",
    ),
    "payload-key-too-short": (
        {"ROLLCALL_PAYLOAD_KEYS": f"k1:{CANARY}"},
        "rollcall: ROLLCALL_PAYLOAD_KEYS: key k1 has 14 bytes; AES-256 needs 32",
    ),
    "api-key-empty": (
        {"ROLLCALL_API_KEYS": f"ok:viewer:{CANARY},ci:viewer:"},
        "rollcall: ROLLCALL_API_KEYS entry 2: the key is empty",
    ),
}


@pytest.mark.parametrize("command", ["api", "worker", "up"])
@pytest.mark.parametrize("case", list(BAD_CONFIGURATIONS))
def test_bad_configuration_exits_2_with_one_line_naming_the_setting(command: str, case: str, tmp_path: Path) -> None:
    """#12.7, for every server command: one line naming the setting, no traceback, no secret, status 2."""
    import os

    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "key.pem").write_text("not a key")
    port = free_port()
    variables, expected = BAD_CONFIGURATIONS[case]
    env = {name: value for name, value in os.environ.items() if not name.startswith("ROLLCALL_")}
    env |= {"ROLLCALL_TEMPORAL_ADDRESS": f"127.0.0.1:{port}", "ROLLCALL_API_PORT": str(port)}
    env |= {name: value.format(tmp=tmp_path) for name, value in variables.items()}
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    output = result.stdout + result.stderr
    lines = [line for line in output.splitlines() if line.strip()]
    assert (result.returncode, len(lines)) == (2, 1), output
    assert lines[0].startswith(expected), lines[0]
    assert CANARY not in output and "superuser" not in output


def test_the_cli_starts_without_the_store_the_templates_or_temporal() -> None:
    """An operator's command starts in a fraction of a second: building the ``rollcall`` app (what
    ``--help`` and every command pay) imports neither SQLAlchemy, Jinja2, Temporal's SDK nor
    FastAPI — the commands that need them import them when they run."""
    probe = (
        "import sys; from engine.cli.app import app; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.split())
    assert "typer" in loaded and "engine" in loaded
    assert loaded.isdisjoint({"sqlalchemy", "sqlmodel", "jinja2", "temporalio", "fastapi", "alembic"}), loaded


def test_every_name_of_the_definition_language_package_resolves() -> None:
    """``engine.dsl`` loads its names on first use; each one it lists is there."""
    import engine.dsl

    for name in engine.dsl.__all__:
        assert getattr(engine.dsl, name) is not None, name
    with pytest.raises(AttributeError):
        engine.dsl.no_such_name  # noqa: B018
