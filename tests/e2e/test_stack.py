"""End to end through real processes: API → Temporal → worker → store, and `rollcall up` itself."""

from __future__ import annotations

from typing import Any

import httpx
from support.rollcall import RunningStack
from support.waiting import eventually
from temporalio.client import Client, WorkflowExecution

from engine.temporal import SearchAttribute


async def test_system_check_runs_through_api_worker_and_store(stack: RunningStack, temporal_client: Client) -> None:
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    async with httpx.AsyncClient(base_url=stack.api_url, headers=headers) as api:
        started = await api.post("/v1/system/checks")
        assert started.status_code == 202
        workflow_id = started.json()["workflow_id"]
        assert workflow_id.startswith("system-check:")

        async def completed() -> dict[str, Any] | None:
            body: dict[str, Any] = (await api.get(f"/v1/system/checks/{workflow_id}")).json()
            return body if body["status"] == "completed" else None

        body = await eventually(completed, "the system check to complete", within=30, every=0.3)
    assert body is not None
    expected_backend = "sqlite" if stack.database_url.startswith("sqlite") else "postgresql"
    assert body["result"]["store"] == {"backend": expected_backend, "revision": body["result"]["store"]["revision"]}
    assert body["result"]["store"]["revision"] is not None
    assert body["result"]["worker_task_queue"] == "rollcall"

    # Visibility is eventually consistent: wait for the run to be listed with its attributes.
    query = f'WorkflowId = "{workflow_id}" AND RollcallWorkflowKey = "system-check" AND RollcallStatus = "completed"'

    async def listed() -> list[WorkflowExecution]:
        return [execution async for execution in temporal_client.list_workflows(query)]

    executions = await eventually(listed, "the run listed with its attributes", within=30, every=0.3)
    assert [execution.id for execution in executions] == [workflow_id]
    attributes = executions[0].typed_search_attributes
    assert attributes[SearchAttribute.TRIGGER] == "api"
    assert attributes[SearchAttribute.STATUS] == "completed"
