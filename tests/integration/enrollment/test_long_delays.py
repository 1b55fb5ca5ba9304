"""Delays of days on Temporal's time-skipping test server: durable timers, ``until`` read from a
contact property at the moment the delay starts, ``at_time`` in a time zone."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from engine.crm.contacts import create_contact, get_contact
from engine.crm.enrollments import step_history
from engine.enrollment.service import ContactIn, EnrollmentService
from worker import build_worker

if TYPE_CHECKING:
    from integration.enrollment.conftest import Definitions

pytestmark = pytest.mark.timeout(120)

DELAYS = """
key: "{key}"
name: Long delays
enrollment:
  triggers: [{type: api}]
steps:
  - id: two_days
    type: delay
    for: 2d 4h
  - id: stamp
    type: set_property
    property: after_two_days
    value: "yes"
  - id: until_event
    type: delay
    until: "{{ contact.properties.event_at }}"
    offset: 1h
  - id: next_morning
    type: delay
    for: 1m
    at_time: "09:00"
    timezone: Europe/Paris
  - id: done
    type: set_property
    property: done
    value: "yes"
"""


async def test_day_long_delays_run_on_durable_timers(
    time_skipping_env: WorkflowEnvironment,
    db_engine: Engine,
    task_queue: str,
    activity_executor: ThreadPoolExecutor,
    definitions: Definitions,
) -> None:
    client = time_skipping_env.client
    now = await time_skipping_env.get_current_time()
    event_at = (now + timedelta(days=10)).replace(hour=18, minute=30, second=0, microsecond=0)
    definitions.put("delays", DELAYS)
    key = definitions.key("delays")
    with Session(db_engine) as session:
        contact = create_contact(session, email="later@example.com", properties={"event_at": event_at.isoformat()})
        session.commit()
        contact_id = contact.id
    assert contact_id is not None
    service = EnrollmentService(db_engine, client, task_queue=task_queue)
    async with build_worker(client, db_engine, task_queue=task_queue, executor=activity_executor):
        started = await service.enroll(key, ContactIn(contact_id=contact_id))
        handle = client.get_workflow_handle(started.workflow_id, run_id=started.run_id)
        # Only handles made by start_workflow skip time on their own: move the clock by hand.
        for _ in range(40):
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                break
            await time_skipping_env.sleep(timedelta(days=1))
        result = await asyncio.wait_for(handle.result(), timeout=30)

    assert result["status"] == "completed"
    with Session(db_engine) as session:
        rows = step_history(session, started.enrollment_id)
        properties = get_contact(session, contact_id).properties
    assert [(row.step_id, row.outcome) for row in rows] == [
        ("two_days", "COMPLETED"),
        ("stamp", "COMPLETED"),
        ("until_event", "COMPLETED"),
        ("next_morning", "COMPLETED"),
        ("done", "COMPLETED"),
    ]
    until = {row.step_id: datetime.fromisoformat(row.data["until"]) for row in rows if "until" in row.data}
    assert until["two_days"] - now >= timedelta(days=2, hours=4)
    assert until["two_days"] - now < timedelta(days=2, hours=4, minutes=1)
    assert until["until_event"] == event_at + timedelta(hours=1)
    # One minute after 19:30 UTC is evening in Paris: the next 09:00 there is the next day.
    paris = ZoneInfo("Europe/Paris")
    next_day = (event_at + timedelta(hours=1, minutes=1)).astimezone(paris).date() + timedelta(days=1)
    assert until["next_morning"] == datetime.combine(next_day, time(9, 0), tzinfo=paris).astimezone(UTC)
    assert properties["after_two_days"] == "yes" and properties["done"] == "yes"
