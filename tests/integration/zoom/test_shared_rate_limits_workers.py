"""#16.2's acceptance: three ``rollcall worker`` processes register 600 contacts into one webinar on
the emulator with its rate limits on. The account's Light limit is set to 15 calls a second (as
Zoom may set an account's limits; the connection says so in ``rate_limits``), below what three
workers ask for on this machine: each worker alone would pace at 12 a second (80 %), together three
times that. Taking turns through the CRM store, they get not one per-second 429, and every
registration completes: REGISTERED in the store, one registrant per contact in Zoom."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from integration.zoom.zoom_world import NOW
from sqlalchemy import Engine
from sqlmodel import Session
from support.rollcall import RollcallProcess
from support.zoom import emulator_connection
from temporalio.client import Client, WorkflowHandle

from engine.crm.accounts import create_zoom_connection
from engine.crm.contacts import ContactUpsert, upsert_contacts
from engine.crm.tables import Participation, ParticipationState, table_of
from engine.dsl.models import StepRetry
from engine.dsl.outcomes import StepOutcomeCode
from workflows.add_to_webinar import (
    AddContactToWebinarWorkflow,
    AddToWebinarInput,
    AddToWebinarResult,
    add_to_webinar_workflow_id,
)
from zoom_emulator import EmulatorAdmin, EmulatorServer, SeedDocument
from zoom_emulator.core.seeds import AccountSeed, UserSeed, WebinarSeed

Registration = WorkflowHandle[AddContactToWebinarWorkflow, AddToWebinarResult]
PRO = "acct-pro"
WEBINAR = 93000000001
CONTACTS = 600
WORKERS = 3
#: The account's Light calls per second (the emulator's limit and the connection's ``rate_limits``).
LIGHT_LIMIT = 15
#: A deployment at scale keeps its store in PostgreSQL: the test runs there when it is configured,
#: else on SQLite (``test_shared_rate_limits.py`` runs the shared budgets on both).
BACKEND = "postgresql" if os.environ.get("ROLLCALL_TEST_POSTGRES_URL") else "sqlite"
#: Workflow starts in flight at once (the test's own client).
STARTS_AT_ONCE = 50


def _pro_world() -> SeedDocument:
    return SeedDocument(
        accounts=[
            AccountSeed(
                id=PRO,
                plan="pro",
                rate_limits={"Light": LIGHT_LIMIT},
                client_id="pro-client",
                client_secret="pro-secret",
                users=[UserSeed(id="u-pro", email="host@pro.example")],
                webinars=[
                    WebinarSeed(id=WEBINAR, host_id="u-pro", topic="At scale", start_time=NOW + timedelta(days=7))
                ],
            )
        ]
    )


def _store(db_engine: Engine) -> list[int]:
    with Session(db_engine) as session:
        create_zoom_connection(
            session,
            business_unit_id=1,
            name="pro",
            zoom_account_id=PRO,
            connected_by_email="connector@rollcall.example",
            credentials_ref="env:ZOOM_PRO",
        )
        people = [ContactUpsert(f"scale{n}@customers.example", "Scale", str(n)) for n in range(CONTACTS)]
        contacts = upsert_contacts(session, people)
        session.commit()
        return sorted(contacts.ids.values())


async def _register_all(client: Client, task_queue: str, contact_ids: list[int]) -> list[Registration]:
    gate = asyncio.Semaphore(STARTS_AT_ONCE)
    batch = uuid.uuid4().hex[:8]

    async def start(contact_id: int) -> Registration:
        async with gate:
            return await client.start_workflow(
                AddContactToWebinarWorkflow.run,
                AddToWebinarInput(contact_id=contact_id, webinar_id=str(WEBINAR), retry=StepRetry()),
                id=f"{add_to_webinar_workflow_id(str(WEBINAR), contact_id)}:{batch}",
                task_queue=task_queue,
            )

    return await asyncio.gather(*(start(contact_id) for contact_id in contact_ids))


def _registered(db_engine: Engine) -> dict[str, int]:
    participations = table_of(Participation)
    with Session(db_engine) as session:
        query = sa.select(participations.c.state, sa.func.count()).group_by(participations.c.state)
        return {str(state): int(count) for state, count in session.execute(query).all()}


async def _wait_for_registrations(db_engine: Engine) -> float:
    """Until the store holds every registration (read from the store: 600 result long-polls would
    load the Temporal server the workers need); the seconds from the first one to the last."""
    first = None
    while (done := _registered(db_engine).get(ParticipationState.REGISTERED.value, 0)) < CONTACTS:
        if done and first is None:
            first = time.monotonic()
        await asyncio.sleep(0.25)
    return time.monotonic() - (first or time.monotonic())


@pytest.mark.heavy
@pytest.mark.timeout(300)
@pytest.mark.parametrize("database_url", [BACKEND], indirect=True)
async def test_three_workers_register_600_contacts_without_a_per_second_429(
    temporal_client: Client,
    task_queue: str,
    database_url: str,
    db_engine: Engine,
    emulator_server: EmulatorServer,
    admin: EmulatorAdmin,
    tmp_path: Path,
    worker_processes: list[RollcallProcess],
) -> None:
    await admin.seed(_pro_world())
    await admin.set_clock(NOW, frozen=False)  # Zoom's per-second windows move with real time
    contact_ids = _store(db_engine)
    connection = emulator_connection(emulator_server, PRO, name="pro").model_dump(mode="json")
    connection["client_secret"] = "pro-secret"
    connection["rate_limits"] = {"light": LIGHT_LIMIT}
    env = {
        "ROLLCALL_TEMPORAL_ADDRESS": temporal_client.service_client.config.target_host,
        "ROLLCALL_TEMPORAL_TASK_QUEUE": task_queue,
        "ROLLCALL_DATABASE_URL": database_url,
        "ROLLCALL_ZOOM_CONNECTIONS": json.dumps([connection]),
        "ROLLCALL_LOG_FORMAT": "json",
        "ROLLCALL_SYNC_RECONCILE_MINUTES": "0",
        "ROLLCALL_ENROLLMENT_REPAIR_MINUTES": "0",
    }
    log = tmp_path / "workers.log"
    for _ in range(WORKERS):
        worker_processes.append(RollcallProcess("worker", env, cwd=tmp_path, log=log))
    try:
        started = time.monotonic()
        handles = await _register_all(temporal_client, task_queue, contact_ids)
        async with asyncio.timeout(240):
            registering = await _wait_for_registrations(db_engine)
        elapsed = time.monotonic() - started
        results = await asyncio.gather(*(handle.result() for handle in handles))
    finally:
        for worker in worker_processes:  # all stop at once (each has a graceful shutdown of up to 10 s)
            worker.process.send_signal(signal.SIGTERM)

    light = (await admin.stats())["rate_limits"][PRO]["Light"]
    print(
        f"{CONTACTS} registrations by {WORKERS} workers: {elapsed:.1f} s from the start, {registering:.1f} s "
        f"from the first registration; emulator Light: {light}"
    )
    assert light.get("QPS", 0) == 0, log.read_text()[-5000:]
    assert light["peak_per_second"] <= LIGHT_LIMIT
    assert {result.code for result in results} == {StepOutcomeCode.REGISTERED}
    registrants = await admin.registrants(WEBINAR)
    emails = sorted(registrant["email"] for registrant in registrants)
    assert emails == sorted(f"scale{n}@customers.example" for n in range(CONTACTS))
    assert _registered(db_engine) == {ParticipationState.REGISTERED.value: CONTACTS}
