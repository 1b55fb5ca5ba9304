"""Crash test of the "Add Contact to Zoom Webinar" action: ``rollcall worker`` (a real process) is
SIGKILLed right after Zoom accepted the registration and before the CRM store write; a restarted
worker finishes the run with exactly one registrant in Zoom and one participation in the store."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from integration.zoom.zoom_world import MAIN, W_OPEN
from sqlalchemy import Engine
from sqlmodel import Session
from support.rollcall import RollcallProcess
from support.zoom import emulator_connection
from temporalio.client import Client

from engine.crm.accounts import create_zoom_connection
from engine.crm.contacts import create_contact
from engine.crm.tables import Participation, table_of
from engine.dsl.models import StepRetry
from engine.dsl.outcomes import StepOutcomeCode
from engine.failpoints import ENV_VARIABLE as FAILPOINTS_VARIABLE
from engine.temporal import TaskQueue
from workflows.add_to_webinar import (
    AddContactToWebinarWorkflow,
    AddToWebinarInput,
    add_to_webinar_summary,
    add_to_webinar_workflow_id,
)
from zoom_emulator import EmulatorAdmin, EmulatorServer

EMAIL = "crash@customers.example"


def _participations(engine: Engine, contact_id: int) -> int:
    with Session(engine) as session:
        query = sa.select(sa.func.count()).where(table_of(Participation).c.contact_id == contact_id)
        return int(session.execute(query).scalar_one())


@pytest.mark.timeout(180)
# long: a crash scenario in order: the killed worker, what Zoom and the store hold, the recovery
async def test_worker_killed_after_zoom_accepted_recovers_with_one_registrant_and_one_participation(
    temporal_client: Client,
    database_url: str,
    db_engine: Engine,
    emulator_server: EmulatorServer,
    admin: EmulatorAdmin,
    tmp_path: Path,
    worker_processes: list[RollcallProcess],
) -> None:
    with Session(db_engine) as session:
        create_zoom_connection(
            session,
            business_unit_id=1,
            name="account",
            zoom_account_id=MAIN,
            connected_by_email="connector@rollcall.example",
            credentials_ref="env:ZOOM_ACCOUNT",
        )
        contact = create_contact(session, email=EMAIL, first_name="Crash", last_name="Test")
        session.commit()
        assert contact.id is not None
        contact_id = contact.id
    connection = emulator_connection(emulator_server, MAIN, name="account").model_dump(mode="json")
    connection["client_secret"] = emulator_server.emulator.state.accounts[MAIN].client_secret
    env = {
        "ROLLCALL_TEMPORAL_ADDRESS": temporal_client.service_client.config.target_host,
        "ROLLCALL_DATABASE_URL": database_url,
        "ROLLCALL_ZOOM_CONNECTIONS": json.dumps([connection]),
        "ROLLCALL_LOG_FORMAT": "json",
    }
    log = tmp_path / "worker.log"

    # The first worker dies (SIGKILL) inside the register activity, after Zoom's 201.
    worker_processes.append(
        RollcallProcess(
            "worker", {**env, FAILPOINTS_VARIABLE: "zoom_registration.after_add_registrant=kill"}, cwd=tmp_path, log=log
        )
    )
    handle = await temporal_client.start_workflow(
        AddContactToWebinarWorkflow.run,
        AddToWebinarInput(contact_id=contact_id, webinar_id=str(W_OPEN), retry=StepRetry()),
        id=f"{add_to_webinar_workflow_id(str(W_OPEN), contact_id)}:{uuid.uuid4().hex[:8]}",
        task_queue=TaskQueue.MAIN,
        static_summary=add_to_webinar_summary(str(W_OPEN), contact_id),
    )
    try:
        returncode = worker_processes[0].wait_for_exit(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker was not killed by the failpoint; its log:\n{log.read_text()}")
    assert returncode == -signal.SIGKILL, log.read_text()

    # Zoom has the registrant, the store has nothing yet.
    registrants = [r for r in await admin.registrants(W_OPEN) if r["email"] == EMAIL]
    assert len(registrants) == 1
    assert _participations(db_engine, contact_id) == 0

    # A new worker (no failpoint) picks the run up: the activity times out, is retried, Zoom answers
    # the same email with the same registrant, and the store records it once.
    started = time.monotonic()
    worker_processes.append(RollcallProcess("worker", env, cwd=tmp_path, log=log))
    result = await handle.result()
    assert result.code == StepOutcomeCode.REGISTERED, log.read_text()
    assert result.registrant_id == registrants[0]["id"]
    assert [r for r in await admin.registrants(W_OPEN) if r["email"] == EMAIL] == registrants
    assert (await admin.stats())["requests"]["add_registrant"] == 2
    assert _participations(db_engine, contact_id) == 1
    assert time.monotonic() - started < 90
