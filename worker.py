"""The Rollcall worker: runs every workflow and activity on Rollcall's task queue."""

from __future__ import annotations

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import timedelta

import structlog
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum, UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.enrollment import EnrollmentActivities
from activities.enrollment_repair import EnrollmentRepairActivities
from activities.reconcile import ReconcileActivities
from activities.registration_step import RegistrationStepActivities
from activities.system import SystemActivities
from activities.webinar_sync import WebinarSyncActivities
from activities.zoom_registration import WEBINAR_CACHE_TTL, ZoomRegistrationActivities
from engine.config import Settings
from engine.crm.zoom_rate_budgets import StoreRateBudgets
from engine.enrollment.context import Secrets
from engine.enrollment.egress import EgressPolicy, check_webhook_settings
from engine.enrollment.repair import ensure_repair_schedule
from engine.enrollment.service import EnrollmentService
from engine.known_secrets import api_key_values
from engine.metrics import serve_worker_metrics
from engine.ports import free_loopback_port
from engine.sync.schedule import ensure_reconcile_schedule
from engine.temporal import TaskQueue, connect, prometheus_runtime, register_search_attributes
from engine.zoom.pool import ZoomClientPool
from engine.zoom.settings import ZoomSettings
from workflows.add_to_webinar import AddContactToWebinarWorkflow
from workflows.enrollment import EnrollmentWorkflow
from workflows.enrollment_repair import RepairEnrollmentsWorkflow
from workflows.reconcile import ReconcileWebinarsWorkflow
from workflows.system_check import SystemCheckWorkflow
from workflows.webinar_sync import WebinarSyncWorkflow

log = structlog.get_logger("rollcall.worker")

WORKFLOWS: list[type] = [
    SystemCheckWorkflow,
    EnrollmentWorkflow,
    AddContactToWebinarWorkflow,
    WebinarSyncWorkflow,
    ReconcileWebinarsWorkflow,
    RepairEnrollmentsWorkflow,
]


def build_worker(
    client: Client,
    db_engine: Engine,
    *,
    task_queue: str = TaskQueue.MAIN,
    executor: ThreadPoolExecutor,
    settings: Settings | None = None,
    zoom_settings: ZoomSettings | None = None,
) -> Worker:
    """The one place that decides what a Rollcall worker runs; the tests build theirs here too."""
    system = SystemActivities(db_engine)
    # Zoom settings default to the environment's, read when a Zoom activity first runs.
    # One Zoom client per connection for the whole worker: the action and the sync share each
    # account's rate limiter, itself shared with every worker through the CRM store (#16.2).
    pool = ZoomClientPool(zoom_settings, budgets=StoreRateBudgets(db_engine))
    settings = settings or Settings()
    zoom_registration = ZoomRegistrationActivities(
        db_engine, pool=pool, webinar_cache_ttl=WEBINAR_CACHE_TTL, quick_path=settings.registration_quick_path
    )
    # One enrollment service for the worker: `enroll` steps, event triggers and the repair enroll
    # and start runs on this client and task queue (concurrent admissions commit together).
    enrollments = EnrollmentService(db_engine, client, task_queue=task_queue)
    enrollment = _enrollment_activities(db_engine, enrollments, settings)
    registration_step = RegistrationStepActivities(enrollment, zoom_registration)
    sync = WebinarSyncActivities(db_engine, pool, enrollments=enrollments)
    reconcile = ReconcileActivities(db_engine, pool, task_queue=task_queue)
    repair = EnrollmentRepairActivities(enrollments)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(settings),
        activities=[
            system.check_store,
            *enrollment.all(),
            *zoom_registration.activities(),
            *registration_step.all(),
            *sync.all(),
            reconcile.reconcile_webinars,
            repair.repair_enrollments,
        ],
        # Synchronous activities (database work) run here, off the event loop: the executor has
        # ``worker_max_concurrent_activities`` threads (``run_worker``).
        activity_executor=executor,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        max_cached_workflows=settings.worker_max_cached_workflows,
        workflow_task_poller_behavior=PollerBehaviorSimpleMaximum(settings.worker_max_workflow_task_polls),
        activity_task_poller_behavior=PollerBehaviorSimpleMaximum(settings.worker_max_activity_task_polls),
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


def workflow_runner(settings: Settings) -> WorkflowRunner:
    """The sandbox (``ROLLCALL_WORKFLOW_SANDBOX``, on by default) restricts what workflow code may
    call (time, I/O, randomness), with modules imported once, not again for every run: a third of
    the worker's CPU per enrollment (bench/enroll.py). Rollcall's workflow modules keep no mutable
    module state, which is what makes this safe; the replay tests guard the determinism. Off, no
    sandbox at all: the sandbox's own per-payload work goes too (bench/add_to_webinar.py)."""
    if not settings.workflow_sandbox:
        return UnsandboxedWorkflowRunner()
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_all_modules())


def _enrollment_activities(
    db_engine: Engine, enrollments: EnrollmentService, settings: Settings
) -> EnrollmentActivities:
    """Webhooks read the secrets of ``settings``, never store them or the API keys (#12.2), and
    connect where the egress policy allows (#12.3)."""
    api_keys = api_key_values(settings)  # name:role:key entries and the keys file: the keys themselves
    return EnrollmentActivities(
        db_engine,
        enrollments,
        secrets=Secrets(settings.secrets_file, hidden=api_keys),
        egress=EgressPolicy.from_setting(settings.webhook_allow),
    )


async def run_worker(settings: Settings, db_engine: Engine) -> None:
    check_webhook_settings(settings)
    # #17.1: the SDK's metrics on a private loopback port, served with Rollcall's on the worker's port.
    metrics_port = settings.worker_metrics_port or 0
    runtime, sdk_metrics_url = None, None
    if metrics_port:
        sdk_port = free_loopback_port()
        runtime = prometheus_runtime(f"127.0.0.1:{sdk_port}")
        sdk_metrics_url = f"http://127.0.0.1:{sdk_port}/metrics"
    client = await connect(settings, runtime=runtime)
    added = await register_search_attributes(client)
    if added:
        log.info("registered search attributes", names=added)
    if settings.sync_reconcile_minutes:
        interval = timedelta(minutes=settings.sync_reconcile_minutes)
        outcome = await ensure_reconcile_schedule(client, settings.temporal_task_queue, interval)
        log.info("reconciliation schedule " + outcome, every_minutes=settings.sync_reconcile_minutes)
    if settings.enrollment_repair_minutes:
        interval = timedelta(minutes=settings.enrollment_repair_minutes)
        outcome = await ensure_repair_schedule(client, settings.temporal_task_queue, interval)
        log.info("enrollment repair schedule " + outcome, every_minutes=settings.enrollment_repair_minutes)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    with (
        serve_worker_metrics(settings.worker_metrics_host, metrics_port, sdk_metrics_url=sdk_metrics_url)
        if metrics_port
        else nullcontext(),
        ThreadPoolExecutor(
            max_workers=settings.worker_max_concurrent_activities, thread_name_prefix="activity"
        ) as executor,
    ):
        worker = build_worker(
            client, db_engine, task_queue=settings.temporal_task_queue, executor=executor, settings=settings
        )
        log.info("worker started", task_queue=settings.temporal_task_queue, temporal=settings.temporal_target)
        async with worker:
            await stop.wait()
            log.info("worker stopping: finishing running activities")
    log.info("worker stopped")
