"""Logs that hold no secret (#12.5) and that a machine can follow (#17.3): the redaction processor,
tracebacks without local variables, foreign (standard library) lines, and children's lines."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from engine.config import LogFormat, Settings
from engine.errors import ConfigurationError
from engine.known_secrets import configured_secret_values
from engine.logging import child_line_as_json, configure_logging, redact_text, register_secret_values


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    hooks = sys.excepthook, threading.excepthook
    yield
    root.handlers[:], root.level = handlers, level
    sys.excepthook, threading.excepthook = hooks
    logging.captureWarnings(False)
    structlog.reset_defaults()


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def, next", "Authorization: ***, next"),
        (
            "{'authorization': 'Bearer abc', 'x-api-key': 'k', 'accept': 'json'}",
            "{'authorization': '***', 'x-api-key': '***', 'accept': 'json'}",
        ),
        (
            "[(b'host', b'h'), (b'authorization', b'Bearer k1'), (b'cookie', b'a=b; c=d')]",
            "[(b'host', b'h'), (b'authorization', b'***'), (b'cookie', b'***')]",
        ),
        ('{"secret_token": "s", "client_secret": "***"}', '{"secret_token": "***", "client_secret": "***"}'),
        ("next_page_token=abc tokens: 3", "next_page_token=*** tokens: 3"),
        (
            'HTTP Request: GET https://hooks.example/a/b?token=t&x=1 "HTTP/1.1 200 OK"',
            'HTTP Request: GET https://hooks.example/a/b?… "HTTP/1.1 200 OK"',
        ),
        ("jane.doe+x@customers.example joined", "***@customers.example joined"),
        (
            "postgresql://postgres@db.internal/x user:pw@db.example.com",
            "postgresql://postgres@db.internal/x user:***@db.example.com",
        ),
        # Names are not values: a setting's name, a list of secret names, a path.
        (
            "rollcall: ROLLCALL_SECRETS_FILE: /etc/s.yaml is not valid",
            "rollcall: ROLLCALL_SECRETS_FILE: /etc/s.yaml is not valid",
        ),
        ('["MARKETING_HOOK_TOKEN", "CRM_HOOK_TOKEN"]', '["MARKETING_HOOK_TOKEN", "CRM_HOOK_TOKEN"]'),
    ],
)
def test_redact_text_masks_header_values_queries_and_emails(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_known_secret_values_are_masked_in_every_spelling() -> None:
    """#12.5: a registered value is hidden raw, JSON-escaped and URL-encoded; short ones are not
    registered (they would garble every line)."""
    register_secret_values(['s3cr3t "quoted" value/+', "abc"])
    assert redact_text('x s3cr3t "quoted" value/+ y') == "x *** y"
    assert redact_text(json.dumps({"v": 's3cr3t "quoted" value/+'})) == '{"v": "***"}'
    assert redact_text("k=s3cr3t%20%22quoted%22%20value%2F%2B") == "k=***"
    assert redact_text("abc") == "abc"


def test_json_lines_carry_a_traceback_without_locals_and_redacted(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """#12.5: no local variable in a traceback, the exception text redacted; #17.3: the process."""
    configure_logging(LogFormat.JSON, process="api")
    register_secret_values(["canary-local-value"])

    def fail(secret: str = "canary-local-value", other: str = "canary-other-local") -> None:
        raise ValueError(f"failed with {secret} at https://hook.example/p?key=v")

    try:
        fail()
    except ValueError:
        structlog.get_logger("t").exception("boom", client_secret="s3cr3t", account="acme")
    [line] = _lines(capsys)
    record = json.loads(line)
    assert (record["process"], record["level"], record["account"]) == ("api", "error", "acme")
    assert record["client_secret"] == "***"
    assert "Traceback" in record["exception"] and "in fail" in record["exception"]
    assert "ValueError: failed with *** at https://hook.example/p?…" in record["exception"]
    assert "canary-local-value" not in line and "canary-other-local" not in line


def test_console_tracebacks_show_no_locals(restore_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LogFormat.CONSOLE, process="worker")

    def fail(token_in_a_local: str = "canary-console-local") -> None:
        raise RuntimeError("boom")

    try:
        fail()
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    text = "\n".join(_lines(capsys))
    assert "Exception in ASGI application" in text and "RuntimeError: boom" in text
    assert "process=worker" in text
    assert "canary-console-local" not in text


def test_foreign_lines_are_json_and_httpx_requests_are_debug(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """#17.3: library lines are JSON naming process and logger; httpx request lines only at DEBUG."""
    configure_logging(LogFormat.JSON, process="worker")
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("httpx").info('HTTP Request: GET http://h/p?token=t "HTTP/1.1 200 OK"')
    [line] = _lines(capsys)
    assert json.loads(line) == {
        **json.loads(line),
        "event": "Started server process",
        "process": "worker",
        "logger": "uvicorn.error",
    }
    configure_logging(LogFormat.JSON, "DEBUG", process="worker")
    logging.getLogger("httpx").info('HTTP Request: GET http://h/p?token=t "HTTP/1.1 200 OK"')
    [line] = _lines(capsys)
    record = json.loads(line)
    assert record["level"] == "debug" and record["event"] == 'HTTP Request: GET http://h/p?… "HTTP/1.1 200 OK"'


def test_children_lines_become_json_naming_the_process() -> None:
    """#17.3: what ``rollcall up`` re-emits of a child (the Temporal server's JSON and banner)."""
    server = child_line_as_json("temporal", '{"time": "t", "level": "WARN", "msg": "m", "x": 1}\n', stream="stderr")
    assert server is not None
    assert json.loads(server) == {"timestamp": "t", "level": "warning", "event": "m", "x": 1, "process": "temporal"}
    banner = child_line_as_json("temporal", "\x1b[1mTemporal Server:  localhost:7233\x1b[0m\n", stream="stdout")
    assert banner is not None
    record = json.loads(banner)
    assert (record["event"], record["process"]) == ("Temporal Server:  localhost:7233", "temporal")
    assert record["stream"] == "stdout"
    assert child_line_as_json("temporal", "  \n", stream="stdout") is None
    line = '{"event": "e", "process": "worker", "authorization": "Bearer k"}'
    ours = child_line_as_json("worker", line, stream="stderr")
    assert ours is not None and json.loads(ours) == {"event": "e", "process": "worker", "authorization": "***"}


def test_configured_secret_values(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every configured secret is known at start: keys (``name:role:key`` entries too), secrets from
    the environment and the file, the Temporal API key, the database password."""
    secrets_file = tmp_path / "secrets.yaml"
    secrets_file.write_text("FROM_FILE: file-value-1\n")
    for name in [n for n in os.environ if n.startswith("ROLLCALL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ROLLCALL_API_KEYS", "ops:operator:operator-key-1, plain-key-2")
    monkeypatch.setenv("ROLLCALL_SECRET_FROM_ENV", "env-value-1")
    monkeypatch.setenv("ROLLCALL_TEMPORAL_API_KEY", "temporal-key-1")
    key_path = tmp_path / "not-a-secret.pem"  # a path setting must name a file that exists (#12.7)
    key_path.write_text("-----BEGIN PRIVATE KEY-----\n")
    monkeypatch.setenv("ROLLCALL_TEMPORAL_TLS_KEY_PATH", str(key_path))
    monkeypatch.setenv("ROLLCALL_DATABASE_URL", "postgresql+psycopg://u:db-password-1@h/d")
    monkeypatch.setenv("ROLLCALL_SECRETS_FILE", str(secrets_file))
    values = set(configured_secret_values(Settings(_env_file=None)))
    expected = {"operator-key-1", "plain-key-2", "env-value-1", "temporal-key-1", "db-password-1", "file-value-1"}
    assert expected <= values
    assert str(key_path) not in values


def test_a_malformed_secrets_file_is_one_error_without_its_values(tmp_path: Path) -> None:
    """#12.5/#12.7: YAML's own message would quote the offending line (a secret): ours names the
    setting, the file and the position only."""
    bad = tmp_path / "secrets.yaml"
    bad.write_text('GOOD: fine\nBAD: "canary-in-bad-file\n  - [unclosed: canary-in-bad-file\n')
    with pytest.raises(ConfigurationError) as raised:
        configured_secret_values(Settings(_env_file=None, secrets_file=bad))
    assert raised.value.message == f"ROLLCALL_SECRETS_FILE: {bad} is not valid YAML (line 4, column 1)"
    bad.write_bytes(b"NAME: \xff\xfe canary\n")
    with pytest.raises(ConfigurationError, match="is not UTF-8 text"):
        configured_secret_values(Settings(_env_file=None, secrets_file=bad))
