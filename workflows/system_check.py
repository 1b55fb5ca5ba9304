"""SystemCheckWorkflow: the smallest real round trip through Rollcall's stack."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import TypedSearchAttributes

with workflow.unsafe.imports_passed_through():
    from activities.system import SystemActivities
    from engine.system import (
        SYSTEM_CHECK_WORKFLOW_TYPE,
        SystemCheckInput,
        SystemCheckResult,
        system_check_search_attributes,
    )
    from engine.temporal import SearchAttribute

__all__ = ["SystemCheckInput", "SystemCheckResult", "SystemCheckWorkflow"]


@workflow.defn(name=SYSTEM_CHECK_WORKFLOW_TYPE)
class SystemCheckWorkflow:
    @staticmethod
    def initial_search_attributes(trigger: str) -> TypedSearchAttributes:
        return system_check_search_attributes(trigger)

    @workflow.run
    async def run(self, params: SystemCheckInput) -> SystemCheckResult:
        workflow.set_current_details("checking the CRM store")
        store = await workflow.execute_activity_method(
            SystemActivities.check_store,
            start_to_close_timeout=timedelta(seconds=30),
            summary="check the CRM store",
        )
        workflow.upsert_search_attributes([SearchAttribute.STATUS.value_set("completed")])
        workflow.set_current_details(f"store ok: {store.backend} at revision {store.revision}")
        return SystemCheckResult(store=store, worker_task_queue=workflow.info().task_queue)
