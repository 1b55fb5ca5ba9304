"""Logs that hold no secret (#12.5) and logs you can follow (#17.3), on the real stack.

``rollcall up`` runs with canary secrets (a ``ROLLCALL_SECRET_*`` variable and a secrets file), a
canary admin API key and a canary contact e-mail; the test drives webhooks that fail and succeed
(to a loopback receiver that echoes what it got), 500 and 4xx requests carrying canaries in
headers and query strings, a sync of a demo webinar, and a worker started with a malformed
secrets file. Then every line of every process is searched for every canary: none may appear.
In JSON mode every line must also parse as a JSON object naming its process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from support.databases import on_store
from support.http import serve
from support.rollcall import RollcallUp, up_env
from support.waiting import wait_until

#: Every process ``rollcall up`` starts, and ``up`` itself.
PROCESSES = {"up", "temporal", "zoom-emulator", "webhook-inbox", "worker", "api"}
DEMO_WEBINAR = "81000000005"


@dataclass(frozen=True)
class Canaries:
    token: str = field(default_factory=lambda: "canary-secret-" + uuid.uuid4().hex)
    file_secret: str = field(default_factory=lambda: "canary-file-" + uuid.uuid4().hex)
    bad_file_secret: str = field(default_factory=lambda: "canary-badfile-" + uuid.uuid4().hex)
    api_key: str = field(default_factory=lambda: "canary-key-" + uuid.uuid4().hex)
    wrong_key: str = field(default_factory=lambda: "canary-wrong-" + uuid.uuid4().hex)
    cookie: str = field(default_factory=lambda: "canary-cookie-" + uuid.uuid4().hex)
    query: str = field(default_factory=lambda: "canary-query-" + uuid.uuid4().hex)
    body: str = field(default_factory=lambda: "canary-body-" + uuid.uuid4().hex)
    email_local: str = field(default_factory=lambda: "canary-" + uuid.uuid4().hex)

    @property
    def email(self) -> str:
        return f"{self.email_local}@customers.example"

    def all(self) -> list[str]:
        fields = [self.token, self.file_secret, self.bad_file_secret, self.api_key, self.wrong_key]
        return [*fields, self.cookie, self.query, self.body, self.email_local, self.email]


class _Receiver:
    """A webhook receiver on loopback: ``/flaky`` answers 500 once, then 200; ``/reject`` answers
    400 and echoes the request's headers and body (a receiver that leaks what it was sent)."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    async def flaky(self, request: Request) -> Response:
        await request.body()
        self.calls["flaky"] = self.calls.get("flaky", 0) + 1
        return JSONResponse({"ok": self.calls["flaky"] > 1}, status_code=500 if self.calls["flaky"] == 1 else 200)

    async def reject(self, request: Request) -> Response:
        body = (await request.body()).decode()
        self.calls["reject"] = self.calls.get("reject", 0) + 1
        return Response(f"refused {dict(request.headers)} {body} {request.url}", status_code=400)

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/flaky", self.flaky, methods=["POST"]), Route("/reject", self.reject, methods=["POST"])]
        )


@pytest.fixture
def receiver() -> Iterator[tuple[_Receiver, str]]:
    state = _Receiver()
    with serve(state.app(), name="canary-receiver") as url:
        yield state, url


def _definition(receiver_url: str) -> str:
    hook = """
    headers:
      Authorization: "Bearer {{ secrets.CANARY_TOKEN }}"
      X-File-Secret: "{{ secrets.FILE_CANARY }}"
    body:
      email: "{{ contact.email }}"
      token: "{{ secrets.CANARY_TOKEN }}"
    retry: {max_attempts: 3, initial_interval: 1s, backoff: 1}"""
    return f"""
key: canary-hooks
name: Canary hooks
enrollment:
  triggers: [{{type: api}}]
secrets: [CANARY_TOKEN, FILE_CANARY]
steps:
  - id: flaky
    type: webhook
    url: "{receiver_url}/flaky?token={{{{ secrets.CANARY_TOKEN }}}}&email={{{{ contact.email }}}}"{hook}
  - id: rejected
    type: webhook
    url: "{receiver_url}/reject?token={{{{ secrets.CANARY_TOKEN }}}}"{hook}
    on_error: continue
  - id: done
    type: end
"""


def _stack_env(tmp_path: Path, canaries: Canaries, receiver_url: str, log_format: str) -> dict[str, str]:
    env = up_env()
    secrets_file = tmp_path / "secrets.yaml"
    secrets_file.write_text(f"FILE_CANARY: {canaries.file_secret}\n")
    env.update(
        {
            "ROLLCALL_LOG_FORMAT": log_format,
            "ROLLCALL_SECRET_CANARY_TOKEN": canaries.token,
            "ROLLCALL_SECRETS_FILE": str(secrets_file),
            "ROLLCALL_ADMIN_API_KEYS": canaries.api_key,
            # The egress allowlist (#12.3) lets webhook steps reach the receiver on loopback.
            "ROLLCALL_WEBHOOK_ALLOW": receiver_url.removeprefix("http://"),
            # One unexpected error (a 500) in the API, on purpose.
            "ROLLCALL_FAILPOINTS": "api.readyz=error*1",
        }
    )
    return env


# long: the scripted demo the canary test searches, request after request, each with its expected answer
def _drive(api: str, canaries: Canaries, receiver: _Receiver, receiver_url: str) -> None:
    key = {"Authorization": f"Bearer {canaries.api_key}"}
    with httpx.Client(base_url=api, timeout=30) as client:
        saved = client.put(
            "/v1/workflows/canary-hooks",
            content=_definition(receiver_url),
            headers={**key, "Content-Type": "application/yaml"},
        )
        assert saved.status_code in (200, 201), saved.text
        enrolled = client.post(
            "/v1/workflows/canary-hooks/enrollments",
            json={"email": canaries.email, "first_name": "Canary", "last_name": "Bird"},
            headers=key,
        )
        assert enrolled.status_code == 202, enrolled.text
        contact_id = enrolled.json()["contact_id"]

        # 4xx: bad JSON, a wrong key (a canary), an unknown route with a canary query string.
        bad_json = client.post(
            "/v1/workflows/canary-hooks/enrollments",
            content=f"{{not json {canaries.body}",
            headers={**key, "Content-Type": "application/json"},
        )
        assert 400 <= bad_json.status_code < 500, bad_json.text
        wrong_key = client.get("/v1/contacts", headers={"Authorization": f"Bearer {canaries.wrong_key}"})
        assert wrong_key.status_code == 401
        unknown = client.get(f"/v1/nowhere?token={canaries.query}", headers=key)
        assert unknown.status_code == 404
        # 500: the armed failpoint, on a request full of credentials (its own connection: uvicorn
        # closes one whose request raised).
        crashed = httpx.get(
            f"{api}/readyz?token={canaries.query}",
            headers={**key, "Cookie": f"session={canaries.cookie}", "X-Api-Key": canaries.api_key},
        )
        assert crashed.status_code == 500, crashed.text
        assert canaries.cookie not in crashed.text

        # A sync of a demo webinar (global sync on first, R-SET-1).
        settings = client.get("/v1/sync-settings", headers=key).json()
        turned_on = client.put("/v1/sync-settings", json={**settings, "sync_enabled": True}, headers=key)
        assert turned_on.status_code == 200, turned_on.text
        started = client.post(f"/v1/webinars/{DEMO_WEBINAR}/sync", headers=key)
        assert started.status_code == 202, started.text

        enrollment = wait_until(
            lambda: client.get(f"/v1/workflows/canary-hooks/enrollments/{contact_id}", headers=key).json(),
            lambda detail: detail["status"] != "active",
            "the canary enrollment to end",
        )
        outcomes = {entry["step_id"]: entry["outcome"] for entry in enrollment["history"]}
        assert outcomes["flaky"] == "DELIVERED", enrollment
        assert outcomes["rejected"] != "DELIVERED", enrollment
        assert receiver.calls == {"flaky": 2, "reject": 1}
        wait_until(
            lambda: client.get(f"/v1/webinars/{DEMO_WEBINAR}/sync", headers=key).json(),
            lambda state: (
                state["status"] != "running"
                or (state["progress"] or {}).get("phase") in ("recordings", "waiting", "publishing events", "done")
            ),
            "the demo webinar's sync to write its registrants and attendees",
        )


def _start_worker_with_malformed_secrets_file(
    tmp_path: Path, canaries: Canaries, log_format: str
) -> subprocess.Popen[str]:
    """#12.7 too: a secrets file that is not YAML stops the worker with one line, and no value."""
    bad = tmp_path / "bad-secrets.yaml"
    bad.write_text(f'GOOD: fine\nBAD: "{canaries.bad_file_secret}\n  - [unclosed: {canaries.bad_file_secret}\n')
    env = {**up_env(), "ROLLCALL_LOG_FORMAT": log_format, "ROLLCALL_SECRETS_FILE": str(bad)}
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "worker"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _one_line_error(worker: subprocess.Popen[str]) -> list[str]:
    output, _ = worker.communicate(timeout=60)
    lines = [line for line in output.splitlines() if line.strip()]
    assert worker.returncode == 2, lines
    assert len(lines) == 1 and "ROLLCALL_SECRETS_FILE" in lines[0] and "bad-secrets.yaml" in lines[0], lines
    return lines


def _run_demo(
    tmp_path: Path, receiver: tuple[_Receiver, str], log_format: str, database_url: str | None
) -> tuple[Canaries, list[str]]:
    canaries = Canaries()
    state, receiver_url = receiver
    env = _stack_env(tmp_path, canaries, receiver_url, log_format)
    if database_url is not None:
        env["ROLLCALL_DATABASE_URL"] = database_url
    api = f"http://127.0.0.1:{env['ROLLCALL_API_PORT']}"
    worker = _start_worker_with_malformed_secrets_file(tmp_path, canaries, log_format)
    up = RollcallUp(tmp_path, env)
    try:
        # The banner, not /healthz alone: another test's API on a recycled port would answer that.
        up.wait_for(re.compile("Rollcall is up"), timeout=120)
        _drive(api, canaries, state, receiver_url)
    finally:
        returncode, output = up.stop()
        worker_lines = _one_line_error(worker)
    assert returncode == 0, output[-5000:]
    lines = [line for line in output.splitlines() if line.strip()]
    return canaries, lines + worker_lines


def _assert_no_canary(canaries: Canaries, lines: list[str]) -> None:
    leaks = [(canary, line) for line in lines for canary in canaries.all() if canary in line]
    assert leaks == [], "\n".join(f"{canary}: {line[:500]}" for canary, line in leaks[:20])


@on_store("postgresql")
@pytest.mark.timeout(300)
def test_json_logs_of_a_demo_run_hold_no_canary_and_every_line_is_json(
    tmp_path: Path, receiver: tuple[_Receiver, str], database_url: str
) -> None:
    """#12.5 (no secret, key or contact e-mail in any line; SQLite and PostgreSQL) and #17.3 (every
    line of every process is a JSON object naming its process; one line per step outcome, with
    the workflow, run, activity and enrollment; httpx request lines only at DEBUG)."""
    canaries, lines = _run_demo(tmp_path, receiver, "json", database_url)
    _assert_no_canary(canaries, lines)

    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"not JSON: {line[:500]}")
        assert isinstance(record, dict) and record.get("process") in PROCESSES, line[:500]
        records.append(record)
    seen = {record["process"] for record in records}
    assert seen >= {"up", "temporal", "worker", "api"}, seen

    [banner] = [r for r in records if r["event"] == "Rollcall is up"]
    assert banner["process"] == "up" and banner["api_url"].startswith("http://127.0.0.1:")
    assert "api_key_file" not in banner  # keys are configured: none generated, none printed

    steps = [r for r in records if r["event"] == "step outcome"]
    assert {(r["step_id"], r["outcome"]) for r in steps} >= {("flaky", "DELIVERED")}, steps
    assert len([r for r in steps if r["step_id"] == "flaky"]) == 1, steps
    for record in steps:
        assert record["process"] == "worker"
        assert record["workflow_id"].startswith("enroll:canary-hooks:") and record["run_id"], record
        assert record["activity"] and isinstance(record["enrollment_id"], int), record

    [crash] = [r for r in records if r["event"] == "unhandled error"]
    assert crash["process"] == "api" and crash["error_type"] == "FailpointError"
    assert "Traceback" in crash["exception"] and "readyz" in crash["exception"]
    assert not [r for r in records if str(r["event"]).startswith("HTTP Request:")]


@pytest.mark.timeout(300)
def test_console_logs_of_a_demo_run_hold_no_canary(tmp_path: Path, receiver: tuple[_Receiver, str]) -> None:
    """#12.5 in the default console format, where Rich tracebacks used to print local variables."""
    canaries, lines = _run_demo(tmp_path, receiver, "console", None)
    _assert_no_canary(canaries, lines)
    text = "\n".join(lines)
    assert "Rollcall is up" in text
    assert "unhandled error" in text and "FailpointError" in text
    assert "HTTP Request:" not in text
