"""ReconcileWebinarsWorkflow: run by a Temporal Schedule; starts the syncs of webinars that
changed or ended recently (a safety net under the webhooks)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.reconcile import ReconcileActivities
    from engine.sync.contracts import RECONCILE_SCHEDULE_ID as SCHEDULE_ID
    from engine.sync.contracts import RECONCILE_WORKFLOW_TYPE as WORKFLOW_TYPE
    from engine.sync.contracts import ReconcileRequest, ReconcileResult
    from engine.temporal import OPERATOR_VIEW, housekeeping_attributes
    from workflows.policies import HOUSEKEEPING_RETRY

__all__ = ["SCHEDULE_ID", "WORKFLOW_TYPE", "ReconcileWebinarsWorkflow"]


@workflow.defn(name=WORKFLOW_TYPE)
class ReconcileWebinarsWorkflow:
    @workflow.run
    async def run(self, request: ReconcileRequest) -> ReconcileResult:
        if workflow.patched(OPERATOR_VIEW):
            workflow.upsert_search_attributes(housekeeping_attributes("reconcile-webinars"))
        workflow.set_current_details("listing webinars of the connected Zoom accounts")
        result = await workflow.execute_activity_method(
            ReconcileActivities.reconcile_webinars,
            request,
            start_to_close_timeout=timedelta(minutes=20),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=HOUSEKEEPING_RETRY,
            summary="find webinars to sync and start their syncs",
        )
        workflow.set_current_details(
            f"started {len(result.started)} sync(s); {result.skipped_by_settings} excluded by settings"
        )
        return result
