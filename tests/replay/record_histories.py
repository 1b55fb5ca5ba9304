"""Record the enrollment histories the replay test checks (run after a deliberate interpreter change).

    .venv/bin/python tests/replay/record_histories.py [--tag CHANGE_ID]

With ``--tag`` the files are ``histories/<scenario>@<CHANGE_ID>.json``: record a new set under
the ``workflow.patched`` id of each interpreter change and keep the older sets, so both the old
and the new paths stay guarded.

Runs each scenario below on a fresh dev server (installed binary) with a SQLite store and a real
webhook endpoint on loopback, and writes ``histories/<scenario>.json``. Together they cover every
step type the interpreter runs, each ``on_error`` mode, branches on outcomes and on segments, the
goal exit and an unenroll mid-delay. Commit the files: ``test_replay.py`` replays them against
the current code, so a change that is not behind ``workflow.patched`` fails there.
"""

from __future__ import annotations

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

from sqlmodel import Session  # noqa: E402
from temporalio.client import WorkflowFailureError  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from engine.config import Settings  # noqa: E402
from engine.crm.contacts import create_contact, update_contact  # noqa: E402
from engine.crm.db import create_db_engine, upgrade_database  # noqa: E402
from engine.enrollment.definitions import put_definition_text  # noqa: E402
from engine.enrollment.service import ContactIn, EnrollmentService  # noqa: E402
from engine.supervisor import installed_binary  # noqa: E402
from engine.temporal import DATA_CONVERTER, SearchAttribute  # noqa: E402
from worker import build_worker  # noqa: E402

HISTORIES = Path(__file__).resolve().parent / "histories"
TASK_QUEUE = "replay-recording"

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


async def main(tag: str | None = None) -> None:
    receiver = serve_webhooks()
    workdir = Path(tempfile.mkdtemp(prefix="rollcall-replay-"))
    db_engine = create_db_engine(f"sqlite:///{workdir / 'store.db'}")
    upgrade_database(db_engine)
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
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(installed_binary("temporal")),
        search_attributes=list(SearchAttribute.ALL),
        data_converter=DATA_CONVERTER,
    )
    try:
        service = EnrollmentService(db_engine, env.client, task_queue=TASK_QUEUE)
        with ThreadPoolExecutor(8) as executor:
            # Webhooks reach the loopback receiver only when allowed (#12.3).
            settings = Settings(database_url="sqlite://", webhook_allow=[receiver.removeprefix("http://")])
            async with build_worker(env.client, db_engine, task_queue=TASK_QUEUE, executor=executor, settings=settings):
                scenarios: dict[str, str] = {}
                for key in ("every-step", "on-error-fail", "on-error-continue", "on-error-goto", "render-error"):
                    started = await service.enroll(key, ContactIn(contact_id=contact_id))
                    # Before ``local-step-failures`` the render error failed the run: record that too.
                    with contextlib.suppress(WorkflowFailureError):
                        await env.client.get_workflow_handle(started.workflow_id).result()
                    scenarios[key] = started.workflow_id
                started = await service.enroll("exits-goal", ContactIn(contact_id=contact_id))
                await asyncio.sleep(0.5)
                with Session(db_engine) as session:
                    update_contact(session, contact_id, properties={"customer": True})
                    session.commit()
                await env.client.get_workflow_handle(started.workflow_id).result()
                scenarios["exits-goal"] = started.workflow_id
                with Session(db_engine) as session:
                    update_contact(session, contact_id, properties={"customer": None})
                    session.commit()
                started = await service.enroll("exits-unenroll", ContactIn(contact_id=contact_id))
                await asyncio.sleep(1)
                await service.unenroll("exits-unenroll", contact_id)
                scenarios["exits-unenroll"] = started.workflow_id
                HISTORIES.mkdir(exist_ok=True)
                for name, workflow_id in scenarios.items():
                    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
                    stem = f"{name}@{tag}" if tag else name
                    (HISTORIES / f"{stem}.json").write_text(history.to_json() + "\n")
                    print(f"recorded {name}: {len(history.events)} events")
    finally:
        await env.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    asyncio.run(main(arguments[1] if arguments[:1] == ["--tag"] and len(arguments) == 2 else None))
    sys.stdout.flush()
    os._exit(0)  # temporal-notes, pitfall 1
