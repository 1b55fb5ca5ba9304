"""The reconciliation Schedule: created (or updated) by every worker at start, idempotently."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from engine.sync.contracts import RECONCILE_SCHEDULE_ID, RECONCILE_WORKFLOW_TYPE, ReconcileRequest
from engine.temporal import ensure_schedule


def reconcile_schedule(task_queue: str, interval: timedelta) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RECONCILE_WORKFLOW_TYPE, ReconcileRequest(), id=f"{RECONCILE_SCHEDULE_ID}-run", task_queue=task_queue
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=interval)]),
        # A slow pass is never doubled up: the next one waits for it.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_reconcile_schedule(client: Client, task_queue: str, interval: timedelta) -> str:
    """Create the schedule, or bring an existing one to this interval and task queue."""
    return await ensure_schedule(client, RECONCILE_SCHEDULE_ID, reconcile_schedule(task_queue, interval))
