"""System checks: a round trip API → Temporal → worker → store, to prove a deployment works."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, status
from pydantic import BaseModel
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from engine.api.deps import TemporalDep
from engine.errors import NotFound
from engine.system import (
    SYSTEM_CHECK_ID_PREFIX,
    SYSTEM_CHECK_WORKFLOW_TYPE,
    SystemCheckInput,
    SystemCheckResult,
    system_check_search_attributes,
)
from engine.temporal import TaskQueue

router = APIRouter(prefix="/system/checks", tags=["system"])


class SystemCheckStarted(BaseModel):
    workflow_id: str
    run_id: str


class SystemCheckStatus(BaseModel):
    workflow_id: str
    status: str
    result: SystemCheckResult | None = None


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def start_system_check(client: TemporalDep) -> SystemCheckStarted:
    workflow_id = f"{SYSTEM_CHECK_ID_PREFIX}{uuid.uuid4().hex[:12]}"
    handle = await client.start_workflow(
        SYSTEM_CHECK_WORKFLOW_TYPE,
        SystemCheckInput(trigger="api"),
        id=workflow_id,
        task_queue=TaskQueue.MAIN,
        execution_timeout=timedelta(minutes=5),
        search_attributes=system_check_search_attributes("api"),
        static_summary="system check: API → Temporal → worker → store",
    )
    return SystemCheckStarted(workflow_id=workflow_id, run_id=handle.result_run_id or "")


@router.get("/{workflow_id}")
async def get_system_check(workflow_id: str, client: TemporalDep) -> SystemCheckStatus:
    if not workflow_id.startswith(SYSTEM_CHECK_ID_PREFIX):
        raise NotFound(f"no system check {workflow_id!r}")
    handle = client.get_workflow_handle(workflow_id, result_type=SystemCheckResult)
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(f"no system check {workflow_id!r}") from None
        raise
    run_status = description.status or WorkflowExecutionStatus.RUNNING
    result = None
    if run_status == WorkflowExecutionStatus.COMPLETED:
        result = await handle.result()
    return SystemCheckStatus(workflow_id=workflow_id, status=run_status.name.lower(), result=result)
