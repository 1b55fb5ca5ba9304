"""#14.3 acceptance: the Temporal Web UI opened at a `rollcall ui` URL (headless Chromium from
Debian's packages, run as a user would: no network beyond loopback) lists the expected runs — a
workflow's failed enrollment and not its completed one. Skipped, saying so, where no Chromium is
installed (`.ci/run` installs it when it can)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlmodel import Session
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from engine.cli.supervisor import installed_binary
from engine.cli.ui import list_query, ui_url
from engine.config import Settings
from engine.crm.contacts import create_contact
from engine.crm.db import create_db_engine, upgrade_database
from engine.enrollment.definitions import put_definition_text
from engine.enrollment.service import ContactIn, EnrollmentService
from engine.temporal import DATA_CONVERTER, SearchAttribute
from worker import build_worker

pytestmark = pytest.mark.timeout(240)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

DEFINITION = """
key: ui-links
name: UI links
enrollment:
  triggers: [{type: api}]
steps:
  - id: route
    type: branch
    cases:
      - if: {type: condition, field: properties.path, op: eq, value: fail}
        then: broken
    else: done
  - id: broken
    type: set_property
    property: copy
    value: "{{ contact.properties.missing_property }}"
  - id: done
    type: end
"""


def _rendered(url: str) -> str:
    """The page's DOM once its scripts have run (the UI fetches the list from its own server)."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        answer = subprocess.run(
            [
                CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--dump-dom", url,
            ],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    return answer.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium): browser test skipped")
async def test_a_rollcall_ui_link_opens_the_list_of_the_expected_runs(tmp_path: Path, unused_port: int) -> None:
    ui_port = unused_port
    db_engine = create_db_engine(f"sqlite:///{tmp_path / 'store.db'}")  # one store is enough here
    upgrade_database(db_engine)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        search_attributes=SearchAttribute.ALL,
        data_converter=DATA_CONVERTER,
        ui=True,
        ui_port=ui_port,
        dev_server_log_level="error",
    )
    try:
        with Session(db_engine) as session:
            put_definition_text(session, "ui-links", DEFINITION)
            ids = []
            for path in ("fail", "straight"):
                contact = create_contact(session, email=f"{path}@ui-links.example", properties={"path": path})
                ids.append(contact.id)
            session.commit()
        settings = Settings(database_url="sqlite://")
        service = EnrollmentService(db_engine, env.client, task_queue="ui-links")
        with ThreadPoolExecutor(4) as executor:
            worker = build_worker(env.client, db_engine, task_queue="ui-links", executor=executor, settings=settings)
            async with worker:
                started = [await service.enroll("ui-links", ContactIn(contact_id=i)) for i in ids]
                for run in started:
                    with contextlib.suppress(WorkflowFailureError):
                        await env.client.get_workflow_handle(run.workflow_id).result()
        failed, completed = (run.workflow_id for run in started)
        query = list_query("ui-links", failed=True)
        for _ in range(100):  # visibility catches up
            if (await env.client.count_workflows(query)).count == 1:
                break
            await asyncio.sleep(0.1)

        page = await asyncio.to_thread(_rendered, ui_url(f"http://127.0.0.1:{ui_port}", "default", query))
        assert failed in page, page[-2000:]
        assert completed not in page
        everything = await asyncio.to_thread(
            _rendered, ui_url(f"http://127.0.0.1:{ui_port}", "default", list_query("ui-links"))
        )
        assert failed in everything and completed in everything
    finally:
        await env.shutdown()
