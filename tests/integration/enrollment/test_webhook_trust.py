"""#12.2 and #12.3 through the real worker on the dev server: where a webhook step may connect,
and what a webhook step stores.

- A webhook to any address that is not public — in every spelling, by name or literally — fails
  with the typed, non-retryable ``EGRESS_DENIED`` that ``on_error`` handles, before anything is
  sent: loopback listeners count zero connections. The allowlisted receiver still gets its
  request.
- A webhook's output and failure messages hold no secret and no API key, in the store's action
  log and in Temporal's history; the answer is kept only with ``save_response: true``.
- A secrets file or an allowlist that cannot be used stops ``rollcall worker`` and ``rollcall up``
  with one line naming the setting.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpcore
import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from engine.config import Settings
from engine.crm.contacts import create_contact
from engine.crm.enrollments import step_history
from engine.enrollment.egress import EgressDenied, EgressPolicy, GuardedNetworkBackend, restricted_kind
from engine.enrollment.service import ContactIn, EnrollmentService
from engine.errors import ConfigurationError

if TYPE_CHECKING:
    from integration.enrollment.conftest import Definitions, WebhookReceiver

pytestmark = pytest.mark.timeout(120)

HOOK_TOKEN = "s3cret-token"  # the worker fixture's secrets file
API_KEY = "enrollment-tests-key"  # an API key the worker's settings hold


@dataclass
class Listener:
    """A TCP listener that only counts the connections it accepts."""

    port: int
    accepted: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextlib.contextmanager
def listening(family: socket.AddressFamily, host: str) -> Iterator[Listener | None]:
    try:
        server = socket.socket(family, socket.SOCK_STREAM)
        server.bind((host, 0))
    except OSError:  # no IPv6 on this machine: nothing could connect there anyway
        yield None
        return
    server.listen(16)
    server.settimeout(0.2)
    listener = Listener(port=server.getsockname()[1])
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with listener.lock:
                listener.accepted += 1
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def loopback_host_name() -> str | None:
    """This machine's name when it resolves to loopback (a name, not a literal address)."""
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    except OSError:
        return None
    return name if addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses) else None


def destinations(port: int, port6: int) -> dict[str, tuple[str, str]]:
    """Step id → (URL, the host the refusal names): the issue's list and its relatives."""
    found = {
        "loopback": (f"http://127.0.0.1:{port}/hook?q=query-text", "127.0.0.1"),
        "localhost": (f"http://localhost:{port}/hook", "localhost"),
        "ipv6_loopback": (f"http://[::1]:{port6}/hook", "::1"),
        "private": (f"http://10.1.2.3:{port}/hook", "10.1.2.3"),
        "metadata": ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        "decimal": (f"http://2130706433:{port}/hook", "2130706433"),
        "hex": (f"http://0x7f000001:{port}/hook", "0x7f000001"),
        "octal": (f"http://0177.0.0.1:{port}/hook", "0177.0.0.1"),
        "short": (f"http://127.1:{port}/hook", "127.1"),
        "mapped": (f"http://[::ffff:127.0.0.1]:{port}/hook", "::ffff:127.0.0.1"),
        "cgnat": ("http://100.64.0.1/hook", "100.64.0.1"),
        "rfc1918": ("https://192.168.1.1/hook", "192.168.1.1"),
        "ula": ("http://[fd00::1]/hook", "fd00::1"),
        "link_local_v6": ("http://[fe80::1]/hook", "fe80::1"),
        "multicast": ("http://224.0.0.1/hook", "224.0.0.1"),
        "unspecified": (f"http://0.0.0.0:{port}/hook", "0.0.0.0"),
    }
    name = loopback_host_name()
    if name is not None:
        found["host_name"] = (f"http://{name}:{port}/hook", name)
    return found


EGRESS = """
key: "{key}"
name: Webhooks to forbidden places
enrollment:
  triggers: [{type: api}]
steps:
STEPS
  - id: allowed
    type: webhook
    url: "RECEIVER/allowed/{{ contact.id }}"
"""

DENIED_STEP = """  - id: STEP
    type: webhook
    url: "URL"
    retry: {max_attempts: 3, initial_interval: 1s}
    on_error: continue
"""


def new_contact(db_engine: Engine, email: str) -> int:
    with Session(db_engine) as session:
        contact = create_contact(session, email=email)
        session.commit()
        assert contact.id is not None
        return contact.id


async def run_to_end(service: EnrollmentService, client: Client, key: str, contact_id: int) -> tuple[int, Any]:
    started = await service.enroll(key, ContactIn(contact_id=contact_id))
    handle = client.get_workflow_handle(started.workflow_id, run_id=started.run_id)
    return started.enrollment_id, await asyncio.wait_for(handle.result(), timeout=90)


async def history_events(client: Client, workflow_id: str) -> list[dict[str, Any]]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    events: list[dict[str, Any]] = json.loads(history.to_json())["events"]
    return events


def decoded_payloads(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "metadata" in node and isinstance(node.get("data"), str):
            yield base64.b64decode(node["data"]).decode("utf-8", "replace")
        for value in node.values():
            yield from decoded_payloads(value)
    elif isinstance(node, list):
        for item in node:
            yield from decoded_payloads(item)


async def test_webhooks_to_addresses_that_are_not_public_are_refused_before_connecting(
    worker: Any,
    service: EnrollmentService,
    definitions: Definitions,
    receiver: WebhookReceiver,
    db_engine: Engine,
    temporal_client: Client,
) -> None:
    """#12.3 acceptance: 127.0.0.1, localhost, [::1], 10.1.2.3, 169.254.169.254, 2130706433,
    0x7f000001, a host name resolving to 127.0.0.1 (and relatives) → EGRESS_DENIED, typed and not
    retried, handled by on_error; no connection reaches the listeners; the allowlisted receiver
    (127.0.0.1 on another port) gets its request."""
    with listening(socket.AF_INET, "127.0.0.1") as listener, listening(socket.AF_INET6, "::1") as listener6:
        assert listener is not None
        targets = destinations(listener.port, listener6.port if listener6 else listener.port)
        steps = "".join(DENIED_STEP.replace("STEP", step).replace("URL", url) for step, (url, _) in targets.items())
        definitions.put("egress", EGRESS.replace("STEPS\n", steps).replace("RECEIVER", receiver.url))
        key = definitions.key("egress")
        contact_id = new_contact(db_engine, "egress@example.com")

        enrollment_id, result = await run_to_end(service, temporal_client, key, contact_id)

        assert listener.accepted == 0
        assert listener6 is None or listener6.accepted == 0
    assert (result["status"], result["reason"]) == ("completed", "completed")
    with Session(db_engine) as session:
        rows = step_history(session, enrollment_id)
    assert [(row.step_id, row.outcome) for row in rows] == [
        *((step, "FAILED") for step in targets),
        ("allowed", "DELIVERED"),
    ]
    for row, (step, (_, host)) in zip(rows, targets.items(), strict=False):
        assert row.message is not None and row.message.startswith(
            f"webhook {step!r}: {host} is not an allowed webhook destination ("
        ), row.message
        assert row.message.endswith("allow it with ROLLCALL_WEBHOOK_ALLOW"), row.message
        assert "/hook" not in row.message and "query-text" not in row.message
        assert row.data == {"on_error": "continue"}
    assert receiver.paths() == [f"/allowed/{contact_id}"]
    # Typed and non-retryable in Temporal: one attempt each, although the policy allows three.
    events = await history_events(temporal_client, f"enroll:{key}:{contact_id}")
    failures = [
        e["activityTaskFailedEventAttributes"]["failure"] for e in events if "activityTaskFailedEventAttributes" in e
    ]
    attempts = [
        e["activityTaskStartedEventAttributes"].get("attempt", 1)
        for e in events
        if "activityTaskStartedEventAttributes" in e
    ]
    assert [f["applicationFailureInfo"]["type"] for f in failures] == ["EGRESS_DENIED"] * len(targets)
    assert all(f["applicationFailureInfo"]["nonRetryable"] for f in failures)
    assert attempts == [1] * (len(targets) + 1)


SECRET_ECHO = """
key: "{key}"
name: Careless receivers
secrets: [HOOK_TOKEN]
enrollment:
  triggers: [{type: api}]
steps:
  - id: kept
    type: webhook
    url: "RECEIVER/echo/{{ secrets.HOOK_TOKEN }}"
    headers:
      Authorization: "Bearer {{ secrets.HOOK_TOKEN }}"
    save_response: true
  - id: not_kept
    type: webhook
    url: "RECEIVER/echo/{{ secrets.HOOK_TOKEN }}"
  - id: rejected
    type: webhook
    url: "RECEIVER/echo/{{ secrets.HOOK_TOKEN }}"
    headers:
      Authorization: "Bearer {{ secrets.HOOK_TOKEN }}"
    save_response: true
    on_error: continue
  - id: rejected_quietly
    type: webhook
    url: "RECEIVER/echo/{{ secrets.HOOK_TOKEN }}"
    on_error: continue
"""


async def test_what_a_webhook_stores_holds_no_secret_and_no_api_key(
    worker: Any,
    service: EnrollmentService,
    definitions: Definitions,
    receiver: WebhookReceiver,
    db_engine: Engine,
    temporal_client: Client,
) -> None:
    """#12.2: the receiver gets the secret; the step's output (kept only with save_response), its
    failure message, the action log and Temporal's history get ``***`` in its place (and in the
    place of the worker's API key)."""
    receiver.statuses = [200, 200, 404, 404]
    receiver.echo = {"leaked": API_KEY}  # a receiver that somehow knows the worker's API key
    definitions.put("echo", SECRET_ECHO.replace("RECEIVER", receiver.url))
    key = definitions.key("echo")
    contact_id = new_contact(db_engine, "echo@example.com")

    enrollment_id, result = await run_to_end(service, temporal_client, key, contact_id)

    assert result["status"] == "completed"
    assert [request.path for request in receiver.requests] == [f"/echo/{HOOK_TOKEN}"] * 4
    assert receiver.requests[0].headers["Authorization"] == f"Bearer {HOOK_TOKEN}"
    with Session(db_engine) as session:
        rows = {row.step_id: row for row in step_history(session, enrollment_id)}
    assert rows["kept"].data == {
        "status_code": 200,
        "response": {"ok": True, "path": "/echo/***", "authorization": "Bearer ***", "leaked": "***"},
    }
    assert rows["not_kept"].data == {"status_code": 200}
    assert rows["rejected"].outcome == "FAILED"
    assert rows["rejected"].message == (
        "webhook 'rejected': HTTP 404: "
        '{"ok": false, "path": "/echo/***", "authorization": "Bearer ***", "leaked": "***"}'
    )
    assert rows["rejected_quietly"].message == "webhook 'rejected_quietly': HTTP 404"
    payloads = "\n".join(decoded_payloads(await history_events(temporal_client, f"enroll:{key}:{contact_id}")))
    assert "/echo/***" in payloads
    assert HOOK_TOKEN not in payloads and API_KEY not in payloads


REDIRECTED = """
key: "{key}"
name: A receiver that moved
enrollment:
  triggers: [{type: api}]
steps:
  - id: moved
    type: webhook
    url: "RECEIVER/moved"
    on_error: continue
  - id: done
    type: end
"""


async def test_a_redirect_is_not_followed(
    worker: Any,
    service: EnrollmentService,
    definitions: Definitions,
    receiver: WebhookReceiver,
    db_engine: Engine,
    temporal_client: Client,
) -> None:
    """#12.3: a redirect could lead anywhere; it is the step's answer (a rejection), not followed."""
    receiver.statuses = [302]
    definitions.put("moved", REDIRECTED.replace("RECEIVER", receiver.url))
    contact_id = new_contact(db_engine, "moved@example.com")

    enrollment_id, _ = await run_to_end(service, temporal_client, definitions.key("moved"), contact_id)

    with Session(db_engine) as session:
        rows = [(row.step_id, row.outcome, row.message) for row in step_history(session, enrollment_id)]
    assert rows == [
        ("moved", "FAILED", "webhook 'moved': HTTP 302 (redirects are not followed)"),
        ("done", "COMPLETED", None),
    ]
    assert receiver.paths() == ["/moved"]


async def test_the_connection_goes_to_the_address_that_was_checked(receiver: WebhookReceiver) -> None:
    """#12.3, DNS rebinding: the backend resolves the name, checks the addresses and connects to
    the checked address itself (the name is not resolved a second time); the request still names
    the host it was sent to."""
    connected: list[str] = []

    class Recording(httpcore.AnyIOBackend):
        async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
            connected.append(host)
            return await super().connect_tcp(host, port, *args, **kwargs)

    port = int(receiver.url.rsplit(":", 1)[1])
    backend = GuardedNetworkBackend(EgressPolicy.from_setting([f"localhost:{port}"]), Recording())
    async with httpcore.AsyncConnectionPool(network_backend=backend) as pool:
        response = await pool.request("POST", f"http://localhost:{port}/named", content=b"{}")
        with pytest.raises(EgressDenied):
            await pool.request("POST", f"http://localhost:{port + 1}/other-port")

    assert response.status == 200
    # Addresses, never the name (where localhost is also ::1, that one is tried first and refused).
    assert connected[-1] == "127.0.0.1" and all(ipaddress.ip_address(host).is_loopback for host in connected)
    [request] = receiver.requests
    assert request.path == "/named" and request.headers["Host"] == f"localhost:{port}"


# --- the policy itself ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.0.1", "a private address"),
        ("fd12::1", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("100.64.0.1", "a shared (CGNAT) address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("240.0.0.1", "a private address"),
        ("::ffff:127.0.0.1", "a loopback address inside an IPv6 address"),
        ("::ffff:10.0.0.1", "a private address inside an IPv6 address"),
        ("::127.0.0.1", "a loopback address inside an IPv6 address"),
        ("64:ff9b::a9fe:a9fe", "a link-local address inside an IPv6 address"),
        ("2002:7f00:1::", "a loopback address inside an IPv6 address"),
        ("93.184.216.34", None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
        ("::ffff:93.184.216.34", None),
    ],
)
def test_which_addresses_are_restricted(address: str, kind: str | None) -> None:
    assert restricted_kind(ipaddress.ip_address(address)) == kind


def test_the_allowlist_reads_endpoints_networks_and_names() -> None:
    policy = EgressPolicy.from_setting(
        ["127.0.0.1:8766", "[::1]:9000", "10.0.0.0/8", "192.168.1.20", "hooks.internal.example", "Local.Test:8443", " "]
    )
    loopback, v6 = ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")
    policy.check("127.0.0.1", 8766, loopback)
    policy.check("2130706433", 8766, loopback)  # the same address in another spelling
    policy.check("localhost", 8766, ipaddress.ip_address("::ffff:127.0.0.1"))
    policy.check("::1", 9000, v6)
    policy.check("db.internal", 5432, ipaddress.ip_address("10.20.30.40"))
    policy.check("192.168.1.20", 443, ipaddress.ip_address("192.168.1.20"))
    policy.check("hooks.internal.example.", 443, ipaddress.ip_address("172.16.0.9"))
    policy.check("local.test", 8443, loopback)
    for host, port, address in (
        ("127.0.0.1", 8767, loopback),
        ("::1", 9001, v6),
        ("local.test", 8444, loopback),
        ("other.internal", 443, ipaddress.ip_address("172.16.0.9")),
    ):
        with pytest.raises(EgressDenied):
            policy.check(host, port, address)


@pytest.mark.parametrize("entry", ["127.0.0.1:http", "10.0.0.0/33", "[::1:80", "hooks..example", "bad host:80"])
def test_an_allowlist_entry_that_means_nothing_is_a_configuration_error(entry: str) -> None:
    with pytest.raises(ConfigurationError) as bad:
        EgressPolicy.from_setting([entry])
    assert bad.value.message == (
        f"ROLLCALL_WEBHOOK_ALLOW: {entry!r} is not host:port, an address, a CIDR network or a host name"
    )


# --- configuration that cannot work stops the worker and the stack ---------------------------------


@pytest.mark.parametrize("command", ["worker", "up"])
@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ROLLCALL_SECRETS_FILE", "missing.yaml", "ROLLCALL_SECRETS_FILE: missing.yaml does not exist"),
        ("ROLLCALL_SECRETS_FILE", ".", "ROLLCALL_SECRETS_FILE: . is a directory, not a file"),
        ("ROLLCALL_SECRETS_FILE", "list.yaml", "ROLLCALL_SECRETS_FILE: list.yaml must be a YAML mapping"),
        ("ROLLCALL_WEBHOOK_ALLOW", "127.0.0.1:http", "ROLLCALL_WEBHOOK_ALLOW: '127.0.0.1:http' is not host:port"),
    ],
)
def test_a_secrets_file_or_allowlist_that_cannot_work_stops_the_process_in_one_line(
    tmp_path: Path, command: str, variable: str, value: str, message: str, unused_port: int
) -> None:
    (tmp_path / "list.yaml").write_text("- a-secret-value\n")
    env = {
        **os.environ,
        variable: value,
        "ROLLCALL_DATABASE_URL": f"sqlite:///{tmp_path / 'rollcall.db'}",
        "ROLLCALL_TEMPORAL_ADDRESS": f"127.0.0.1:{unused_port}",
    }
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", command],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert message in output
    assert "Traceback" not in output and "a-secret-value" not in output


def test_the_worker_settings_read_the_allowlist_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLCALL_WEBHOOK_ALLOW", "127.0.0.1:8766, 10.0.0.0/8")
    assert Settings().webhook_allow == ["127.0.0.1:8766", "10.0.0.0/8"]
