"""Search attributes are registered idempotently on every kind of server the project uses."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from engine.temporal import SearchAttribute, register_search_attributes
from worker import build_worker
from workflows.system_check import SystemCheckInput, SystemCheckWorkflow


async def test_registering_on_the_dev_server_again_adds_nothing(temporal_env: WorkflowEnvironment) -> None:
    assert await register_search_attributes(temporal_env.client) == []


async def test_time_skipping_server_accepts_rollcall_attributes(time_skipping_env: WorkflowEnvironment) -> None:
    """The fixture registered them already; registering again is success, and a workflow can use them."""
    assert await register_search_attributes(time_skipping_env.client) == []


async def test_system_check_upserts_its_status_on_the_time_skipping_server(
    time_skipping_env: WorkflowEnvironment, db_engine: Engine, task_queue: str, activity_executor: ThreadPoolExecutor
) -> None:
    client = time_skipping_env.client
    async with build_worker(client, db_engine, task_queue=task_queue, executor=activity_executor):
        handle = await client.start_workflow(
            SystemCheckWorkflow.run,
            SystemCheckInput(trigger="test"),
            id=f"system-check:{task_queue}",
            task_queue=task_queue,
            search_attributes=SystemCheckWorkflow.initial_search_attributes("test"),
            execution_timeout=timedelta(seconds=60),
        )
        result = await handle.result()
        description = await handle.describe()
    assert result.worker_task_queue == task_queue
    assert result.store.revision is not None
    assert description.typed_search_attributes[SearchAttribute.STATUS] == "completed"
    assert description.typed_search_attributes[SearchAttribute.TRIGGER] == "test"
