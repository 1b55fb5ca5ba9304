"""Record the histories the replay test checks (run after a deliberate workflow change).

    .venv/bin/python tests/replay/record_histories.py [--tag CHANGE_ID] [--only enrollment,saga,quick,sync] [--codec]

With ``--tag`` the files are ``histories/<scenario>@<CHANGE_ID>.json``: record a new set under
the ``workflow.patched`` id of each change and keep the older sets, so both the old and the new
paths stay guarded. ``--only`` records some groups of scenarios (default: all four):

- ``enrollment`` — the interpreter (``Enrollment``): every step type it runs, each ``on_error``
  mode, branches on outcomes and on segments, the goal exit and an unenroll mid-delay;
- ``saga`` — ``AddContactToWebinar`` registered, refused (host, business unit) and compensated,
  and the enrollment that started the registered one (``enrollment-register-step``), on a worker
  whose quick path is off (``ROLLCALL_REGISTRATION_QUICK_PATH=false``), so each registration is a
  saga run;
- ``quick`` — enrollments whose add-to-webinar step took the quick path (#16.1): registered, and
  refused (an alternative host), once a first registration taught the worker the webinar;
- ``sync`` — ``WebinarSync`` completed, and one that waits for a transcript (``zoom_scenarios.py``).

With ``--codec`` the payloads are encrypted (``engine.codec``, #17.4) with the test key in
``histories/codec/payload-test-key`` and the files go to ``histories/codec/``; ``test_replay_codec.py``
replays them through the codec.

Runs the scenarios on a fresh dev server (installed binary) with a SQLite store, a real webhook
endpoint and the Zoom emulator on loopback, and writes ``histories/<scenario>.json``. Commit the
files: ``test_replay.py`` replays them against the current code, so a change that is not behind
``workflow.patched`` fails there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # support.* and replay.*, as under pytest

from replay import zoom_scenarios  # noqa: E402
from sqlalchemy import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402
from temporalio.client import Client, WorkflowFailureError  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from engine.cli.supervisor import installed_binary  # noqa: E402
from engine.codec import data_converter_with, read_key_file  # noqa: E402
from engine.config import Settings  # noqa: E402
from engine.crm.contacts import create_contact, update_contact  # noqa: E402
from engine.crm.db import create_db_engine, upgrade_database  # noqa: E402
from engine.enrollment.definitions import put_definition_text  # noqa: E402
from engine.enrollment.service import ContactIn, EnrollmentService  # noqa: E402
from engine.temporal import DATA_CONVERTER, SearchAttribute  # noqa: E402
from worker import build_worker  # noqa: E402
from zoom_emulator import EmulatorServer  # noqa: E402

HISTORIES = Path(__file__).resolve().parent / "histories"
CODEC_HISTORIES = HISTORIES / "codec"
#: A key for the recorded, encrypted histories only (it protects nothing else).
CODEC_TEST_KEY = CODEC_HISTORIES / "payload-test-key"
TASK_QUEUE = "replay-recording"
#: Scenario groups, selectable with ``--only``: the enrollment interpreter, the Zoom saga, the sync.
GROUPS = ("enrollment", "saga", "quick", "sync")

STEPS = """
key: every-step
name: Every step type
enrollment:
  triggers: [{type: api}]
steps:
  - id: tag
    type: set_property
    property: stage
    value: "lead-{{ contact.first_name }}"
  - id: pause
    type: delay
    for: 1s
  - id: route
    type: branch
    cases:
      - if: {type: condition, field: properties.stage, op: eq, value: "lead-Replay"}
        then: notify
    else: done
  - id: notify
    type: webhook
    url: "RECEIVER/hook"
    body: {email: "{{ contact.email }}", tagged: "{{ steps.tag.value }}"}
  - id: after_notify
    type: branch
    cases:
      - if: {outcome_of: notify, is: DELIVERED}
        then: follow
    else: done
  - id: follow
    type: enroll
    workflow: follow-up
  - id: done
    type: end
"""

FOLLOW = """
key: follow-up
name: Follow-up
enrollment:
  triggers: [{type: api}]
steps:
  - id: mark
    type: set_property
    property: followed
    value: true
"""

ON_ERROR = """
key: on-error-MODE_KEY
name: On error MODE_KEY
enrollment:
  triggers: [{type: api}]
steps:
  - id: call
    type: webhook
    url: "RECEIVER/fails"
    retry: {max_attempts: 2, initial_interval: 1s}
    on_error: MODE
  - id: next_step
    type: set_property
    property: reached
    value: next
  - id: jumped
    type: end
"""

#: #13.5: a set_property template that cannot be rendered is a step failure ``on_error`` handles
#: (``local-step-failures``; the delay's outcome travels with it); before that change it failed the run.
RENDER_ERROR = """
key: render-error
name: A template that cannot be rendered
enrollment:
  triggers: [{type: api}]
steps:
  - id: pause
    type: delay
    for: 1s
  - id: copy_company
    type: set_property
    property: company_copy
    value: "{{ contact.properties.company }}"
    on_error: continue
  - id: next_step
    type: set_property
    property: reached
    value: next
"""

EXITS = """
key: exits
name: Goal and unenroll
enrollment:
  triggers: [{type: api}]
  goal: {type: condition, field: properties.customer, op: eq, value: true}
steps:
  - id: first
    type: set_property
    property: step
    value: first
  - id: wait
    type: delay
    for: DELAY
  - id: second
    type: set_property
    property: step
    value: second
"""


def serve_webhooks() -> str:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            status = 503 if self.path == "/fails" else 200
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


async def record_enrollments(client: Client, db_engine: Engine, receiver: str) -> dict[str, str]:
    texts = {
        "every-step": STEPS.replace("RECEIVER", receiver),
        "follow-up": FOLLOW,
        "exits-goal": EXITS.replace("DELAY", "2s").replace("key: exits", "key: exits-goal"),
        "exits-unenroll": EXITS.replace("DELAY", "30d").replace("key: exits", "key: exits-unenroll"),
        "render-error": RENDER_ERROR,
    }
    for mode, name in (("fail", "fail"), ("continue", "continue"), ("{goto: jumped}", "goto")):
        texts[f"on-error-{name}"] = (
            ON_ERROR.replace("MODE_KEY", name).replace("MODE", mode).replace("RECEIVER", receiver)
        )
    with Session(db_engine) as session:
        for key, text in texts.items():
            put_definition_text(session, key, text)
        contact = create_contact(session, email="replay@example.com", first_name="Replay", last_name="Test")
        session.commit()
        contact_id = contact.id
    assert contact_id is not None
    service = EnrollmentService(db_engine, client, task_queue=TASK_QUEUE)
    scenarios: dict[str, str] = {}
    for key in ("every-step", "on-error-fail", "on-error-continue", "on-error-goto", "render-error"):
        started = await service.enroll(key, ContactIn(contact_id=contact_id))
        # Before ``local-step-failures`` the render error failed the run: record that too.
        with contextlib.suppress(WorkflowFailureError):
            await client.get_workflow_handle(started.workflow_id).result()
        scenarios[key] = started.workflow_id
    started = await service.enroll("exits-goal", ContactIn(contact_id=contact_id))
    await asyncio.sleep(0.5)
    with Session(db_engine) as session:
        update_contact(session, contact_id, properties={"customer": True})
        session.commit()
    await client.get_workflow_handle(started.workflow_id).result()
    scenarios["exits-goal"] = started.workflow_id
    with Session(db_engine) as session:
        update_contact(session, contact_id, properties={"customer": None})
        session.commit()
    started = await service.enroll("exits-unenroll", ContactIn(contact_id=contact_id))
    await asyncio.sleep(1)
    await service.unenroll("exits-unenroll", contact_id)
    scenarios["exits-unenroll"] = started.workflow_id
    return scenarios


async def record(
    client: Client, db_engine: Engine, zoom: EmulatorServer, groups: frozenset[str]
) -> dict[str, str | tuple[str, str]]:
    """Run the scenarios of ``groups`` on a worker of this process: {history name: workflow id, or
    (workflow id, run id) for one run of a workflow that continued as new}."""
    scenarios: dict[str, str | tuple[str, str]] = {}
    receiver = serve_webhooks()
    if groups & {"saga", "quick", "sync"}:
        zoom_scenarios.prepare_store(db_engine)
    # The saga's scenarios want a saga run for every registration: the quick path is off there.
    for quick_path in (False, True):
        # Webhooks reach the loopback receiver only when allowed (#12.3).
        settings = Settings(
            database_url="sqlite://",
            webhook_allow=[receiver.removeprefix("http://")],
            registration_quick_path=quick_path,
        )
        with ThreadPoolExecutor(8) as executor:
            worker = build_worker(
                client,
                db_engine,
                task_queue=TASK_QUEUE,
                executor=executor,
                settings=settings,
                zoom_settings=zoom_scenarios.zoom_settings(zoom),
            )
            async with worker:
                if quick_path and "quick" in groups:
                    scenarios |= await zoom_scenarios.record_quick_registrations(client, db_engine, TASK_QUEUE)
                    continue
                if quick_path:
                    continue
                if "enrollment" in groups:
                    scenarios |= await record_enrollments(client, db_engine, receiver)
                if "saga" in groups:
                    scenarios |= await zoom_scenarios.record_sagas(client, db_engine, TASK_QUEUE)
                if "sync" in groups:
                    scenarios |= await zoom_scenarios.record_syncs(client, zoom.base_url, TASK_QUEUE)
    return scenarios


async def main(tag: str | None = None, groups: frozenset[str] = frozenset(GROUPS), codec: bool = False) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="rollcall-replay-"))
    db_engine = create_db_engine(f"sqlite:///{workdir / 'store.db'}")
    upgrade_database(db_engine)
    converter = data_converter_with(DATA_CONVERTER, read_key_file(CODEC_TEST_KEY)) if codec else DATA_CONVERTER
    folder = CODEC_HISTORIES if codec else HISTORIES
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(installed_binary("temporal")),
        search_attributes=list(SearchAttribute.ALL),
        data_converter=converter,
    )
    try:
        with EmulatorServer(zoom_scenarios.seed()) as zoom:
            scenarios = await record(env.client, db_engine, zoom, groups)
        folder.mkdir(exist_ok=True)
        for name, run in scenarios.items():
            workflow_id, run_id = run if isinstance(run, tuple) else (run, None)
            history = await env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
            stem = f"{name}@{tag}" if tag else name
            (folder / f"{stem}.json").write_text(history.to_json() + "\n")
            print(f"recorded {name}: {len(history.events)} events")
    finally:
        await env.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Record the replay histories (tests/replay/histories).")
    parser.add_argument("--tag", help="the workflow.patched id of the change: files are <scenario>@<tag>.json")
    parser.add_argument(
        "--only",
        default=",".join(GROUPS),
        help=f"comma-separated groups to record, of {', '.join(GROUPS)} (default: all)",
    )
    parser.add_argument("--codec", action="store_true", help="encrypt payloads with the test key (histories/codec/)")
    arguments = parser.parse_args()
    groups = {group.strip() for group in arguments.only.split(",") if group.strip()}
    if not groups or groups - set(GROUPS):
        parser.error(f"--only takes groups among {', '.join(GROUPS)}")
    arguments.groups = frozenset(groups)
    return arguments


if __name__ == "__main__":
    options = _arguments()
    asyncio.run(main(options.tag, options.groups, options.codec))
    sys.stdout.flush()
    os._exit(0)  # docs/temporal.md, "SDK exit"
