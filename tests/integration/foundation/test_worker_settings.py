"""The worker's capacity settings (README "Running at scale") reach the SDK worker ``rollcall
worker`` builds: concurrency, cache and polls."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum

from engine.config import Settings
from engine.crm.db import create_db_engine
from worker import build_worker


async def test_capacity_settings_reach_the_sdk_worker(
    temporal_client: Client, task_queue: str, activity_executor: ThreadPoolExecutor
) -> None:
    settings = Settings(
        _env_file=None,
        worker_max_concurrent_activities=7,
        worker_max_concurrent_workflow_tasks=9,
        worker_max_cached_workflows=11,
        worker_max_workflow_task_polls=6,
        worker_max_activity_task_polls=3,
    )
    engine = create_db_engine("sqlite://")
    try:
        worker = build_worker(
            temporal_client, engine, task_queue=task_queue, executor=activity_executor, settings=settings
        )
        config = worker.config(active_config=True)
    finally:
        engine.dispose()
    assert config.get("max_concurrent_activities") == 7
    assert config.get("max_concurrent_workflow_tasks") == 9
    assert config.get("max_cached_workflows") == 11
    assert config.get("workflow_task_poller_behavior") == PollerBehaviorSimpleMaximum(6)
    assert config.get("activity_task_poller_behavior") == PollerBehaviorSimpleMaximum(3)


async def test_without_settings_a_worker_keeps_the_defaults(
    temporal_client: Client, task_queue: str, activity_executor: ThreadPoolExecutor
) -> None:
    engine = create_db_engine("sqlite://")
    try:
        worker = build_worker(temporal_client, engine, task_queue=task_queue, executor=activity_executor)
        config = worker.config(active_config=True)
    finally:
        engine.dispose()
    assert config.get("max_concurrent_activities") == 32
    assert config.get("max_concurrent_workflow_tasks") == 100
    assert config.get("workflow_task_poller_behavior") == PollerBehaviorSimpleMaximum(5)
