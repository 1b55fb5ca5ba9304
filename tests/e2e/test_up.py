"""`rollcall up`: the whole stack from one command, stopped by Ctrl-C with nothing left behind."""

from __future__ import annotations

import json
import re
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import psutil
from support.rollcall import RollcallUp, up_env, wait_for_http
from support.waiting import wait_until
from temporalio.client import Client

from engine.demo.inbox import DEMO_SECRETS
from engine.temporal import SearchAttribute
from zoom_emulator.core.seeds import DEMO_SEED_PATH, load_seed

EMULATOR_LINE = re.compile(
    r"Zoom: no credentials configured — using the built-in Zoom emulator with demo data at "
    r"(http://127\.0\.0\.1:\d+) \(admin API at (http://127\.0\.0\.1:\d+/_admin)\)"
)


# long: two `up` runs in one folder: the second checks what the first left
def test_up_starts_everything_stops_cleanly_and_keeps_history(tmp_path: Path) -> None:
    env = up_env()
    api = f"http://127.0.0.1:{env['ROLLCALL_API_PORT']}"
    temporal_address = f"127.0.0.1:{env['ROLLCALL_TEMPORAL_DEV_PORT']}"
    temporal = str(Path(sys.executable).parent / "temporal")

    (tmp_path / ".rollcall").mkdir(mode=0o755)  # as an older version left it
    up = RollcallUp(tmp_path, env)
    try:
        wait_for_http(f"{api}/healthz", timeout=60)
        wait_for_http(f"http://127.0.0.1:{env['ROLLCALL_TEMPORAL_UI_PORT']}/", timeout=30)
        children = psutil.Process(up.pid).children(recursive=True)
        assert len(children) >= 4, [c.cmdline() for c in children]
        assert any("zoom-emulator" in c.cmdline() for c in children), [c.cmdline() for c in children]

        attributes = subprocess.run(
            [temporal, "operator", "search-attribute", "list", "--address", temporal_address],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout  # fmt: skip
        for attribute in SearchAttribute.ALL:
            assert attribute.name in attributes

        key = (tmp_path / ".rollcall" / "api-key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.post(f"{api}/v1/system/checks").status_code == 401
        started = httpx.post(f"{api}/v1/system/checks", headers=headers)
        assert started.status_code == 202
        workflow_id = started.json()["workflow_id"]
        with httpx.Client(headers=headers) as client:  # one client for the polls (``httpx.get`` builds one per call)
            wait_until(
                lambda: client.get(f"{api}/v1/system/checks/{workflow_id}").json()["status"],
                lambda status: status == "completed",
                "the system check to complete",
                within=30,
            )

        _check_demo_zoom(up, api, headers, tmp_path / ".rollcall" / "rollcall.db")
        _check_demo_inbox(up, api, headers)
        _check_cli_finds_the_stack(tmp_path, env)
    finally:
        returncode, output = up.stop()
    assert returncode == 0, output
    assert "Rollcall is up" in output
    assert not (tmp_path / ".rollcall" / "stack.json").exists()  # #14.6: gone with the stack
    # #12.1: the banner names the generated key's file; no line of any process shows the key.
    assert "API key      .rollcall/api-key  (generated admin key 'local-admin': cat it)" in output
    assert key not in output
    _assert_owner_only(tmp_path / ".rollcall")
    psutil.wait_procs(children, timeout=5)
    assert [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE] == []

    # A second `up` in the same folder reuses the persisted Temporal history.
    up = RollcallUp(tmp_path, env)
    try:
        wait_for_http(f"{api}/healthz", timeout=60)
        described = subprocess.run(
            [temporal, "workflow", "describe", "--workflow-id", workflow_id, "--address", temporal_address],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert described.returncode == 0, described.stderr
        assert "COMPLETED" in described.stdout.upper()
        assert workflow_id in described.stdout

        # The demo's Zoom connections are registered once, however often `up` runs.
        emulator = up.wait_for(EMULATOR_LINE).group(1)
        # The emulator's state survived the restart (.rollcall/zoom-emulator.json): the registration
        # made through its API in the first run is still there.
        assert (tmp_path / ".rollcall" / "zoom-emulator.json").exists()
        up.wait_for(re.compile("Rollcall is up"))
        registrants = httpx.get(f"{emulator}/_admin/webinars/81000000001/registrants").json()
        assert "e2e.webhook@customers.example" in [r["email"] for r in registrants]
        connections = httpx.get(f"{api}/v1/zoom-connections", headers=headers).json()
        assert [c["name"] for c in connections] == ["demo-account", "demo-emea"]
        units = httpx.get(f"{api}/v1/business-units", headers=headers).json()
        assert [u["name"] for u in units] == ["Account", "EMEA"]
    finally:
        returncode, output = up.stop()
    assert returncode == 0, output


def _check_cli_finds_the_stack(tmp_path: Path, env: dict[str, str]) -> None:
    """#14.6: `up` records its API and UI URLs in .rollcall/stack.json (0600); a CLI command run in
    the same folder, told neither the port nor the URL, reaches this stack's API through it."""
    recorded = json.loads((tmp_path / ".rollcall" / "stack.json").read_text())
    assert recorded["api_url"] == f"http://127.0.0.1:{env['ROLLCALL_API_PORT']}"
    assert recorded["temporal_ui_url"] == f"http://127.0.0.1:{env['ROLLCALL_TEMPORAL_UI_PORT']}"
    assert oct(stat.S_IMODE((tmp_path / ".rollcall" / "stack.json").stat().st_mode)) == "0o600"
    told_nothing = {name: value for name, value in env.items() if not name.startswith("ROLLCALL_")}
    listed = subprocess.run(
        [sys.executable, "-m", "engine.cli", "workflows", "list"],
        cwd=tmp_path, env={**told_nothing, "COLUMNS": "120"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert "Workflows" in listed.stdout
    linked = subprocess.run(
        [sys.executable, "-m", "engine.cli", "ui", "--failed"],
        cwd=tmp_path, env=told_nothing, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert f"{recorded['temporal_ui_url']}/namespaces/default/workflows?query=" in linked.stdout, linked.stderr


def _assert_owner_only(state: Path) -> None:
    """#12.7: ``.rollcall/`` is 0700 and every file in it (key, store, Temporal's history and their
    -wal/-shm files) 0600, however the folder was left before."""
    assert oct(stat.S_IMODE(state.stat().st_mode)) == "0o700"
    modes = {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in state.rglob("*") if path.is_file()}
    assert {"api-key", "rollcall.db", "temporal.db"} <= set(modes), modes
    assert {name: mode for name, mode in modes.items() if mode != "0o600"} == {}


def _check_demo_zoom(up: RollcallUp, api: str, headers: dict[str, str], store: Path) -> None:
    """Without Zoom credentials `up` runs the emulator with the demo seed, hands the worker and API
    its two accounts, registers them in the store, and subscribes the API's webhook route."""
    emulator, admin_api = up.wait_for(EMULATOR_LINE).groups()
    assert admin_api == f"{emulator}/_admin"
    up.wait_for(re.compile("Rollcall is up"))
    seed = load_seed(DEMO_SEED_PATH)
    main, emea = seed.accounts[:2]

    tokens = {}
    for account in (main, emea):
        answer = httpx.post(
            f"{emulator}/oauth/token",
            data={"grant_type": "account_credentials", "account_id": account.id},
            auth=(account.client_id, account.client_secret),
        )
        assert answer.status_code == 200, answer.text
        tokens[account.id] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    webinar = httpx.get(f"{emulator}/v2/webinars/81000000001", headers=tokens[main.id])
    assert (webinar.status_code, webinar.json()["topic"]) == (200, main.webinars[0].topic)

    connections = httpx.get(f"{api}/v1/zoom-connections", headers=headers).json()
    units = {unit["id"]: unit["name"] for unit in httpx.get(f"{api}/v1/business-units", headers=headers).json()}
    assert [
        (
            c["name"],
            c["zoom_account_id"],
            c["business_unit_id"] == 1,
            units[c["business_unit_id"]],
            c["connected_by_email"],
        )
        for c in connections
    ] == [
        ("demo-account", main.id, True, "Account", main.users[0].email),
        ("demo-emea", emea.id, False, "EMEA", emea.users[0].email),
    ]
    assert {c["credentials_ref"] for c in connections} == {"env:ROLLCALL_ZOOM_CONNECTIONS"}

    # A registration made through the emulator's Zoom API reaches the API as a signed webhook.
    registered = httpx.post(
        f"{emulator}/v2/webinars/81000000001/registrants",
        json={"email": "e2e.webhook@customers.example", "first_name": "E", "last_name": "Two"},
        headers=tokens[main.id],
    )
    assert registered.status_code == 201, registered.text
    # Only registration events: the demo webinar may already be running (its own webhooks).
    query = (
        "SELECT connection, event, deliveries, payload FROM zoom_webhook_events "
        "WHERE event LIKE 'webinar.registration%'"
    )

    def registration_events() -> list[tuple[Any, ...]]:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            return db.execute(query).fetchall()

    rows = wait_until(registration_events, bool, "the registration's webhook in the store", within=15, every=0.2)
    assert [row[:3] for row in rows] == [("demo-account", "webinar.registration_created", 1)]
    assert json.loads(rows[0][3])["payload"]["object"]["registrant"]["email"] == "e2e.webhook@customers.example"


INBOX_LINE = re.compile(
    r"Webhooks: secrets (\S.*) not configured — webhook steps using them send to the demo webhook inbox at "
    r"(http://127\.0\.0\.1:\d+) \(recorded requests: http://127\.0\.0\.1:\d+/_inbox\)"
)

DEMO_HOOK = """
key: demo-hook
name: Demo hook
secrets: [OPS_ALERTS_URL, CRM_HOOK_TOKEN]
enrollment:
  triggers: [{type: api}]
steps:
  - id: tell_ops
    type: webhook
    url: "{{ secrets.OPS_ALERTS_URL }}"
    headers:
      Authorization: "Bearer {{ secrets.CRM_HOOK_TOKEN }}"
    body:
      contact: "{{ contact.id }}"
"""


def _check_demo_inbox(up: RollcallUp, api: str, headers: dict[str, str]) -> None:
    """No secret configured: the demo inbox stands in for the examples' secrets, and a webhook
    step using them lands there (through the real worker, with the secrets ``up`` gave it)."""
    found = up.wait_for(INBOX_LINE)
    assert found.group(1).split(", ") == list(DEMO_SECRETS)
    inbox = found.group(2)
    assert httpx.get(f"{inbox}/_inbox").json() == {"count": 0, "requests": []}
    saved = httpx.put(
        f"{api}/v1/workflows/demo-hook", content=DEMO_HOOK, headers={**headers, "Content-Type": "application/yaml"}
    )
    assert saved.status_code in (200, 201), saved.text
    enrolled = httpx.post(
        f"{api}/v1/workflows/demo-hook/enrollments",
        json={"email": "e2e.inbox@customers.example"},
        headers=headers,
    )
    assert enrolled.status_code == 202, enrolled.text
    with httpx.Client() as client:  # one client for the polls (``httpx.get`` builds one per call)
        received = wait_until(
            lambda: client.get(f"{inbox}/_inbox").json()["requests"],
            bool,
            "the webhook to reach the demo inbox",
            within=30,
            every=0.2,
        )
    [request] = received
    assert (request["method"], request["path"]) == ("POST", "/hooks/ops-alerts")
    assert request["headers"]["authorization"] == "Bearer …"
    assert request["body"] == {"contact": str(enrolled.json()["contact_id"])}


def test_up_with_zoom_connections_configured_starts_no_emulator(temporal_client: Client, tmp_path: Path) -> None:
    env = up_env()
    env["ROLLCALL_TEMPORAL_ADDRESS"] = temporal_client.service_client.config.target_host
    env["ROLLCALL_ZOOM_CONNECTIONS"] = json.dumps(
        [
            {"name": "acme-emea", "account_id": "a1", "client_id": "c1", "client_secret": "s1"},
            {"name": "acme", "account_id": "a2", "client_id": "c2", "client_secret": "s2"},
        ]
    )
    api = f"http://127.0.0.1:{env['ROLLCALL_API_PORT']}"
    up = RollcallUp(tmp_path, env)
    try:
        up.wait_for(re.compile("Rollcall is up"))
        children = psutil.Process(up.pid).children(recursive=True)
        assert not any("zoom-emulator" in c.cmdline() for c in children), [c.cmdline() for c in children]
        key = (tmp_path / ".rollcall" / "api-key").read_text().strip()
        connections = httpx.get(f"{api}/v1/zoom-connections", headers={"Authorization": f"Bearer {key}"})
        assert connections.json() == []  # real connections are linked to business units by an admin
    finally:
        returncode, output = up.stop()
    assert returncode == 0, output
    assert "Zoom: 2 connection(s) configured: acme, acme-emea" in output
    assert "emulator" not in output
    psutil.wait_procs(children, timeout=5)
    assert [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE] == []


def test_up_with_invalid_zoom_connections_exits_with_one_line_and_no_secret(tmp_path: Path) -> None:
    env = up_env()
    env["ROLLCALL_ZOOM_CONNECTIONS"] = json.dumps([{"name": "acme", "client_secret": "very-secret-value"}])
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "up"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("rollcall: the Zoom configuration is invalid"), lines
    assert "connections.0.account_id" in lines[0]
    assert "very-secret-value" not in result.stdout + result.stderr


def test_up_with_unreachable_database_exits_with_one_line(tmp_path: Path) -> None:
    env = up_env()
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
    env = up_env()
    env["ROLLCALL_DATABASE_URL"] = "not a url"
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "up"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "rollcall: ROLLCALL_DATABASE_URL is not a database URL: Could not parse SQLAlchemy URL from given URL string"
    ]
