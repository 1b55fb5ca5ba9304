"""The reconciliation Schedule: created (or updated) by every worker at start, idempotently."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client, Schedule

from engine.sync.contracts import RECONCILE_SCHEDULE_ID, RECONCILE_WORKFLOW_TYPE, ReconcileRequest
from engine.temporal import ensure_schedule, interval_schedule


def reconcile_schedule(task_queue: str, interval: timedelta) -> Schedule:
    return interval_schedule(
        RECONCILE_WORKFLOW_TYPE,
        ReconcileRequest(),
        run_id=f"{RECONCILE_SCHEDULE_ID}-run",
        task_queue=task_queue,
        every=interval,
    )


async def ensure_reconcile_schedule(client: Client, task_queue: str, interval: timedelta) -> str:
    """Create the schedule, or bring an existing one to this interval and task queue."""
    return await ensure_schedule(client, RECONCILE_SCHEDULE_ID, reconcile_schedule(task_queue, interval))
