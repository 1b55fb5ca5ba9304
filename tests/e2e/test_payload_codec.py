"""#17.4 acceptance: payloads encrypted in Temporal, readable by those allowed.

`rollcall up` generates a payload key (0600) and every process encrypts with it: after a demo run,
no canary (a contact's name, a value a step derived from the contact) is in the dev server's
database, raw bytes; ``temporal workflow show`` through the API's codec endpoint, with a viewer
key, shows them decoded (and without it, does not); the Web UI in headless Chromium, after the
codec login, shows the run's decoded input and result.
"""

from __future__ import annotations

import base64
import json
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from support.rollcall import RollcallUp, up_env, wait_for_http

pytestmark = pytest.mark.timeout(300)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ADMIN_KEY = "codec-admin-key-0123456789abcdef"
VIEWER_KEY = "codec-viewer-key-0123456789abcdef"
FIRST_NAME = "Canaryfirstname"
CANARY_VALUE = "canary-derived-7c1f9e"
EMAIL = "canary.codec@customers.example"

DEFINITION = f"""
key: codec-demo
name: Codec demo
enrollment:
  triggers: [{{type: api}}]
steps:
  - id: derive
    type: set_property
    property: codec_marker
    value: "{{{{ contact.properties.seed }}}}-{CANARY_VALUE[len("canary-") :]}"
  - id: done
    type: end
"""


def _temporal(*args: str) -> subprocess.CompletedProcess[str]:
    binary = str(Path(sys.executable).parent / "temporal")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60)


# long: one stack, one run, then its payloads checked at rest, through the codec and in the Web UI
def test_payloads_are_ciphertext_at_rest_and_decoded_for_a_key_holder(tmp_path: Path) -> None:
    env = up_env()
    env["ROLLCALL_API_KEYS"] = f"ops:admin:{ADMIN_KEY},reader:viewer:{VIEWER_KEY}"
    api = f"http://127.0.0.1:{env['ROLLCALL_API_PORT']}"
    ui = f"http://127.0.0.1:{env['ROLLCALL_TEMPORAL_UI_PORT']}"
    address = f"127.0.0.1:{env['ROLLCALL_TEMPORAL_DEV_PORT']}"
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    up = RollcallUp(tmp_path, env)
    try:
        wait_for_http(f"{api}/healthz", timeout=90)
        keys = tmp_path / ".rollcall" / "payload-keys"
        assert stat.S_IMODE(keys.stat().st_mode) == 0o600
        saved = httpx.put(
            f"{api}/v1/workflows/codec-demo",
            content=DEFINITION,
            headers={**admin, "Content-Type": "application/yaml"},
        )
        assert saved.status_code in (200, 201), saved.text
        enrolled = httpx.post(
            f"{api}/v1/workflows/codec-demo/enrollments",
            json={"email": EMAIL, "first_name": FIRST_NAME, "properties": {"seed": "canary"}},
            headers=admin,
        )
        assert enrolled.status_code == 202, enrolled.text
        workflow_id = enrolled.json()["workflow_id"]
        _wait_completed(api, admin, enrolled.json()["contact_id"])

        # Through the codec endpoint with a viewer key: decoded. Without it: ciphertext only.
        codec = ["--codec-endpoint", f"{api}/codec", "--codec-auth", f"Bearer {VIEWER_KEY}"]
        shown = _temporal("workflow", "show", "--workflow-id", workflow_id, "--address", address, "-o", "json", *codec)
        assert shown.returncode == 0, shown.stderr
        decoded = _payload_texts(json.loads(shown.stdout))
        assert CANARY_VALUE in decoded and FIRST_NAME in decoded, decoded[:3000]
        plain = _temporal("workflow", "show", "--workflow-id", workflow_id, "--address", address, "-o", "json")
        assert plain.returncode == 0, plain.stderr
        ciphertext = _payload_texts(json.loads(plain.stdout))
        assert CANARY_VALUE not in ciphertext and FIRST_NAME not in ciphertext
        assert "binary/encrypted" in ciphertext

        # The codec routes: no key, 401; a viewer may decode, not encode; the UI's origin may call them.
        payloads = json.loads(plain.stdout)
        assert httpx.post(f"{api}/codec/decode", json={"payloads": []}).status_code == 401
        assert httpx.post(f"{api}/codec/encode", json={"payloads": []}, headers=_bearer(VIEWER_KEY)).status_code == 403
        preflight = httpx.options(
            f"{api}/codec/decode",
            headers={
                "Origin": ui,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace",
            },
        )
        assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == ui
        assert preflight.headers["access-control-allow-credentials"] == "true"
        elsewhere = httpx.options(
            f"{api}/codec/decode", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in elsewhere.headers
        assert payloads  # the history itself came back

        if CHROMIUM is not None:
            _check_the_web_ui_decodes(api, ui, workflow_id)
    finally:
        returncode, output = up.stop()
    assert returncode == 0, output[-3000:]
    assert VIEWER_KEY not in output and ADMIN_KEY not in output
    key_text = keys.read_text()
    assert all(line.split(":", 1)[1] not in output for line in key_text.splitlines() if ":" in line)
    # At rest: the dev server's database (and its WAL) holds none of the canaries.
    stored = b"".join(path.read_bytes() for path in (tmp_path / ".rollcall").glob("temporal.db*"))
    assert len(stored) > 100_000
    for canary in (FIRST_NAME, CANARY_VALUE, EMAIL):
        assert canary.encode() not in stored, canary


def _payload_texts(document: object) -> str:
    """Every payload's metadata and data in a ``temporal workflow show -o json`` document, decoded
    from base64 (the protobuf JSON form), one per line."""
    found: list[str] = []
    if isinstance(document, dict):
        if "data" in document and isinstance(document.get("metadata"), dict):
            for value in (*document["metadata"].values(), document["data"]):
                found.append(base64.b64decode(value).decode("utf-8", "replace"))
        for value in document.values():
            found.append(_payload_texts(value))
    elif isinstance(document, list):
        found.extend(_payload_texts(value) for value in document)
    return "\n".join(text for text in found if text)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _wait_completed(api: str, headers: dict[str, str], contact_id: int) -> None:
    deadline = time.monotonic() + 60
    with httpx.Client(headers=headers) as client:  # one client for the polls (``httpx.get`` builds one per call)
        while True:
            answer = client.get(f"{api}/v1/workflows/codec-demo/enrollments/{contact_id}")
            if answer.status_code == 200 and answer.json()["status"] == "completed":
                return
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.3)


def _check_the_web_ui_decodes(api: str, ui: str, workflow_id: str) -> None:
    """A viewer logs in to the codec (a cookie for the API's /codec), turns on "include cross-origin
    credentials" in the UI's codec settings, and reads the run's decoded input and result; in a
    browser that did not log in, the same page gets 401 from the codec and shows no decoded input."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            viewer = browser.new_page()
            viewer.goto(f"{api}/codec/login")
            viewer.fill("input[name=key]", VIEWER_KEY)
            viewer.click("button[type=submit]")
            viewer.wait_for_selector("text=Logged in as")
            calls, outside = _open_run(viewer, api, ui, workflow_id)
            _wait_for_text(viewer, '"definition_hash"', calls)
            _wait_for_text(viewer, '"reason": "end_step"', calls)
            assert outside == [], outside
            assert calls and all(call.endswith(" 200") for call in calls), calls

            stranger = browser.new_context().new_page()
            calls, _ = _open_run(stranger, api, ui, workflow_id)
            deadline = time.monotonic() + 30
            while not any(call.endswith(" 401") for call in calls):
                assert time.monotonic() < deadline, calls
                stranger.wait_for_timeout(200)
            stranger.wait_for_timeout(1000)  # what the page renders once the codec refused
            assert '"definition_hash"' not in stranger.evaluate("() => document.body.innerText")
        finally:
            browser.close()


def _open_run(page: Page, api: str, ui: str, workflow_id: str) -> tuple[list[str], list[str]]:
    """The run's page, with the UI's codec settings as a user sets them; the codec calls the page
    made (method, URL, status) and any request that left loopback."""
    calls: list[str] = []
    outside: list[str] = []
    page.on(
        "request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else outside.append(r.url)
    )
    page.on(
        "response",
        lambda r: calls.append(f"{r.request.method} {r.url} {r.status}") if "/codec/" in r.url else None,
    )
    page.goto(f"{ui}/namespaces/default/workflows")
    page.evaluate(
        """endpoint => {
            localStorage.setItem('overrideRemoteCodecConfiguration', 'true');
            localStorage.setItem('endpoint', JSON.stringify(endpoint));
            localStorage.setItem('includeCredentials', 'true');
        }""",
        f"{api}/codec",
    )
    page.goto(f"{ui}/namespaces/default/workflows/{workflow_id}")
    return calls, outside


def _wait_for_text(page: Page, text: str, calls: list[str]) -> None:
    try:
        page.wait_for_function("text => document.body.innerText.includes(text)", arg=text, timeout=30_000)
    except PlaywrightTimeout:
        shown = page.evaluate("() => document.body.innerText")
        raise AssertionError(f"{text!r} not shown; codec calls {calls}; page:\n{shown[-3000:]}") from None
